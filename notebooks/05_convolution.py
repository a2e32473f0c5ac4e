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
# # 5. Convolution: the same Ψ, with patches as rows
#
# A convolution slides a small filter over an image. In psinet it is the equation of every
# other layer, $z_l = \bar{X}_l W_l^{\mathsf{T}}$, with other rows: one row of
# $\bar{X}_l$ per sample **and position**, the patch of the image under the filter there
# (then the 1 for the bias). Each filter is one row of $W_l$. So the Ψ recursion does not
# change; [the derivation](../docs/derivation.md) (§15) goes through it. Here we look at
# the rows on a 4×4 image, see that the weight gradient sums over positions and that the
# way back to the pixels (`fold`) adds, check it all against finite differences, and then
# see what the sharing buys: glyphs anywhere in an image, a convolutional network against
# a dense one of the same size.

# %%
import numpy as np

import psinet
from psinet import datasets, optimizers, plot

# a 4×4 image of one channel → Conv2D: 2 filters of 3×3 → 2 maps of 2×2 → 3 classes
net = psinet.Network([(1, 4, 4), psinet.Conv2D(2, 3), 3], ["tanh", "softmax"], seed=0)
W_0 = net.weights[0]  # (filters, C·kh·kw + 1) = (2, 10): one filter per row, bias last
assert W_0.shape == (2, 10) and net.weights[1].shape == (3, 2 * 2 * 2 + 1)
net

# %% [markdown]
# ## Unfold: one row per position
# The filter fits at $2 \times 2 = 4$ positions of a 4×4 image. `unfold` cuts the patch at
# each one, in reading order, and writes it as a row of $3 \cdot 3 = 9$ values (row by
# row); the ones column makes $\bar{X}_0$, $4 \times 10$ for one image. The image here
# holds the numbers 1 to 16, so every row shows which pixels it took.

# %%
image = np.arange(1.0, 17.0).reshape(1, 1, 4, 4)  # X: (N, C, H, W) = (1, 1, 4, 4)
conv = net.layers[0]  # the Conv2D, built for the (1, 4, 4) input
patches = conv.unfold(image)  # (N·P, C·kh·kw) = (4, 9)
X_bar_0 = np.hstack([patches, np.ones((len(patches), 1))])  # X̄_0: (4, 10)
print(image[0, 0])
print("X̄_0 =")
print(X_bar_0)
positions = [(r, c) for r in range(2) for c in range(2)]  # reading order
for row, (r, c) in zip(X_bar_0, positions, strict=True):
    np.testing.assert_array_equal(row[:-1], image[0, 0, r : r + 3, c : c + 3].ravel())

# %% [markdown]
# ## z = X̄ Wᵀ is the convolution
# Entry $(p, f)$ of $z_0 = \bar{X}_0 W_0^{\mathsf{T}}$ is filter $f$ on the patch at
# position $p$, plus its bias: one column per filter, one row per position. Sliding each
# filter over the image by hand gives the same numbers, and so does psinet's forward pass.
# `maps` shows the rows as the 2 maps of 2×2, $(N, F, H_o, W_o)$.

# %%
z_0 = X_bar_0 @ W_0.T  # (4 positions, 2 filters)
filters = W_0[:, :-1].reshape(2, 1, 3, 3)  # (filters, C, kh, kw)
by_sliding = np.array(
    [
        [np.sum(filters[f, 0] * image[0, 0, r : r + 3, c : c + 3]) + W_0[f, -1] for f in range(2)]
        for r, c in positions
    ]
)
np.testing.assert_allclose(z_0, by_sliding, rtol=1e-12)
net.forward(image)
np.testing.assert_allclose(net.cache.z[0], z_0, rtol=1e-12)
print("z_0 (rows: positions, columns: filters) =")
print(z_0)
print("as maps, (N, F, Ho, Wo) =", conv.maps(z_0).shape)
print(conv.maps(z_0)[0])

