"""Conv2D: the gradients are the derivative, on every path, and every part of psinet sees it.

A convolution's ``X̄_l`` has a row per sample and output position (the patch under the
kernel there), so the textbook's three lines (``z_l = X̄_l W_lᵀ``, ``∂E/∂W_l = Ψ_lᵀ X̄_l``,
``Ψ_{l-1} = fold(Ψ_l W_l[:, :-1]) ⊙ f'``) hold as they are. Checked here against central
differences of E computed from ``predict`` alone (every stride, padding, kernel shape,
channel count, depth, activation, loss, L2 and sample weights; float32 against float64),
against PyTorch's autograd, and ``unfold``/``fold`` against their definitions; then the
Atari network's size, the refusals, and trace, check_gradients, plot_network and
check_backprop on convolutional networks. (fit, io and torch interop: their own tests.)
"""

import math
import re

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import psinet
from _helpers import require_extra
from psinet import Network, check_gradients, gradients, numerical_gradients
from psinet.activations import ACTIVATIONS
from psinet.backprop import trace
from psinet.layers import Conv2D, Dense

HIDDEN = [name for name in ACTIVATIONS if name != "softmax"]  # softmax: an output only
KINKED = {"relu", "leaky_relu", "elu"}  # differences straddle a kink (elu's: in f'') near z = 0
PAIRS = [  # (loss, output activation, kind of targets)
    ("mse", "identity", "real"),
    ("mse", "sigmoid", "unit"),
    ("binary_crossentropy", "sigmoid", "unit"),
    ("categorical_crossentropy", "softmax", "onehot"),
]
ATARI = [(4, 84, 84), Conv2D(32, 8, stride=4), Conv2D(64, 4, stride=2), Conv2D(64, 3), 512, 3]
EPS = 1e-6  # central differences in float64: error ~ EPS² + 1e-16/EPS, far below the tolerance


# ----------------------------------------------------------------- problems
def _targets(kind, rng, n, k):
    if kind == "onehot":
        return np.eye(k)[rng.integers(0, k, size=n)]
    if kind == "unit":
        return rng.uniform(size=(n, k)).round(1)
    return rng.normal(size=(n, k))


def _pair_or_int(draw, low, high):
    """An int, or a (rows, columns) pair (equal or not): both ways of writing an argument."""
    a, b = draw(st.integers(low, high)), draw(st.integers(low, high))
    return a if a == b and draw(st.booleans()) else (a, b)


def _as_pair(v):
    return v if isinstance(v, tuple) else (v, v)


@st.composite
def problems(draw):
    """A small convolutional network (0–3 Conv2D layers of any kernel, stride and padding,
    an optional hidden dense layer, the output) with data, targets, L2 and sample weights."""
    C, H, W = draw(st.integers(1, 3)), draw(st.integers(3, 7)), draw(st.integers(3, 7))
    sizes, h, w = [(C, H, W)], H, W
    for _ in range(draw(st.integers(0, 3))):  # 0: a dense layer reads the image
        padding = _pair_or_int(draw, 0, 2)
        (ph, pw) = _as_pair(padding)
        kh, kw = draw(st.integers(1, min(3, h + 2 * ph))), draw(st.integers(1, min(3, w + 2 * pw)))
        kernel = kh if kh == kw and draw(st.booleans()) else (kh, kw)
        stride = _pair_or_int(draw, 1, 3)
        (sh, sw) = _as_pair(stride)
        sizes.append(Conv2D(draw(st.integers(1, 3)), kernel, stride=stride, padding=padding))
        h, w = (h + 2 * ph - kh) // sh + 1, (w + 2 * pw - kw) // sw + 1
    sizes += draw(st.lists(st.integers(1, 4), max_size=1))  # conv straight to the output, or not
    loss, out, kind = draw(st.sampled_from(PAIRS))
    sizes.append(draw(st.integers(2 if kind == "onehot" else 1, 3)))
    activations = [draw(st.sampled_from(HIDDEN)) for _ in sizes[1:-1]] + [out]
    N = draw(st.integers(1, 3))
    l2 = draw(st.sampled_from([0.0, 0.0, 0.01]))
    weighted = draw(st.booleans())
    seed = draw(st.integers(0, 2**16))
    net = Network(sizes, activations, seed=seed)
    rng = np.random.default_rng(seed)
    for W_l in net.weights:  # biases not 0: a patch all in the padding has z = bias, not a kink
        W_l[:, -1] = rng.normal(scale=0.5, size=len(W_l))
    X = rng.normal(size=(N, C, H, W))
    Y = _targets(kind, rng, N, sizes[-1])
    s = rng.uniform(0.2, 3.0, size=N) if weighted else None
    return net, X, Y, loss, l2, s


def _clear_of_kinks(net, X, margin=1e-4):
    """Whether no relu, leaky_relu or elu input z is within ``margin`` of its kink."""
    net.forward(X)
    return all(
        np.abs(z).min() > margin
        for z, f in zip(net.cache.z, net.activations, strict=True)
        if f.name in KINKED
    )


def sample_losses(y_hat, Y, loss):
    """Each sample's ℓ_n, written from the definitions (docs/notation.md)."""
    if loss == "mse":
        return 0.5 * np.sum((y_hat - Y) ** 2, axis=1)
    if loss == "binary_crossentropy":
        return -np.sum(Y * np.log(y_hat) + (1 - Y) * np.log(1 - y_hat), axis=1)
    return -np.sum(Y * np.log(y_hat), axis=1)


