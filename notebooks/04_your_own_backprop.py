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
# # 4. Your own backprop
#
# Write the Ψ loop yourself, for a whole batch at once, and let `psinet.check_backprop`
# compare it with psinet's, layer by layer. Then break it on purpose, one common mistake
# at a time, and read what the checker says about each: a wrong gradient has a
# recognisable *shape* of wrongness (a factor, a sign, a transpose, one column), and the
# checker names it. The list of mistakes, with the same code, is
# [docs/backprop_mistakes.md](../docs/backprop_mistakes.md).
#
# The setting is the derivation's (§7, §8): sigmoid everywhere, the mse loss
# $E = \frac{1}{2N}\sum_n \sum_k (\hat{y}_{nk} - y_{nk})^2$, a **mean** over the $N$
# samples, and a 3-5-4-2 network whose $W_l$ has shape $n_{l+1} \times (n_l + 1)$, bias
# last.

# %%
import numpy as np

import psinet
from psinet import plot

net = psinet.Network([3, 5, 4, 2], "sigmoid", seed=0)
rng = np.random.default_rng(0)
X = rng.normal(size=(8, 3))  # N = 8 samples, n_0 = 3 inputs
Y = rng.uniform(size=(8, 2))  # n_L = 2 targets in (0, 1)
net

# %% [markdown]
# ## The forward phase
# `check_backprop` calls your function as `fn(W, X, Y)`: `W` is a list of copies of
# `net.weights`, `X` is $N \times n_0$, `Y` is $N \times n_L$. The forward phase (§3) keeps
# every $\bar{X}_l$, $z_l$ and $X_{l+1}$ = `a[l]`, because the backward phase reads them.


# %%
def sigmoid(z):
    return 1 / (1 + np.exp(-z))


def sigmoid_prime(z):
    s = sigmoid(z)
    return s * (1 - s)  # σ'(z) = σ(z)(1 − σ(z)), at z


def forward(W, X):
    ones = np.ones((len(X), 1))
    X_bar, z, a = [], [], []
    for l, W_l in enumerate(W):
        X_l = X if l == 0 else a[l - 1]
        X_bar.append(np.hstack([X_l, ones]))  # X̄_l: (N, n_l + 1), the bias input last
        z.append(X_bar[l] @ W_l.T)  # z_l: (N, n_{l+1})
        a.append(sigmoid(z[l]))  # X_{l+1} = f(z_l): (N, n_{l+1})
    return X_bar, z, a


# %% [markdown]
# ## The backward phase: your turn
# The three equations of the loop (§11), for the batch:
#
# * start: $\Psi_{L-1} = \frac{\hat{y} - Y}{N} \odot f'(z_{L-1})$, the $\frac1N$ from the
#   mean;
# * gradient: $\partial E/\partial W_l = \Psi_l^{\mathsf{T}} \bar{X}_l$, the bias column
#   included;
# * step back: $\Psi_{l-1} = (\Psi_l\, W_l[:, :-1]) \odot f'(z_{l-1})$, the bias column
#   dropped.
#
# Try it yourself first; this is one way to write it. Returning the Ψ as well (a pair
# `(grads, psis)`) lets the checker compare them too.


# %%
def my_backprop(W, X, Y):
    X_bar, z, a = forward(W, X)
    N, L = len(X), len(W)
    grads, psi = [None] * L, [None] * L
    y_hat = a[L - 1]
    psi[L - 1] = (y_hat - Y) / N * sigmoid_prime(z[L - 1])  # start: (N, n_L)
    for l in reversed(range(L)):
        grads[l] = psi[l].T @ X_bar[l]  # (n_{l+1}, n_l + 1), shaped like W_l
        if l > 0:
            psi[l - 1] = (psi[l] @ W[l][:, :-1]) * sigmoid_prime(z[l - 1])  # (N, n_l)
    return grads, psi


# %% [markdown]
# ## Check it
# `psinet.check_backprop` runs your function on copies of the weights and compares what
# it returns with psinet's own backward pass, from the output layer back. In a notebook
# the report shows as a table, one row per layer.

# %%
report = psinet.check_backprop(my_backprop, net, X, Y, loss="mse")
assert report.passed and report.diagnosis == "correct", report.explanation
assert report.first_wrong_layer is None
grads, _ = psinet.gradients(net, X, Y, "mse")  # psinet's own gradients, the reference
for mine, theirs in zip(my_backprop(list(net.weights), X, Y)[0], grads, strict=True):
    np.testing.assert_allclose(mine, theirs, rtol=1e-10, atol=1e-15)
report

# %% [markdown]
# The same check runs from a terminal, on a function in a file of your own:
#
#     python -m psinet.check_backprop my_backprop.py:my_backprop --sizes 3,5,4,2 \
#         --activations sigmoid --loss mse
#
# It prints the table and exits 0 when the function is right, 1 when it is wrong.
#
# ## What each common mistake looks like
# Each function below is `my_backprop` with **one** line changed, marked `# ← mistake`.
# The checker works from the output back: errors flow backwards with Ψ, so the layer
# nearest the output that is wrong (`first_wrong_layer`) is where the mistake shows first,
# and its `diagnosis` says what kind of wrong it is.
#
# **1. The 1/N forgotten.** $E$ is a mean, so $\partial E/\partial\hat{y} = (\hat{y} - Y)/N$.
# Without the $\frac1N$ every gradient is $N$ times too large: the direction is right, so
# training may even work, with a step size $N$ times too large.


