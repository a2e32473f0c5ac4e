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
# # 3. When gradients vanish
#
# The Ψ recursion multiplies by $f'(z)$ at every layer on the way back:
# $\Psi_{l-1} = (\Psi_l W_l[:, :-1]) \odot f'_{l-1}(z_{l-1})$. For the sigmoid,
# $\sigma'(z) = \sigma(z)(1 - \sigma(z)) \le \tfrac14$, so through many sigmoid layers Ψ
# shrinks geometrically and the first layers hardly learn. ReLU's slope is 1 where it is
# active, so its Ψ keeps its size.

# %%
import itertools

import numpy as np

import psinet
from psinet import datasets, optimizers, plot

z = np.linspace(-6, 6, 1201)
sigma = 1 / (1 + np.exp(-z))
slope = sigma * (1 - sigma)
print(f"max σ'(z) = {slope.max():.4f} at z = {z[slope.argmax()]:g}")
assert np.isclose(slope.max(), 0.25)

# %% [markdown]
# Two networks of 6 hidden layers of 16 on the circles data, identical but for the hidden
# activation. The Frobenius norm of each layer's gradient at initialization:

# %%
X, y = datasets.circles(n_samples=256, noise=0.1, seed=0)
Y = y.reshape(-1, 1).astype(float)
sizes = [2, *[16] * 6, 1]


def network(activation):
    return psinet.Network(sizes, [activation] * 6 + ["sigmoid"], seed=0)


at_init = {}
for activation in ("sigmoid", "relu"):
    grads, _ = psinet.gradients(network(activation), X, Y, "binary_crossentropy")
    at_init[activation] = plot.layer_gradient_norms(grads)
    first_over_last = at_init[activation][0] / at_init[activation][-1]
    print(f"{activation:8}: first layer / last layer = {first_over_last:.1e}")

assert at_init["sigmoid"][0] / at_init["sigmoid"][-1] < 1e-2  # vanished
assert at_init["relu"][0] / at_init["relu"][-1] > 1e-1  # kept its size

# %% [markdown]
# Where does it vanish? `psinet.trace` shows ‖Ψ_l‖ layer by layer for the sigmoid network:
# each step back multiplies it by a factor well below 1.

# %%
record = psinet.trace(network("sigmoid"), X, Y, "binary_crossentropy")
psi_norms = [np.linalg.norm(layer.psi) for layer in record.layers]
print(" ".join(f"{n:.1e}" for n in psi_norms))
assert all(a < b for a, b in itertools.pairwise(psi_norms))  # grows towards the output

# %% [markdown]
# Train both for the same 30 epochs with plain SGD and compare their gradient norms:

# %%
histories = {}
for activation in ("sigmoid", "relu"):
    net = network(activation)
    histories[activation] = net.fit(
        X,
        Y,
        loss="binary_crossentropy",
        optimizer=optimizers.SGD(0.1),
        epochs=30,
        batch_size=32,
        seed=0,
        verbose=0,
    )
    print(
        f"{activation:8}: final loss {histories[activation]['loss'][-1]:.3f}, "
        f"accuracy {histories[activation]['accuracy'][-1]:.0%}"
    )
assert histories["relu"]["loss"][-1] < histories["sigmoid"]["loss"][-1]
last = {a: h.records[-1]["grad_norms"] for a, h in histories.items()}
ratio = {a: norms[0] / norms[-1] for a, norms in last.items()}
fig = plot.plot_gradient_norms(
    {f"{a}: layer 0 / layer 6 = {ratio[a]:.1g}": h for a, h in histories.items()}
)
fig.suptitle("SGD on circles: gradient norm per layer (each title: the last epoch's ratio)")
fig
