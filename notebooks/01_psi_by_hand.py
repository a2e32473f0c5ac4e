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
# # 1. The Ψ recursion by hand
#
# The 2-2-1 sigmoid network of [the derivation](../docs/derivation.md) (§10), one sample,
# the mse loss. We compute the forward pass and the Ψ recursion with plain NumPy, then
# check every number against `psinet.trace` and against finite differences, the
# definition of the derivative. Every `assert` below is a check that would fail if the
# hand computation and psinet disagreed.

# %%
import numpy as np

import psinet
from psinet import plot

W_0 = np.array([[0.1, 0.2, 0.0], [-0.3, 0.4, 0.5]])  # 2 hidden neurons, bias last
W_1 = np.array([[0.6, -0.7, 0.1]])  # 1 output neuron, bias last
x, y = np.array([1.0, 2.0]), np.array([1.0])

net = psinet.Network([2, 2, 1], "sigmoid")
net.weights = [W_0, W_1]
net  # a cell ending in a Network shows its summary table

# %% [markdown]
# The picture: each line is a weight, the blue node is the bias input 1.

# %%
plot.plot_network(net)

# %% [markdown]
# ## Forward, by hand
# $\bar{x}_0 = (x, 1)$, $z_0 = W_0 \bar{x}_0$, $x_1 = \sigma(z_0)$, and again for the
# output layer; $E = \frac12 (\hat{y} - y)^2$.


# %%
def sigmoid(z):
    return 1 / (1 + np.exp(-z))


x_bar_0 = np.append(x, 1.0)
z_0 = W_0 @ x_bar_0
x_1 = sigmoid(z_0)
x_bar_1 = np.append(x_1, 1.0)
z_1 = W_1 @ x_bar_1
y_hat = sigmoid(z_1)
E = 0.5 * np.sum((y_hat - y) ** 2)
print(f"z_0 = {z_0}, x_1 = {x_1}, z_1 = {z_1}, ŷ = {y_hat}, E = {E:.6f}")
assert np.isclose(E, 0.129828, atol=1e-6)  # the number printed in the derivation

# %% [markdown]
# ## Backward, by hand
# Start: $\psi_1 = (\hat{y} - y)\,\sigma'(z_1)$ with $\sigma' = \sigma(1 - \sigma)$.
# Gradient: $\partial E/\partial W_1 = \psi_1 \bar{x}_1^{\mathsf{T}}$.
# Step back, dropping the bias column:
# $\psi_0 = (W_1[:, :-1]^{\mathsf{T}} \psi_1) \odot \sigma'(z_0)$.

# %%
psi_1 = (y_hat - y) * y_hat * (1 - y_hat)
grad_W_1 = np.outer(psi_1, x_bar_1)
psi_0 = (W_1[:, :-1].T @ psi_1) * x_1 * (1 - x_1)
grad_W_0 = np.outer(psi_0, x_bar_0)
print("Ψ_1 =", psi_1, " Ψ_0 =", psi_0)
print("∂E/∂W_1 =", grad_W_1)
print("∂E/∂W_0 =", grad_W_0)

# %% [markdown]
# ## psinet computes the same numbers
# `psinet.trace` keeps every intermediate of one forward and backward pass. In a notebook
# the record shows as a table, with the values themselves for a network this small.

# %%
record = psinet.trace(net, x[None, :], y[None, :], "mse")
for mine, theirs in [
    (z_0, record.layers[0].z[0]),
    (z_1, record.layers[1].z[0]),
    (psi_1, record.layers[1].psi[0]),
    (psi_0, record.layers[0].psi[0]),
    (grad_W_1, record.layers[1].grad_W),
    (grad_W_0, record.layers[0].grad_W),
]:
    np.testing.assert_allclose(mine, theirs, rtol=1e-12)
assert np.isclose(record.E, E, rtol=1e-12)
record

# %% [markdown]
# ## And the definition of the derivative agrees
# Finite differences nudge each weight and run the network again: $2P$ or $4P$ forward
# passes instead of one backward sweep, but an independent check.

# %%
numeric = psinet.numerical_gradients(net, x[None, :], y[None, :], "mse")
for l, (by_hand, fd) in enumerate(zip([grad_W_0, grad_W_1], numeric, strict=True)):
    error = np.max(np.abs(by_hand - fd))
    print(f"layer {l}: max |by hand − finite differences| = {error:.1e}")
    assert error < 1e-10

# %% [markdown]
# `psinet.check_gradients` does this comparison layer by layer and reports, for each, whether
# it passed, failed, or could not be resolved by the finite differences.

# %%
report = psinet.check_gradients(net, x[None, :], y[None, :], "mse")
assert report.passed
report

# %% [markdown]
# ## What Ψ means
# $\Delta E \approx \psi\,\Delta z$: move hidden neuron 1's weighted sum by $\Delta$ (through
# its bias, whose input is the constant 1) and the loss moves by about $\psi_{0,1}\Delta$.

# %%
delta = 1e-3
nudged = net.copy()
W = nudged.weights[0].copy()
W[1, -1] += delta
nudged.weights[0] = W
change = psinet.evaluate(nudged, x[None, :], y[None, :], "mse")["loss"] - E
print(f"ΔE = {change:.4e}   Ψ·Δz = {psi_0[1] * delta:.4e}")
assert abs(change - psi_0[1] * delta) < 1e-3 * abs(psi_0[1] * delta)

# %% [markdown]
# The backward pass as a picture: Ψ next to each neuron, flowing from the output back,
# and each weight's gradient on its line.

# %%
plot.plot_network(net, x, y, "mse", show="backward")