# %% [markdown]
# ## The weight gradient sums over positions
# A filter weight is used at every position of every image, so it reaches $E$ along all
# those paths and its gradient adds them up. That is the matrix product of the dense
# layer, $\partial E/\partial W_0 = \Psi_0^{\mathsf{T}} \bar{X}_0$, unchanged: its sum
# runs over the rows, and the rows are now images *and* positions. With 2 images there
# are $2 \cdot 4 = 8$ rows, so 8 outer products add up to each filter's gradient.

# %%
rng = np.random.default_rng(0)
X = rng.normal(size=(2, 1, 4, 4))  # N = 2 images
Y = psinet.one_hot(np.array([0, 2]), 3)
grads, E, psi = psinet.gradients(net, X, Y, "categorical_crossentropy", return_psi=True)
net.forward(X)
X_bar = net.cache.X_bar[0]  # (N·P, 10) = (8, 10)
print("Ψ_0:", psi[0].shape, " X̄_0:", X_bar.shape, " ∂E/∂W_0:", grads[0].shape)
np.testing.assert_allclose(grads[0], psi[0].T @ X_bar, rtol=1e-12)
one_row_at_a_time = sum(np.outer(psi[0][row], X_bar[row]) for row in range(len(X_bar)))
np.testing.assert_allclose(grads[0], one_row_at_a_time, rtol=1e-12)
# the bias gradient of filter f: the sum of Ψ_0's column f over images and positions
np.testing.assert_allclose(grads[0][:, -1], psi[0].sum(axis=0), rtol=1e-12)

# %% [markdown]
# ## Fold: back onto the pixels, adding
# The way back from a layer to its input is $G = \Psi_l W_l[:, :-1]$: a derivative for
# every entry of every patch. But the patches overlap, and the copies of one pixel are
# the same pixel: its derivative is the sum over the copies. `fold` does that sum, the
# transpose of `unfold`. Folding ones counts, for each pixel, the patches it is in: the
# corners are in 1, the middle pixels in all 4.

# %%
count = conv.fold(np.ones((4, 9)))[0, 0]  # (H, W): how many patches hold each pixel
np.testing.assert_array_equal(count, [[1, 2, 2, 1], [2, 4, 4, 2], [2, 4, 4, 2], [1, 2, 2, 1]])
G = rng.normal(size=(4, 9))  # fold is the transpose of unfold: <unfold(x), G> = <x, fold(G)>
assert np.isclose(np.sum(conv.unfold(image) * G), np.sum(image * conv.fold(G)))

fig = plot.figure((5.2, 4.6))
ax = fig.add_subplot()
ax.imshow(count, cmap="Blues", vmin=0, vmax=4)
for (u, v), n in np.ndenumerate(count):
    ax.text(v, u, f"{n:.0f}", ha="center", va="center", fontsize=16, color="w" if n > 2 else "k")
ax.set_xticks(range(4))
ax.set_yticks(range(4))
ax.set_xlabel("pixel column")
ax.set_ylabel("pixel row")
ax.set_title("fold(ones): how many of the four 3×3 patches\nhold each pixel of the 4×4 image")
fig

# %% [markdown]
# The input's gradient, $\partial E/\partial X_0 = \text{fold}(\Psi_0 W_0[:, :-1])$, is what
# a convolution *above* this one would need; for the first layer nobody does, but we can
# still check it against the definition of the derivative, pixel by pixel.

# %%
dE_dX = conv.fold(psi[0] @ W_0[:, :-1])  # (N, C, H, W), as X
step = 1e-6
numeric = np.zeros_like(X)
for index in np.ndindex(*X.shape):
    up, down = X.copy(), X.copy()
    up[index] += step
    down[index] -= step
    E_up = psinet.evaluate(net, up, Y, "categorical_crossentropy")["loss"]
    E_down = psinet.evaluate(net, down, Y, "categorical_crossentropy")["loss"]
    numeric[index] = (E_up - E_down) / (2 * step)