def loss_of(net, X, Y, loss, l2=0.0, s=None):
    """E from ``predict`` alone: Σ_n s_n ℓ_n / Σ_n s_n (the mean without s), + λ/2 Σ‖W‖²."""
    ell = sample_losses(net.predict(X), Y, loss)
    E = np.mean(ell) if s is None else np.dot(s, ell) / np.sum(s)
    return E + l2 / 2 * sum(np.sum(W[:, :-1] ** 2) for W in net.weights)


def central_differences(net, X, Y, loss, l2=0.0, s=None, most=None, seed=0):
    """∂E/∂W_l by central differences of :func:`loss_of`, NaN where not computed: every
    entry, or (``most``) that many entries of each layer at random, biases among them."""
    rng = np.random.default_rng(seed)
    out = []
    for W in net.weights:
        grad = np.full(W.shape, np.nan)
        entries = list(np.ndindex(*W.shape))
        if most is not None and len(entries) > most:
            picked = rng.choice(len(entries), size=most - 1, replace=False)
            entries = [entries[i] for i in picked] + [(0, W.shape[1] - 1)]
        for index in entries:
            w = W[index]
            W[index] = w + EPS
            E_plus = loss_of(net, X, Y, loss, l2, s)
            W[index] = w - EPS
            E_minus = loss_of(net, X, Y, loss, l2, s)
            W[index] = w
            grad[index] = (E_plus - E_minus) / (2 * EPS)
        out.append(grad)
    return out


def assert_matches_differences(grads, numeric, E):
    for l, (g, n) in enumerate(zip(grads, numeric, strict=True)):
        done = ~np.isnan(n)
        np.testing.assert_allclose(
            g[done], n[done], rtol=1e-6, atol=1e-7 * max(1.0, abs(E)), err_msg=f"layer {l}"
        )


# ----------------------------------------------------------------- gradients: the derivative
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.filter_too_much])
@given(problems())
def test_gradients_are_the_derivative_on_every_path(problem):
    net, X, Y, loss, l2, s = problem
    assume(_clear_of_kinks(net, X))
    grads, E = gradients(net, X, Y, loss, l2=l2, sample_weight=s)
    assert E == pytest.approx(loss_of(net, X, Y, loss, l2, s), rel=1e-12, abs=1e-15)
    assert [g.shape for g in grads] == [W.shape for W in net.weights]
    assert_matches_differences(grads, central_differences(net, X, Y, loss, l2, s, most=12), E)


@pytest.mark.parametrize("activation", HIDDEN)
def test_every_activation_in_conv_layers(activation):
    """Each built-in activation after a padded, strided convolution and a plain one:
    every weight against central differences, and psinet's own check_gradients."""
    sizes = [(2, 6, 5), Conv2D(3, (3, 2), stride=(2, 1), padding=1), Conv2D(2, 2), 3]
    net = Network(sizes, [activation, activation, "softmax"], seed=3)
    rng = np.random.default_rng(3)
    X, Y = rng.normal(size=(3, 2, 6, 5)), np.eye(3)[[0, 2, 1]]
    assert _clear_of_kinks(net, X, 1e-3)
    grads, E = gradients(net, X, Y, "categorical_crossentropy")
    assert_matches_differences(grads, central_differences(net, X, Y, "categorical_crossentropy"), E)
    assert check_gradients(net, X, Y, "categorical_crossentropy").passed


@pytest.mark.parametrize(("loss", "out", "kind"), PAIRS)
@pytest.mark.parametrize("weighted", [False, True])
def test_every_loss_with_its_output_l2_and_sample_weight(loss, out, kind, weighted):
    net = Network([(1, 5, 5), Conv2D(2, 3, padding=2, stride=2), 4, 2], ["tanh", "elu", out],
                  seed=1)  # fmt: skip
    rng = np.random.default_rng(1)
    X, Y = rng.normal(size=(4, 1, 5, 5)), _targets(kind, rng, 4, 2)
    s = np.array([0.5, 2.0, 0.0, 1.0]) if weighted else None  # a zero weight: sample ignored
    grads, E = gradients(net, X, Y, loss, l2=0.05, sample_weight=s)
    assert E == pytest.approx(loss_of(net, X, Y, loss, 0.05, s), rel=1e-12)
    assert_matches_differences(grads, central_differences(net, X, Y, loss, 0.05, s), E)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.filter_too_much])
@given(problems())
def test_float32_gradients_agree_with_float64_of_the_same_network(problem):
    net64, X, Y, loss, l2, s = problem
    net = net64.copy(dtype=np.float32)
    same = net.copy(dtype=np.float64)  # the float32 weights, exactly, in float64
    X = X.astype(np.float32)
    assume(_clear_of_kinks(same, X.astype(np.float64)))
    grads, E = gradients(net, X, Y, loss, l2=l2, sample_weight=s)
    exact, E64 = gradients(same, X.astype(np.float64), Y, loss, l2=l2, sample_weight=s)
    assert all(g.dtype == np.float32 for g in grads) and net.cache.z[0].dtype == np.float32
    assert E == pytest.approx(E64, rel=1e-4, abs=1e-5)
    for g, g64 in zip(grads, exact, strict=True):
        scale = max(float(np.abs(g64).max()), 1e-3)
        np.testing.assert_allclose(g, g64, rtol=1e-3, atol=1e-4 * scale)


