# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 2. Training and watching
#
# A small network learns the two moons. We look at it before training, watch the loss,
# the decision boundary and the per-layer gradient norms, and look at it again after.
# Figures display inline: psinet's plots return matplotlib Figures that a notebook shows
# without `%matplotlib inline`.

# %%
import numpy as np

import psinet
from psinet import datasets, optimizers, plot

X, y = datasets.moons(n_samples=200, noise=0.15, seed=0)  # X: (200, 2), y: (200,)
net = psinet.Network([2, 8, 1], ["tanh", "sigmoid"], seed=0)
net

# %% [markdown]
# Before training: small random weights (Glorot), biases 0.

# %%
plot.plot_network(net, title="Before training: random weights, biases 0")

# %% [markdown]
# Training takes mini-batches of 32, so the last step of each epoch sees only the last
# 8 of the 200 samples. To watch the gradient norms we want them on the whole training set:
# a callback, called at the end of every epoch, runs `psinet.gradients` on all of `X` and
# records the Frobenius norm of each layer's gradient. It only reads the weights, so the
# training is the same as without it.

# %%
grad_norms = []  # one row per epoch: ‖∂E/∂W_l‖_F for l = 0, 1, on all 200 samples


def full_batch_gradient_norms(record):
    grads, _ = psinet.gradients(net, X, y, "binary_crossentropy")
    grad_norms.append([np.linalg.norm(g) for g in grads])


history = net.fit(
    X,
    y,
    loss="binary_crossentropy",
    optimizer=optimizers.Adam(0.05),
    epochs=60,
    batch_size=32,
    seed=0,
    verbose=0,
    callbacks=[full_batch_gradient_norms],
)
history  # a short table: the first and last epochs

# %%
assert history["loss"][-1] < 0.5 * history["loss"][0]
assert history["accuracy"][-1] > 0.9
plot.plot_history(
    history,
    title=f"Two moons: the loss falls, accuracy reaches {history['accuracy'][-1]:.0%}",
)

# %% [markdown]
# The decision boundary: the shade is the predicted class, the dots the true class.

# %%
plot.plot_decision_boundary(net, X, y, title="Two moons: the tanh layer bends the boundary")

# %% [markdown]
# The gradient norm of each layer at the end of every epoch, on the whole training set
# (the callback's rows, not the history's `"grad_norms"`, which are those of the epoch's
# last mini-batch of 8 samples). Both layers' lines stay within an order of magnitude of
# each other: in this shallow network nothing vanishes.

# %%
norms = np.array(grad_norms)  # (epochs, 2)
assert norms.shape == (len(history), 2) and np.isfinite(norms).all()
assert (norms[:, 0] / norms[:, 1]).max() < 10 and (norms[:, 1] / norms[:, 0]).max() < 10
plot.plot_gradient_norms(
    norms,
    x=history.epoch,
    xlabel="epoch",
    title="Gradient norm per layer on all 200 samples",
)

# %% [markdown]
# After training: the weights have grown and the biases moved away from 0.

# %%
after = plot.plot_network(net, title="After training: larger weights, biases no longer 0")
assert np.abs(net.weights[0][:, -1]).max() > 0
after
