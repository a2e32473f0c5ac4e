"""psinet: gradient descent for neural networks in pure NumPy.

All weight gradients of a deep network come from one backward sweep of a term
Ψ = ∂E/∂z (see NOTATION.md and docs/derivation.md). The modules:

* :mod:`psinet.network`: :class:`Network`, weights with the bias as last column;
* :mod:`psinet.activations` and :mod:`psinet.losses`: f, f', E and ∂E/∂ŷ;
* :mod:`psinet.backprop`: the Ψ recursion, :func:`gradients`;
* :mod:`psinet.gradcheck`: finite differences, the reference backprop is tested against.
"""

from . import activations, backprop, gradcheck, losses
from .backprop import gradients
from .gradcheck import check_gradients, numerical_gradients
from .network import ForwardCache, Network

__version__ = "0.1.0"

__all__ = [
    "ForwardCache",
    "Network",
    "__version__",
    "activations",
    "backprop",
    "check_gradients",
    "gradcheck",
    "gradients",
    "losses",
    "numerical_gradients",
]