def test_the_textbook_lines_hold_for_a_convolution():
    """∂E/∂W_l = Ψ_lᵀ X̄_l with the patch rows, and Ψ_{l-1} = fold(Ψ_l W_l[:, :-1]) ⊙ f'."""
    net = Network([(2, 6, 6), Conv2D(3, 3, padding=1), Conv2D(2, 2, stride=2), 2],
                  ["tanh", "sigmoid", "identity"], seed=0)  # fmt: skip
    rng = np.random.default_rng(0)
    X, Y = rng.normal(size=(2, 2, 6, 6)), rng.normal(size=(2, 2))
    grads, _, psi = gradients(net, X, Y, "mse", return_psi=True)
    c, (conv0, conv1, dense) = net.cache, net.layers
    assert c.X_bar[0].shape == (2 * 36, 2 * 9 + 1) and c.z[0].shape == (2 * 36, 3)
    assert c.X_bar[1].shape == (2 * 9, 3 * 4 + 1) and psi[1].shape == (2 * 9, 2)
    assert c.X_bar[2].shape == (2, 2 * 3 * 3 + 1)
    for l in range(3):
        np.testing.assert_allclose(grads[l], psi[l].T @ c.X_bar[l], rtol=1e-12)
        assert (c.X_bar[l][:, -1] == 1).all()
    a0 = c.a[0]
    np.testing.assert_allclose(psi[0], conv1.fold(psi[1] @ net.weights[1][:, :-1]) * (1 - a0**2))
    np.testing.assert_array_equal(conv0.maps(c.a[0]).shape, (2, 3, 6, 6))
    # the dense layer reads the maps flattened in (C, H, W) order, as torch.nn.Flatten
    np.testing.assert_array_equal(c.X_bar[2][:, :-1], conv1.maps(c.a[1]).reshape(2, -1))
    np.testing.assert_array_equal(dense.unfold(c.a[1]), c.X_bar[2][:, :-1])


# ----------------------------------------------------------------- PyTorch's autograd
def _torch_activation(torch, f, z):
    F = torch.nn.functional
    return {
        "sigmoid": torch.sigmoid,
        "tanh": torch.tanh,
        "relu": torch.relu,
        "leaky_relu": lambda z: F.leaky_relu(z, getattr(f, "alpha", 0.01)),
        "elu": lambda z: F.elu(z, getattr(f, "alpha", 1.0)),
        "softplus": F.softplus,
        "identity": lambda z: z,
        "softmax": lambda z: torch.softmax(z, dim=1),
    }[f.name](z)


def torch_gradients(net, X, Y, loss, l2=0.0, s=None):
    """The same model in torch: F.conv2d with W[:, :-1].reshape(filters, C, kh, kw) and
    bias W[:, -1], flatten, linear; E as psinet defines it. Returns (grads as psinet's
    W_l, E, ŷ, each layer's ∂E/∂z_l in psinet's maps layout)."""
    torch = require_extra("torch", "torch")
    F = torch.nn.functional
    x = torch.tensor(X, dtype=torch.float64)
    params, zs = [], []
    for layer, W, f in zip(net.layers, net.weights, net.activations, strict=True):
        weight = torch.tensor(W[:, :-1], dtype=torch.float64, requires_grad=True)
        bias = torch.tensor(W[:, -1], dtype=torch.float64, requires_grad=True)
        params.append((weight, bias))
        if isinstance(layer, Conv2D):
            C = layer.in_shape[0]
            kernel = weight.reshape(layer.filters, C, *layer.kernel_size)
            z = F.conv2d(x, kernel, bias, stride=layer.stride, padding=layer.padding)
        else:
            z = F.linear(x.flatten(1), weight, bias)
        z.retain_grad()
        zs.append(z)
        x = _torch_activation(torch, f, z)
    y = torch.tensor(Y, dtype=torch.float64)
    z_out = zs[-1]
    if loss == "mse":
        ell = 0.5 * ((x - y) ** 2).sum(dim=1)
    elif loss == "binary_crossentropy":
        ell = F.binary_cross_entropy_with_logits(z_out, y, reduction="none").sum(dim=1)
    else:
        ell = -(y * torch.log_softmax(z_out, dim=1)).sum(dim=1)
    if s is None:
        E = ell.mean()
    else:
        w = torch.tensor(s, dtype=torch.float64)
        E = (w * ell).sum() / w.sum()
    E = E + l2 / 2 * sum((weight**2).sum() for weight, _ in params)
    E.backward()
    grads = [
        np.hstack([weight.grad.numpy().reshape(len(bias), -1), bias.grad.numpy()[:, None]])
        for weight, bias in params
    ]
    psis = [z.grad.numpy() for z in zs]
    return grads, float(E.detach()), x.detach().numpy(), psis


@settings(max_examples=40, deadline=None)
@given(problems())
def test_gradients_equal_pytorch_autograd(problem):
    net, X, Y, loss, l2, s = problem
    expected, E_torch, y_torch, psi_torch = torch_gradients(net, X, Y, loss, l2, s)
    grads, E, psi = gradients(net, X, Y, loss, l2=l2, sample_weight=s, return_psi=True)
    np.testing.assert_allclose(net.predict(X), y_torch, rtol=1e-12, atol=1e-14)
    assert E == pytest.approx(E_torch, rel=1e-12, abs=1e-14)
    for l, (g, h) in enumerate(zip(grads, expected, strict=True)):
        np.testing.assert_allclose(g, h, rtol=1e-9, atol=1e-13, err_msg=f"∂E/∂W_{l}")
        maps = net.layers[l].maps(psi[l])  # Ψ_l: ∂E/∂z_l, as torch lays z_l out
        np.testing.assert_allclose(maps, psi_torch[l], rtol=1e-9, atol=1e-14, err_msg=f"Ψ_{l}")