# %%
def forgot_one_over_n(W, X, Y):
    X_bar, z, a = forward(W, X)
    L = len(W)
    grads, psi = [None] * L, [None] * L
    psi[L - 1] = (a[L - 1] - Y) * sigmoid_prime(z[L - 1])  # ← mistake: no / N
    for l in reversed(range(L)):
        grads[l] = psi[l].T @ X_bar[l]
        if l > 0:
            psi[l - 1] = (psi[l] @ W[l][:, :-1]) * sigmoid_prime(z[l - 1])
    return grads


report = psinet.check_backprop(forgot_one_over_n, net, X, Y)
print(report.explanation)
assert report.diagnosis == "scale" and np.isclose(report.factor, len(X))
assert report.first_wrong_layer == 2
report  # the table: every layer N times too large, found from the output down

# %% [markdown]
# **2. The sign flipped.** $\hat{y} - Y$, not $Y - \hat{y}$: with the flipped sign gradient
# descent climbs the loss.


# %%
def flipped_sign(W, X, Y):
    X_bar, z, a = forward(W, X)
    N, L = len(X), len(W)
    grads, psi = [None] * L, [None] * L
    psi[L - 1] = (Y - a[L - 1]) / N * sigmoid_prime(z[L - 1])  # ← mistake: Y − ŷ
    for l in reversed(range(L)):
        grads[l] = psi[l].T @ X_bar[l]
        if l > 0:
            psi[l - 1] = (psi[l] @ W[l][:, :-1]) * sigmoid_prime(z[l - 1])
    return grads


report = psinet.check_backprop(flipped_sign, net, X, Y)
print(report.explanation)
assert report.diagnosis == "sign" and report.first_wrong_layer == 2

# %% [markdown]
# **3. The derivative left out.** The step back needs the local slope, $\odot f'(z_{l-1})$.
# The output layer's gradient is still right; the mistake shows one layer down.


# %%
def no_derivative(W, X, Y):
    X_bar, z, a = forward(W, X)
    N, L = len(X), len(W)
    grads, psi = [None] * L, [None] * L
    psi[L - 1] = (a[L - 1] - Y) / N * sigmoid_prime(z[L - 1])
    for l in reversed(range(L)):
        grads[l] = psi[l].T @ X_bar[l]
        if l > 0:
            psi[l - 1] = psi[l] @ W[l][:, :-1]  # ← mistake: no ⊙ f'(z_{l-1})
    return grads


report = psinet.check_backprop(no_derivative, net, X, Y)
print(report.explanation)
assert report.diagnosis == "missing_derivative" and report.first_wrong_layer == 1

# %% [markdown]
# **4. The derivative taken at f(z).** $\sigma'(z) = \sigma(z)(1 - \sigma(z))$ can be read
# off the cached output $a$ as `a * (1 - a)` (§8), but `sigmoid_prime(a)` computes
# $\sigma'(\sigma(z))$: the slope at the wrong point.


# %%
def derivative_at_a(W, X, Y):
    X_bar, _, a = forward(W, X)  # z is not used: that is the mistake
    N, L = len(X), len(W)
    grads, psi = [None] * L, [None] * L
    psi[L - 1] = (a[L - 1] - Y) / N * sigmoid_prime(a[L - 1])  # ← mistake: σ'(ŷ), not σ'(z)
    for l in reversed(range(L)):
        grads[l] = psi[l].T @ X_bar[l]
        if l > 0:
            psi[l - 1] = (psi[l] @ W[l][:, :-1]) * sigmoid_prime(a[l - 1])  # ← and here
    return grads


report = psinet.check_backprop(derivative_at_a, net, X, Y)
print(report.explanation)
assert report.diagnosis == "derivative_at_output" and report.first_wrong_layer == 2

# %% [markdown]
# **5. A transposed product.** $\bar{X}_l^{\mathsf{T}} \Psi_l$ has every right number, in
# the shape of $W_l^{\mathsf{T}}$: an update `W[l] -= eta * grads[l]` would then fail, or
# worse, silently mix up weights when $W_l$ is square.


# %%
def transposed(W, X, Y):
    X_bar, z, a = forward(W, X)
    N, L = len(X), len(W)
    grads, psi = [None] * L, [None] * L
    psi[L - 1] = (a[L - 1] - Y) / N * sigmoid_prime(z[L - 1])
    for l in reversed(range(L)):
        grads[l] = X_bar[l].T @ psi[l]  # ← mistake: (n_l + 1, n_{l+1}), W_lᵀ's shape
        if l > 0:
            psi[l - 1] = (psi[l] @ W[l][:, :-1]) * sigmoid_prime(z[l - 1])
    return grads


report = psinet.check_backprop(transposed, net, X, Y)
print(report.explanation)
assert report.diagnosis == "transposed" and report.first_wrong_layer == 2

