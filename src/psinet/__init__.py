"""psinet: gradient descent for neural networks in pure NumPy.

All weight gradients of a deep network come from one backward sweep of a term
Ψ = ∂E/∂z (see docs/derivation.md). One module per concept:

* :mod:`psinet.network`: :class:`Network`, weights with the bias as last column;
* :mod:`psinet.activations` and :mod:`psinet.losses`: f, f', E and ∂E/∂ŷ;
* :mod:`psinet.backprop`: the Ψ recursion, :func:`gradients`, :func:`trace`;
* :mod:`psinet.gradcheck`: finite differences, the reference backprop is tested against;
* :func:`check_backprop`: checks a learner's own backprop and names the mistake;
* :mod:`psinet.optimizers`, :mod:`psinet.schedules`: the update rules and learning rates;
* :mod:`psinet.training`: ``fit``, ``evaluate``, callbacks, :class:`History`;
* :mod:`psinet.datasets`, :mod:`psinet.preprocessing`: data, one-hot, splits, scaling;
* :mod:`psinet.io`: save and load; :mod:`psinet.plot`: pictures (needs matplotlib);
* :mod:`psinet.estimators`: scikit-learn classifier and regressor (needs scikit-learn);
* :mod:`psinet.interop`: to and from PyTorch (needs torch), safetensors (NumPy alone).
"""

from . import (
    activations,
    backprop,
    datasets,
    gradcheck,
    io,
    losses,
    optimizers,
    plot,  # matplotlib itself is imported only when a picture is drawn
    preprocessing,
    schedules,
    training,
)
from ._version import __version__
from .activations import register as register_activation
from .backprop import gradients, trace
from .check_backprop import BackpropCheck, check_backprop
from .gradcheck import check_gradients, numerical_gradients
from .io import load
from .layers import Conv2D
from .losses import register as register_loss
from .network import ForwardCache, Network
from .preprocessing import NotFittedError, Standardizer, one_hot, standardize, train_test_split
from .training import DivergenceError, EarlyStopping, History, accuracy, evaluate, fit

__all__ = [
    "BackpropCheck",
    "Conv2D",
    "DivergenceError",
    "EarlyStopping",
    "ForwardCache",
    "History",
    "Network",
    "NotFittedError",
    "Standardizer",
    "__version__",
    "accuracy",
    "activations",
    "backprop",
    "check_backprop",
    "check_gradients",
    "datasets",
    "evaluate",
    "fit",
    "gradcheck",
    "gradients",
    "io",
    "load",
    "losses",
    "numerical_gradients",
    "one_hot",
    "optimizers",
    "plot",
    "preprocessing",
    "register_activation",
    "register_loss",
    "schedules",
    "standardize",
    "trace",
    "train_test_split",
    "training",
]