def test_the_atari_network_equals_pytorch():
    net = Network(ATARI, ["relu"] * 4 + ["identity"], seed=0)
    rng = np.random.default_rng(0)
    X, Y = rng.uniform(size=(2, 4, 84, 84)), rng.normal(size=(2, 3))
    expected, E_torch, _, _ = torch_gradients(net, X, Y, "mse")
    grads, E = gradients(net, X, Y, "mse")
    assert E == pytest.approx(E_torch, rel=1e-12)
    for g, h in zip(grads, expected, strict=True):
        np.testing.assert_allclose(g, h, rtol=1e-8, atol=1e-12 * np.abs(h).max())


# ----------------------------------------------------------------- unfold and fold
@st.composite
def conv_layers(draw):
    """A Conv2D built for a random input, the first layer (reads (N, C, H, W)) or not
    (reads the rows (N·H·W, C) of a convolution below)."""
    C, H, W = draw(st.integers(1, 3)), draw(st.integers(1, 7)), draw(st.integers(1, 7))
    padding = _pair_or_int(draw, 0, 2)
    (ph, pw) = _as_pair(padding)
    kh, kw = draw(st.integers(1, H + 2 * ph)), draw(st.integers(1, W + 2 * pw))
    layer = Conv2D(draw(st.integers(1, 3)), (kh, kw), _pair_or_int(draw, 1, 3), padding)
    return layer.build((C, H, W), first=draw(st.booleans())), draw(st.integers(1, 3))


def _as_maps(layer, X):
    """The layer's input as (N, C, H, W) maps, whichever layout it reads."""
    C, H, W = layer.in_shape
    return X if layer.first else X.reshape(-1, H, W, C).transpose(0, 3, 1, 2)


def _random_input(layer, N, rng):
    C, H, W = layer.in_shape
    return rng.normal(size=(N, C, H, W) if layer.first else (N * H * W, C))


@settings(max_examples=80, deadline=None)
@given(conv_layers(), st.integers(0, 2**16))
def test_unfold_and_fold_are_adjoint(built, seed):
    """<unfold(X), G> = <X, fold(G)>: fold is the transpose of unfold, which is what
    sends each patch value's gradient back onto the pixel it was read from."""
    layer, N = built
    rng = np.random.default_rng(seed)
    X = _random_input(layer, N, rng)
    G = rng.normal(size=(N * layer.positions, layer.n_in))
    folded = layer.fold(G)
    assert folded.shape == X.shape
    assert np.vdot(layer.unfold(X), G) == pytest.approx(np.vdot(X, folded), rel=1e-12, abs=1e-12)