# %% [markdown]
# **6. The bias gradient from one sample.** Written apart from the weights, the bias
# gradient is the column sum of $\Psi_l$ over the batch (P4, exercise 1), not one row of it.


# %%
def bias_from_one_sample(W, X, Y):
    X_bar, z, a = forward(W, X)
    N, L = len(X), len(W)
    grads, psi = [None] * L, [None] * L
    psi[L - 1] = (a[L - 1] - Y) / N * sigmoid_prime(z[L - 1])
    for l in reversed(range(L)):
        grad_w = psi[l].T @ X_bar[l][:, :-1]  # the weights proper: right
        grad_b = psi[l][0]  # ← mistake: sample 0's Ψ, not psi[l].sum(axis=0)
        grads[l] = np.column_stack([grad_w, grad_b])
        if l > 0:
            psi[l - 1] = (psi[l] @ W[l][:, :-1]) * sigmoid_prime(z[l - 1])
    return grads


report = psinet.check_backprop(bias_from_one_sample, net, X, Y)
print(report.explanation)
assert report.diagnosis == "bias_gradient" and report.first_wrong_layer == 2

# %% [markdown]
# **7. The wrong input.** Every gradient is (Ψ of its layer) × (the input of its layer),
# $\Psi_l^{\mathsf{T}} \bar{X}_l$, and the input of layer $l$ is the *output* of the layer
# below, $X_l = f(z_{l-1})$: the cached `a[l - 1]`, never the weighted sums `z[l - 1]`.


# %%
def wrong_input(W, X, Y):
    _, z, a = forward(W, X)
    N, L = len(X), len(W)
    grads, psi = [None] * L, [None] * L
    psi[L - 1] = (a[L - 1] - Y) / N * sigmoid_prime(z[L - 1])
    for l in reversed(range(L)):
        inputs = X if l == 0 else z[l - 1]  # ← mistake: z_{l-1}, not X_l = a[l - 1]
        grads[l] = psi[l].T @ np.hstack([inputs, np.ones((N, 1))])
        if l > 0:
            psi[l - 1] = (psi[l] @ W[l][:, :-1]) * sigmoid_prime(z[l - 1])
    return grads


report = psinet.check_backprop(wrong_input, net, X, Y)
print(report.explanation)
assert report.diagnosis == "wrong_input" and report.first_wrong_layer == 2

# %% [markdown]
# **8. The bias column kept in the step back.** The step uses $W_l[:, :-1]$: the bias
# column multiplies the constant 1, which no neuron of the layer below feeds (§7,
# exercise 4). With the whole $W_l$ the shapes do not fit, NumPy raises, and the checker
# reports the exception with the line that raised it (`print(report)` shows it).


# %%
def bias_column_kept(W, X, Y):
    X_bar, z, a = forward(W, X)
    N, L = len(X), len(W)
    grads, psi = [None] * L, [None] * L
    psi[L - 1] = (a[L - 1] - Y) / N * sigmoid_prime(z[L - 1])
    for l in reversed(range(L)):
        grads[l] = psi[l].T @ X_bar[l]
        if l > 0:
            psi[l - 1] = (psi[l] @ W[l]) * sigmoid_prime(z[l - 1])  # ← mistake: W[l]
    return grads


report = psinet.check_backprop(bias_column_kept, net, X, Y)
print(report.explanation)
assert report.diagnosis == "exception" and report.first_wrong_layer is None

# %% [markdown]
# ## The mistakes side by side
# Each panel puts the entries of one function's gradient, at the layer where it first goes
# wrong, against psinet's. A right gradient lies on the diagonal; a factor is another
# straight line through 0, a flipped sign the other diagonal, a transpose a scatter (the
# right numbers in the wrong places), and a wrong bias column a few points off an
# otherwise right line. The derivative taken at $f(z)$ lies close to the diagonal: a
# mistake that small can train almost as well and still be wrong, which is why the
# checker compares to rounding error, not "roughly".

# %%
mistakes = [
    my_backprop,
    forgot_one_over_n,
    flipped_sign,
    no_derivative,
    derivative_at_a,
    transposed,
    bias_from_one_sample,
    wrong_input,
]
fig = plot.figure(figsize=(12, 6))
axes = fig.subplots(2, 4)
for fn, ax in zip(mistakes, axes.ravel(), strict=True):
    report = psinet.check_backprop(fn, net, X, Y)
    l = 2 if report.first_wrong_layer is None else report.first_wrong_layer
    out = fn(list(net.weights), X, Y)
    yours = (out[0] if isinstance(out, tuple) else out)[l]
    ax.axline((0, 0), slope=1, color="0.7", linestyle="--", linewidth=1)
    ax.scatter(grads[l].ravel(), yours.ravel(), s=12)
    ax.set_title(f"{fn.__name__}\n{report.diagnosis}, layer {l}", fontsize=9)
    ax.set_xlabel(f"psinet's ∂E/∂W_{l}", fontsize=8)
    ax.set_ylabel("yours", fontsize=8)
    ax.tick_params(labelsize=7)
fig