print(f"max |fold(Ψ_0 W_0[:, :-1]) − finite differences| = {np.abs(dE_dX - numeric).max():.1e}")
np.testing.assert_allclose(dE_dX, numeric, atol=1e-8)

# %% [markdown]
# ## And check_gradients agrees
# Finite differences on every weight, layer by layer. (tanh, not relu: relu's kink at 0
# can sit between a finite difference's two steps and make *it* wrong.)

# %%
report = psinet.check_gradients(net, X, Y, "categorical_crossentropy")
assert report.passed
report

# %% [markdown]
# `psinet.trace` shows what one pass computed, in the derivation's names: layer 0's
# $\bar{X}_0$ and $\Psi_0$ have one row per image and position ($2 \cdot 4 = 8$).

# %%
record = psinet.trace(net, X, Y, "categorical_crossentropy")
assert record.layers[0].X_bar.shape == (8, 10) and record.layers[0].psi.shape == (8, 2)
record

# %% [markdown]
# ## What the sharing buys: glyphs anywhere in an image
# `datasets.glyphs` draws one 5×5 glyph (a plus, a cross, a square, a bar) at a random
# place in a 16×16 image, with noise. The class is the glyph, never its place.

# %%
X, y = datasets.glyphs(3500, size=16, noise=0.3, seed=0)  # X: (3500, 1, 16, 16)
Y = psinet.one_hot(y, 4)
X_train, Y_train, X_test, Y_test = X[:3000], Y[:3000], X[3000:], Y[3000:]
assert X.shape == (3500, 1, 16, 16)

fig = plot.figure((8.0, 4.4))
axes = fig.subplots(2, 4)
for k in range(4):
    for row in range(2):
        axes[row, k].imshow(X[y == k][row, 0], cmap="gray")
        axes[row, k].set_xticks([])
        axes[row, k].set_yticks([])
    axes[0, k].set_title(f"class {k}: {datasets.GLYPH_NAMES[k]}")
fig.suptitle("Two glyphs of each class, each at a random place, with noise of σ = 0.3")
fig

# %% [markdown]
# Two networks with about the same number of weights: a convolution (8 filters of 5×5,
# then a softmax layer over their 8 maps of 12×12) and a dense network (256 pixels into
# 18 hidden units). Same optimizer, epochs, batches, L2 and seed.

# %%
conv_net = psinet.Network([(1, 16, 16), psinet.Conv2D(8, 5), 4], ["relu", "softmax"], seed=0)
dense_net = psinet.Network([256, 18, 4], ["relu", "softmax"], seed=0)
print(f"weights: conv {conv_net.n_params:,}, dense {dense_net.n_params:,}")
assert abs(conv_net.n_params - dense_net.n_params) < 0.05 * conv_net.n_params

accuracy = {}
for name, model, flat in (("conv", conv_net, False), ("dense", dense_net, True)):
    X_fit = X_train.reshape(len(X_train), -1) if flat else X_train
    X_eval = X_test.reshape(len(X_test), -1) if flat else X_test
    model.fit(
        X_fit,
        Y_train,
        loss="categorical_crossentropy",
        optimizer=optimizers.Adam(0.01),
        epochs=20,
        batch_size=32,
        l2=1e-3,
        seed=0,
        verbose=0,
    )
    accuracy[name] = model.evaluate(X_eval, Y_test, "categorical_crossentropy")["accuracy"]
print(f"test accuracy: conv {accuracy['conv']:.1%}, dense {accuracy['dense']:.1%}")
assert accuracy["conv"] > 0.85 and accuracy["conv"] > accuracy["dense"] + 0.2