@settings(max_examples=80, deadline=None)
@given(conv_layers(), st.integers(0, 2**16))
def test_unfold_is_the_loop_over_positions(built, seed):
    layer, N = built
    rng = np.random.default_rng(seed)
    X = _random_input(layer, N, rng)
    (kh, kw), (sh, sw), (ph, pw) = layer.kernel_size, layer.stride, layer.padding
    F, Ho, Wo = layer.out_shape
    padded = np.pad(_as_maps(layer, X), ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    expected = np.array([
        padded[n, :, i * sh : i * sh + kh, j * sw : j * sw + kw].reshape(-1)  # (C, kh, kw)
        for n in range(N) for i in range(Ho) for j in range(Wo)
    ])  # fmt: skip
    assert layer.positions == Ho * Wo and F == layer.filters
    np.testing.assert_array_equal(layer.unfold(X), expected)
    rows = rng.normal(size=(N * Ho * Wo, F))
    np.testing.assert_array_equal(layer.maps(rows)[:, :, 0, 0], rows[:: Ho * Wo])


def test_a_dense_layer_after_a_convolution_flattens_as_torch():
    conv = Conv2D(3, 2).build((1, 4, 5), first=True)
    dense = Dense(2).build(conv.out_shape, first=False)
    rng = np.random.default_rng(0)
    rows, G = rng.normal(size=(2 * 12, 3)), rng.normal(size=(2, 36))
    np.testing.assert_array_equal(dense.unfold(rows), conv.maps(rows).reshape(2, -1))
    assert np.vdot(dense.unfold(rows), G) == pytest.approx(np.vdot(rows, dense.fold(G)))


# ----------------------------------------------------------------- the network
def test_the_atari_network_has_1685667_weights():
    net = Network(ATARI, ["relu"] * 4 + ["identity"], seed=0)
    assert net.n_params == 1_685_667
    assert [W.shape for W in net.weights] == [(32, 257), (64, 513), (64, 577), (512, 3137),
                                              (3, 513)]  # fmt: skip
    assert net.sizes == (4 * 84 * 84, 32 * 20 * 20, 64 * 9 * 9, 64 * 7 * 7, 512, 3)
    assert [q.out_shape for q in net.layers[:3]] == [(32, 20, 20), (64, 9, 9), (64, 7, 7)]
    assert net.input_shape == (4, 84, 84) and net.convolutional and net.n_layers == 5
    assert net.architecture == ATARI
    assert "total parameters: 1,685,667" in net.summary()
    assert net.predict(np.zeros((4, 84, 84))).shape == (3,)  # one sample, (C, H, W)


def _small_net(**kwargs):
    sizes = [(2, 5, 6), Conv2D(3, (3, 2), stride=2, padding=1), Conv2D(2, 2), 4]
    return Network(sizes, ["relu", "tanh", "sigmoid"], **kwargs)


def test_copy_repr_and_summary():
    net = _small_net(seed=0)
    clone = net.copy()
    assert clone.architecture == net.architecture and clone.layers == net.layers
    for W, V in zip(net.weights, clone.weights, strict=True):
        np.testing.assert_array_equal(W, V)
        assert not np.shares_memory(W, V)
    X = np.random.default_rng(0).normal(size=(3, 2, 5, 6))
    np.testing.assert_array_equal(clone.predict(X), net.predict(X))
    clone.weights[0][0, 0] += 1.0
    assert net.weights[0][0, 0] != clone.weights[0][0, 0]
    single = net.copy(dtype=np.float32)
    assert single.dtype == np.float32 and single.architecture == net.architecture
    np.testing.assert_allclose(single.predict(X), net.predict(X), rtol=1e-5, atol=1e-6)

    text = repr(net)
    assert text.startswith(
        "Network(sizes=[(2, 5, 6), Conv2D(3, (3, 2), stride=2, padding=1), Conv2D(2, 2), 4], "
        "activations=['relu', 'tanh', 'sigmoid'], dtype=float64, params="
    )
    sizes_text = text[len("Network(sizes=") : text.index(", activations")]
    assert eval(sizes_text, {"Conv2D": Conv2D}) == net.architecture  # repr rebuilds it
    summary = net.summary()
    assert "0 Conv2D(3, (3, 2), stride=2, padding=1)" in summary
    assert "2×5×6 -> 3×3×4" in summary and "3×3×4 -> 2×2×3" in summary
    assert "2×2×3 -> 4" in summary and "(3, 13)" in summary and "(4, 13)" in summary
    assert summary.endswith(f"total parameters: {net.n_params:,} (float64)")


def test_the_same_seed_gives_the_same_weights():
    a, b, c = _small_net(seed=7), _small_net(seed=7), _small_net(seed=8)
    for W, V in zip(a.weights, b.weights, strict=True):
        np.testing.assert_array_equal(W, V)
    assert not np.array_equal(a.weights[0], c.weights[0])


def test_initial_scales_count_the_kernel_in_the_fans():
    """He: N(0, 2/fan_in), fan_in = C·kh·kw; Glorot: U(±√(6/(fan_in + fan_out))), fan_out =
    filters·kh·kw; a dense layer after the maps: fan_in = C·H·W. Biases start at 0."""
    he = Network(ATARI, ["relu"] * 4 + ["identity"], seed=0)
    glorot = Network(ATARI, "tanh", seed=0)
    fans = [(4 * 64, 32 * 64), (32 * 16, 64 * 16), (64 * 9, 64 * 9), (3136, 512), (512, 3)]
    for l, (fan_in, fan_out) in enumerate(fans):
        assert not he.weights[l][:, -1].any() and not glorot.weights[l][:, -1].any()
        W = he.weights[l][:, :-1]
        if W.size > 1000:
            assert W.std() == pytest.approx(math.sqrt(2 / fan_in), rel=0.05), l
        limit = math.sqrt(6 / (fan_in + fan_out))
        V = glorot.weights[l][:, :-1]
        assert np.abs(V).max() <= limit
        if V.size > 1000:
            assert np.abs(V).max() > 0.98 * limit and V.std() == pytest.approx(
                limit / math.sqrt(3), rel=0.05
            ), l


@pytest.mark.parametrize(
    ("make", "error", "match"),
    [
        (lambda: Conv2D(0, 3), ValueError, "Conv2D filters must be >= 1, got 0"),
        (lambda: Conv2D(4, 0), ValueError, "Conv2D kernel_size must be >= 1, got 0"),
        (lambda: Conv2D(4, (3, 0)), ValueError, r"kernel_size must be >= 1, got \(3, 0\)"),
        (lambda: Conv2D(4, 3, stride=0), ValueError, "Conv2D stride must be >= 1, got 0"),
        (lambda: Conv2D(4, 3, padding=-1), ValueError, "Conv2D padding must be >= 0, got -1"),
        (lambda: Conv2D(4, 2.5), TypeError, "kernel_size must be an int or a pair of ints"),
        (lambda: Conv2D(4, (2, 2, 2)), TypeError, "kernel_size must be an int or a pair"),
        (lambda: Conv2D(4, "3"), TypeError, "kernel_size must be an int or a pair"),
        (lambda: Conv2D(2.0, 3), TypeError, "Conv2D filters must be an int, got float"),
        (lambda: Conv2D(True, 3), TypeError, "Conv2D filters must be an int, got bool"),
        (lambda: Conv2D(4, 3, stride=(1, True)), TypeError, "stride must be an int or a pair"),
    ],
)
def test_a_bad_conv2d_is_refused(make, error, match):
    with pytest.raises(error, match=match):
        make()


@pytest.mark.parametrize(
    ("sizes", "error", "match"),
    [
        (
            [(1, 4, 4), Conv2D(2, 5), 3],
            ValueError,
            r"kernel 5×5 is larger than its padded input 4×4",
        ),
        ([(1, 4, 4), Conv2D(2, 7, padding=1), 3], ValueError, "larger than its padded input 6×6"),
        ([(1, 9, 4), Conv2D(2, (1, 5)), 3], ValueError, "kernel 1×5 is larger"),
        ([(1, 8, 8), Conv2D(2, 3), Conv2D(2, 7), 3], ValueError, r"input 2×6×6"),
        ([(1, 8, 8), 4, Conv2D(2, 2), 3], ValueError, r"Conv2D\(2, 2\) needs an image input"),
        ([64, Conv2D(2, 2), 3], ValueError, r"needs an image input \(C, H, W\)"),
        ([(1, 8, 8), Conv2D(2, 2)], ValueError, "the last layer must be a dense width"),
        ([(1, 8), 3], ValueError, r"an image input must be a \(channels, height, width\) tuple"),
        ([(1, 8, 8, 8), 3], ValueError, "an image input must be a"),
        ([(0, 8, 8), 3], ValueError, "tuple of ints >= 1"),
        ([(1.0, 8, 8), 3], ValueError, "tuple of ints >= 1"),
        ([(True, 8, 8), 3], ValueError, "tuple of ints >= 1"),
        ([(1, 8, 8), Conv2D(2, 2), "3"], TypeError, "sizes must be ints"),
        ([(1, 8, 8), Conv2D(2, 2), 0], ValueError, "sizes must be >= 1"),
    ],
)
def test_a_bad_architecture_is_refused(sizes, error, match):
    with pytest.raises(error, match=match):
        Network(sizes, "relu")


@pytest.mark.parametrize(
    "shape",
    [
        (3, 60),
        (3, 2, 5),
        (3, 1, 5, 6),
        (3, 3, 5, 6),
        (3, 2, 4, 6),
        (3, 2, 5, 7),
        (5, 6),
        (1, 3, 2, 5, 6),
        (0, 2, 5, 6),
    ],
)
def test_x_of_the_wrong_shape_is_refused_and_the_network_unchanged(shape):
    net = _small_net(seed=0)
    rng = np.random.default_rng(0)
    X, Y = rng.normal(size=(3, 2, 5, 6)), rng.uniform(size=(3, 4))
    net.forward(X)
    cache, weights = net.cache, [W.copy() for W in net.weights]
    z = [a.copy() for a in cache.z]
    bad = rng.normal(size=shape)
    message = r"X must (have shape \(N, 2, 5, 6\) or \(2, 5, 6\)|hold at least one sample)"
    for call in (
        lambda: net.forward(bad),
        lambda: net.predict(bad),
        lambda: gradients(net, bad, Y, "mse"),
        lambda: trace(net, bad, Y, "mse"),
        lambda: check_gradients(net, bad, Y, "mse"),
    ):
        with pytest.raises(ValueError, match=message):
            call()
        assert net.cache is cache
        for a, b in zip(z, net.cache.z, strict=True):
            np.testing.assert_array_equal(a, b)
        for W, V in zip(weights, net.weights, strict=True):
            np.testing.assert_array_equal(W, V)


def test_targets_of_the_wrong_shape_are_refused():
    net = _small_net(seed=0)
    X = np.zeros((3, 2, 5, 6))
    with pytest.raises(ValueError, match=r"Y must have shape \(3, 4\)"):
        gradients(net, X, np.zeros((3, 2)), "mse")


# ----------------------------------------------------------------- trace
def test_trace_shows_each_convolutions_rows_as_samples_times_positions():
    net = Network(ATARI, ["relu"] * 4 + ["identity"], seed=0)
    rng = np.random.default_rng(0)
    X, Y = rng.uniform(size=(2, 4, 84, 84)), rng.normal(size=(2, 3))
    t = trace(net, X, Y, "mse")
    grads, E = gradients(net, X, Y, "mse")
    assert t.E == E and [layer.positions for layer in t.layers] == [400, 81, 49, 1, 1]
    for l, layer in enumerate(t.layers):
        assert layer.spec == net.layers[l]
        assert layer.X_bar.shape[0] == layer.z.shape[0] == layer.psi.shape[0] == 2 * layer.positions
        np.testing.assert_array_equal(layer.grad_W, grads[l])
        np.testing.assert_allclose(layer.grad_W, layer.psi.T @ layer.X_bar, rtol=1e-10)
    assert t.layers[0].spec.maps(t.layers[0].a).shape == (2, 32, 20, 20)
    text = str(t)
    for cell in ("(N·P = 2·400, 257)", "(2·400, 32)", "(N·P = 2·81, 513)", "(2·49, 64)",
                 "(2, 3137)", "(512, 3137)", "Conv2D(32, 8, stride=4) → 32×20×20",
                 "Dense(512)", "N·P rows (P = Ho·Wo)"):  # fmt: skip
        assert cell in text, cell
    lines = text.splitlines()
    assert len(lines) == 3 + 2 + 5  # title (3 lines: the rows' note), header, rule, a row a layer
    assert lines[3].split()[:2] == ["l", "layer"]
    html = t._repr_html_()
    assert "(N·P = 2·400, 257)" in html and "Conv2D(32, 8, stride=4)" in html
    assert not t.is_small


def test_a_small_convolutional_trace_shows_its_numbers():
    net = Network([(1, 3, 3), Conv2D(2, 2), 2], ["tanh", "softmax"], seed=0)
    X, Y = np.random.default_rng(0).normal(size=(2, 1, 3, 3)), np.eye(2)
    t = trace(net, X, Y, "categorical_crossentropy")
    assert t.is_small  # 2 samples × 4 positions = 8 rows
    values = t.values()
    assert "layer 0 (Conv2D(2, 2) → 2×2×2, tanh; rows: sample by sample" in values
    assert "layer 1 (softmax)" in values and values.count("[1]") == 0
    assert "samples × positions" in t._repr_html_()
    bigger = trace(net, np.zeros((3, 1, 3, 3)), np.eye(2)[[0, 1, 0]], "categorical_crossentropy")
    assert not bigger.is_small  # 12 rows


def test_a_dense_trace_prints_as_before():
    net = Network([2, 3, 1], ["relu", "sigmoid"], seed=1)
    t = trace(net, np.array([[1.0, -1.0]]), np.array([[1.0]]), "binary_crossentropy")
    text = str(t)
    assert "N·P" not in text and "layer" not in text.splitlines()[2]
    assert text.splitlines()[2].split()[:2] == ["l", "X̄_l"]
    assert t.layers[0].positions == 1 and not t.layers[0].convolution


# ----------------------------------------------------------------- check_gradients
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_check_gradients_passes_on_a_convolutional_network(dtype):
    net = Network([(2, 5, 5), Conv2D(2, 3, padding=1, stride=2), Conv2D(3, 2), 2],
                  ["tanh", "softplus", "sigmoid"], seed=2, dtype=dtype)  # fmt: skip
    rng = np.random.default_rng(2)
    X, Y = rng.normal(size=(3, 2, 5, 5)), rng.integers(0, 2, (3, 2)).astype(float)
    before = [W.copy() for W in net.weights]
    report = check_gradients(net, X, Y, "binary_crossentropy", l2=0.01)
    assert report.passed, str(report)
    assert [row.shape for row in report.layers] == [W.shape for W in net.weights]
    assert all(W.dtype == dtype for W in net.weights)
    for W, V in zip(before, net.weights, strict=True):
        assert W.tobytes() == V.tobytes()
    numeric = numerical_gradients(net.copy(dtype=np.float64), X, Y, "binary_crossentropy")
    grads, E = gradients(net.copy(dtype=np.float64), X, Y, "binary_crossentropy")
    assert_matches_differences(grads, numeric, E)


def test_check_gradients_says_when_zero_padding_puts_z_at_a_kink():
    """A patch all in the zero padding has z = its filter's bias, 0 as initialised: a
    relu kink that no other input moves. The report says so, and what to do."""
    net = Network([(1, 4, 4), Conv2D(2, 2, padding=2), 2], ["relu", "softmax"], seed=0)
    rng = np.random.default_rng(0)
    X, Y = rng.normal(size=(3, 1, 4, 4)), np.eye(2)[[0, 1, 0]]
    report = check_gradients(net, X, Y, "categorical_crossentropy")
    assert not report.passed and "relu kink (layer 0, |z| = 0e+00" in report.layers[0].reason
    assert "give the biases nonzero values" in report.layers[0].reason
    net.weights[0][:, -1] = 0.3
    assert check_gradients(net, X, Y, "categorical_crossentropy").passed


# ----------------------------------------------------------------- plot_network
def _texts(fig):
    from matplotlib.text import Text

    return [t.get_text() for t in fig.findobj(Text)]


def test_plot_network_draws_each_layer_of_maps_as_a_labelled_box(tmp_path):
    require_extra("matplotlib", "plot")
    from matplotlib.patches import Polygon, Rectangle

    from psinet import plot as psiplot

    net = Network(ATARI, ["relu"] * 4 + ["identity"], seed=0)
    fig = psiplot.plot_network(net, path=tmp_path / "atari.png")
    assert (tmp_path / "atari.png").read_bytes()[:4] == b"\x89PNG"
    boxes = {r.get_gid() for r in fig.findobj(Rectangle) if (r.get_gid() or "").startswith("maps")}
    assert boxes == {"maps:0", "maps:1", "maps:2", "maps:3"}  # the input and three convolutions
    cones = {p.get_gid() for p in fig.findobj(Polygon) if (p.get_gid() or "").startswith("conv")}
    assert cones == {"conv:0", "conv:1", "conv:2"}
    texts = _texts(fig)
    for label in ("4×84×84\ninput", "32×20×20\nConv2D(32, 8, stride=4)",
                  "64×9×9\nConv2D(64, 4, stride=2)", "64×7×7\nConv2D(64, 3)",
                  "W_0: (32, 257)", "… 505 more"):  # fmt: skip
        assert label in texts, label
    assert "4×84×84-32×20×20-64×9×9-64×7×7-512-3" in fig.axes[0].get_title()
    legend = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert "a layer of maps, C×H×W (one box)" in legend


def test_plot_network_backward_on_a_small_conv_net_places_every_number(tmp_path):
    require_extra("matplotlib", "plot")
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.patches import Circle
    from matplotlib.text import Text

    from psinet import plot as psiplot

    net = Network([(1, 6, 6), Conv2D(2, 3), Conv2D(2, 2, stride=2), 3],
                  ["tanh", "relu", "softmax"], seed=0)  # fmt: skip
    rng = np.random.default_rng(0)
    X, Y = rng.normal(size=(1, 6, 6)), np.array([0.0, 1.0, 0.0])
    fig = psiplot.plot_network(net, X, Y, "categorical_crossentropy", show="backward",
                               path=tmp_path / "small.png")  # fmt: skip
    t = trace(net, X[None], Y[None], "categorical_crossentropy")
    printed = {x.get_gid(): x.get_text() for x in fig.findobj(Text) if x.get_gid()}
    for l in (0, 1):
        norm = float(np.linalg.norm(t.layers[l].grad_W))
        assert printed[f"grad_norm:{l}"] == f"‖∂E/∂W_{l}‖ = {norm:.4g}"
    for i in range(3):
        assert printed[f"psi:2:{i}"] == f"Ψ = {t.layers[2].psi[0, i]:.4g}"
    assert "2×4×4\nConv2D(2, 3)" in _texts(fig)
    FigureCanvasAgg(fig)
    fig.canvas.draw()
    ax = fig.axes[0]
    nodes = [c.get_window_extent() for c in ax.patches if isinstance(c, Circle)]
    labels = []
    for text in [*ax.texts, ax.title]:
        box = text.get_window_extent()
        cx, cy = (box.x0 + box.x1) / 2, (box.y0 + box.y1) / 2
        if text.get_text() and not any(n.x0 < cx < n.x1 and n.y0 < cy < n.y1 for n in nodes):
            labels.append((text.get_text(), box))
    for a, (text_a, box_a) in enumerate(labels):
        for text_b, box_b in labels[a + 1 :]:
            assert not box_a.overlaps(box_b), f"{text_a!r} overlaps {text_b!r}"
        assert not any(box_a.overlaps(node) for node in nodes), f"{text_a!r} covers a node"


def test_plot_network_wants_one_image_sample():
    require_extra("matplotlib", "plot")
    from matplotlib.text import Text

    from psinet import plot as psiplot

    net = Network([(1, 4, 4), Conv2D(2, 2), 1], ["tanh", "sigmoid"], seed=0)
    with pytest.raises(
        ValueError, match=r"X must be one sample, of shape \(1, 4, 4\) or \(1, 1, 4, 4\)"
    ):
        psiplot.plot_network(net, np.zeros((2, 1, 4, 4)), [[1.0], [0.0]], "mse", show="forward")
    fig = psiplot.plot_network(net, np.zeros((1, 4, 4)), [1.0], "mse", show="forward")
    printed = {x.get_gid() for x in fig.findobj(Text) if x.get_gid()}
    assert printed == {"z:1:0", "a:1:0"}  # the output neuron's numbers; no x for the image


# ----------------------------------------------------------------- check_backprop
def test_check_backprop_refuses_an_image_network_with_a_clear_message():
    from psinet.check_backprop import check_backprop

    for sizes in ([(1, 4, 4), Conv2D(2, 2), 3], [(1, 4, 4), 3]):
        net = Network(sizes, "sigmoid", seed=0)
        with pytest.raises(ValueError, match="checks the backprop of a dense network") as caught:
            check_backprop(lambda W, X, Y: [np.zeros_like(w) for w in W], net)
        assert "psinet.check_gradients" in str(caught.value) and "1×4×4" in str(caught.value)

    def right(W, X, Y):
        ref = Network([2, 1], "sigmoid")
        ref.weights = W
        return gradients(ref, X, Y, "mse")[0]

    assert check_backprop(right, Network([2, 1], "sigmoid", seed=0)).passed  # dense: as before


# ----------------------------------------------------------------- from a new user's trial
def test_padding_same_and_valid_as_in_keras_and_pytorch():
    assert psinet.Conv2D(4, 3, padding="same").padding == (1, 1)
    assert psinet.Conv2D(4, (3, 5), padding="same").padding == (1, 2)
    assert psinet.Conv2D(4, 3, padding="valid").padding == (0, 0)
    net = psinet.Network([(2, 7, 6), psinet.Conv2D(3, 5, padding="same"), 2], ["tanh", "identity"])
    assert net.layers[0].out_shape == (3, 7, 6)  # the maps keep their size
    with pytest.raises(ValueError, match="needs stride 1 and an odd kernel"):
        psinet.Conv2D(4, 2, padding="same")
    with pytest.raises(ValueError, match="needs stride 1 and an odd kernel"):
        psinet.Conv2D(4, 3, stride=2, padding="same")
    with pytest.raises(ValueError, match="'valid' or 'same', got 'full'"):
        psinet.Conv2D(4, 3, padding="full")


@pytest.mark.parametrize(
    ("shape", "hint"),
    [((4, 12, 12, 1), "X.transpose(0, 3, 1, 2)"), ((4, 144), "X.reshape(-1, 1, 12, 12)")],
)
def test_images_given_channels_last_or_flat_get_a_hint(shape, hint):
    net = psinet.Network([(1, 12, 12), psinet.Conv2D(4, 3), 10], ["relu", "softmax"], seed=0)
    with pytest.raises(ValueError, match=re.escape(hint)):
        net.forward(np.zeros(shape))


def test_the_kink_advice_names_a_smaller_eps_and_it_passes():
    net = psinet.Network(
        [(1, 12, 12), psinet.Conv2D(6, 3, padding=1), psinet.Conv2D(8, 3, stride=2), 10],
        ["relu", "relu", "softmax"],
        seed=0,
    )
    X = np.random.default_rng(0).normal(size=(5, 1, 12, 12))
    Y = psinet.one_hot([0, 1, 2, 3, 4], 10)
    report = psinet.check_gradients(net, X, Y, "categorical_crossentropy")
    reasons = " ".join(row.reason for row in report.layers)
    if not report.passed:  # finite differences straddle a kink at eps = 1e-3
        assert "relu kinks (layer 0" in reasons and "are within reach" in reasons
        assert "smaller eps (e.g. eps=1e-06)" in reasons
    assert psinet.check_gradients(net, X, Y, "categorical_crossentropy", eps=1e-6).passed


def test_summary_names_every_layer_of_a_convolutional_network():
    net = psinet.Network([(1, 8, 8), psinet.Conv2D(4, 3), 10], ["relu", "softmax"], seed=0)
    text = net.summary()
    assert "0 Conv2D(4, 3)" in text and "1 Dense(10)" in text