# %% [markdown]
# The convolution wins by far. The dense layer has one weight per pixel, so a plus in one
# corner and a plus in another are unrelated inputs to it: it has to learn every glyph at
# each of the 144 places, from the few images that put one there. A filter is the same
# detector at every position, and its gradient $\Psi_0^{\mathsf{T}} \bar{X}_0$ adds what
# all 144 positions of every image teach it. (`examples/glyphs_conv_vs_dense.py` runs the
# full comparison: more data, three seeds in its docstring.)
#
# What did the filters learn? Each is one row of $W_0$, reshaped to 5×5. Mid-grey is 0,
# white positive, black negative.

# %%
kernels = conv_net.weights[0][:, :-1].reshape(8, 1, 5, 5)[:, 0]  # (filters, kh, kw)
limit = np.abs(kernels).max()
fig = plot.figure((10.0, 2.3))
axes = fig.subplots(1, 8)
for f, ax in enumerate(axes):
    shown = ax.imshow(kernels[f], cmap="gray", vmin=-limit, vmax=limit)
    ax.set_title(f"filter {f}")
    ax.set_xticks([])
    ax.set_yticks([])
fig.colorbar(shown, ax=list(axes), label="weight", shrink=0.8)
fig.suptitle("The 8 learned 5×5 filters (rows of W_0), each used at every position")
fig

# %% [markdown]
# And one test image on its way through: the 8 maps $X_1 = \text{relu}(z_0)$ say where
# each filter responds, and $\Psi_0 = \partial E/\partial z_0$, one value per position and
# filter, says how the loss changes with each of those $z$ (0 where the relu is off). We
# take the test image with the largest loss, where Ψ is largest.

# %%
least_sure = int(np.argmin((conv_net.predict(X_test) * Y_test).sum(axis=1)))
x, t = X_test[least_sure : least_sure + 1], Y_test[least_sure : least_sure + 1]
p = conv_net.forward(x)[0]
responses = conv_net.layers[0].maps(conv_net.cache.a[0])[0].copy()  # (8, 12, 12)
_, E, psi = psinet.gradients(conv_net, x, t, "categorical_crossentropy", return_psi=True)
psi_maps = conv_net.layers[0].maps(psi[0])[0]  # Ψ_0: (N·P, 8) = (144, 8) → (8, 12, 12)
assert psi[0].shape == (144, 8) and psi_maps.shape == (8, 12, 12)
assert np.all(psi_maps[responses == 0] == 0)  # relu off: z does not reach E

fig = plot.figure((12.5, 3.7))
grid = fig.add_gridspec(2, 10, width_ratios=[2.2] + [1] * 8 + [0.1])
ax = fig.add_subplot(grid[:, 0])
ax.imshow(x[0, 0], cmap="gray")
names = datasets.GLYPH_NAMES
ax.set_title(
    f"a {names[t[0].argmax()]}, predicted\n{names[p.argmax()]} (p = {p.max():.2f}), E = {E:.2g}",
    fontsize=9,
)
ax.set_xticks([])
ax.set_yticks([])
limit = np.abs(psi_maps).max()
for f in range(8):
    top, bottom = fig.add_subplot(grid[0, f + 1]), fig.add_subplot(grid[1, f + 1])
    shown = top.imshow(responses[f], cmap="gray", vmin=0, vmax=responses.max())
    signed = bottom.imshow(psi_maps[f], cmap="RdBu_r", vmin=-limit, vmax=limit)
    top.set_title(f"filter {f}", fontsize=9)
    for a in (top, bottom):
        a.set_xticks([])
        a.set_yticks([])
    if f == 0:
        top.set_ylabel("relu(z_0)", fontsize=9)
        bottom.set_ylabel("Ψ_0", fontsize=9)
fig.colorbar(shown, cax=fig.add_subplot(grid[0, -1]), label="response")
fig.colorbar(signed, cax=fig.add_subplot(grid[1, -1]), label="Ψ (white: 0)")
fig.suptitle(
    "Top: where each filter responds. Bottom: Ψ_0 at each position "
    "(red: a larger z raises E, blue: lowers it)"
)
fig
