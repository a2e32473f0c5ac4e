"""psinet.interop: to_torch / from_torch against PyTorch itself, safetensors against its package.

psinet's conventions written in torch: the loss sums over the outputs and averages over
the samples, mse carries a ½. The activation modules alone are bit-identical where torch
runs the same operation (ReLU, LeakyReLU, Identity) and a few ulps apart elsewhere; whole
forward passes never are bit-identical (a Linear adds its bias after the product, psinet
inside it), but agree to a few ulps of the output's scale in float32 and float64.
"""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from _helpers import require_extra, valid_targets
from psinet import Network, gradients, optimizers
from psinet import activations as A
from psinet.interop import from_torch, load_safetensors, save_safetensors, to_torch
from psinet.io import FormatError

ACTIVATIONS = [
    A.Sigmoid(),
    A.Tanh(),
    A.ReLU(),
    A.LeakyReLU(0.2),
    A.ELU(0.5),
    A.Softplus(),
    A.Identity(),
    A.Softmax(),
]
# Bit-identical as modules alone, in float32 and float64 (torch runs the very same ops);
# ELU's expm1 differs from NumPy's by an ulp now and then, the others by a few ulps.
EXACT = {"relu", "leaky_relu", "identity"}
# (output activation, loss): every loss, fused and unfused starts
PAIRS = [
    ("identity", "mse"),
    ("tanh", "mse"),
    ("softmax", "mse"),
    ("sigmoid", "binary_crossentropy"),
    ("softmax", "categorical_crossentropy"),
]  # (sigmoid + categorical cross-entropy is refused: its E is not a loss of those outputs)


@pytest.fixture(scope="module")
def torch():
    return require_extra("torch", "torch")


def _net(hidden, output="identity", dtype=np.float64, seed=0):
    return Network([3, 5, 4, 3], [hidden, hidden, output], seed=seed, dtype=dtype)


def _data(n=7, seed=1):
    return np.random.default_rng(seed).normal(size=(n, 3))


def _same_weights(a, b):
    return all(
        Wa.dtype == Wb.dtype and np.array_equal(Wa, Wb)
        for Wa, Wb in zip(a.weights, b.weights, strict=True)
    )


# ---------------------------------------------------------------------------- forward


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("f", ACTIVATIONS, ids=repr)
def test_activation_modules_compute_psinets_function(torch, f, dtype):
    from psinet.interop import _activation_module

    rng = np.random.default_rng(0)
    z = np.concatenate([rng.normal(scale=s, size=(2000, 6)) for s in (1, 3, 10)])
    z[0, :3] = [0.0, 25.0, 45.0]  # softplus beyond torch's default linear switch (20)
    z = z.astype(dtype)
    expected = f.value(z)
    got = _activation_module(0, f)(torch.from_numpy(z)).numpy()
    assert got.dtype == expected.dtype == dtype
    if f.name in EXACT:
        assert np.array_equal(got, expected)
    else:  # measured: at most 1-4 ulps apart (sigmoid: in absolute terms, see the module)
        eps = np.finfo(dtype).eps
        np.testing.assert_allclose(got, expected, rtol=8 * eps, atol=8 * eps)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("f", ACTIVATIONS, ids=repr)
def test_to_torch_forward_equals_psinet(torch, f, dtype):
    # Never bit-identical: Linear adds the bias after the product, psinet inside it, and
    # the BLAS sums in another order. Measured: max|diff| <= 8 eps * max|output|.
    eps = np.finfo(dtype).eps
    for seed, sizes in enumerate([(3, 5, 4, 3), (10, 64, 32, 5), (64, 128, 10)]):
        net = Network(list(sizes), f, seed=seed, dtype=dtype)
        X = np.random.default_rng(seed).normal(size=(256, sizes[0])).astype(dtype)
        model = to_torch(net)
        assert model[0].weight.dtype == (torch.float64 if dtype == np.float64 else torch.float32)
        with torch.no_grad():
            got = model(torch.from_numpy(X)).numpy()
        expected = net.predict(X)
        assert np.abs(got - expected).max() <= 16 * eps * np.abs(expected).max()


def test_to_torch_float32_stays_float32(torch):
    net = _net("tanh", "sigmoid", dtype=np.float32)
    model = to_torch(net)
    assert {p.dtype for p in model.parameters()} == {torch.float32}
    X = _data().astype(np.float32)
    with torch.no_grad():
        got = model(torch.from_numpy(X)).numpy()
    np.testing.assert_allclose(got, net.predict(X), rtol=1e-5)


def test_to_torch_layout_and_logits(torch):
    net = _net("relu", "softmax")
    model = to_torch(net)
    assert [type(m).__name__ for m in model] == [
        "Linear", "ReLU", "Linear", "ReLU", "Linear", "Softmax",
    ]  # fmt: skip
    W = net.weights[1]
    assert np.array_equal(model[2].weight.detach().numpy(), W[:, :-1])
    assert np.array_equal(model[2].bias.detach().numpy(), W[:, -1])
    logits = to_torch(net, logits=True)
    assert type(logits[-1]).__name__ == "Linear"
    X = _data()
    with torch.no_grad():
        z = logits(torch.from_numpy(X))
        np.testing.assert_allclose(torch.softmax(z, -1).numpy(), net.predict(X), rtol=1e-12)
    assert list(logits.state_dict()) == list(model.state_dict())


def test_to_torch_leaves_torchs_random_state_alone(torch):
    torch.manual_seed(0)
    before = torch.rand(3)
    torch.manual_seed(0)
    to_torch(_net("tanh"))
    assert torch.equal(torch.rand(3), before)


def test_to_torch_params_are_copies(torch):
    net = _net("tanh")
    model = to_torch(net)
    W = net.weights[0].copy()
    with torch.no_grad():
        model[0].weight.add_(1.0)
    assert np.array_equal(net.weights[0], W)


# ---------------------------------------------------------------------------- gradients


def _torch_loss(torch, loss, y_hat, z, Y):
    """psinet's losses written in torch: sum over outputs, mean over samples, mse with ½."""
    N = Y.shape[0]
    if loss == "mse":
        return 0.5 * ((y_hat - Y) ** 2).sum() / N
    if loss == "binary_crossentropy":  # from the logits z, as psinet's fused start does
        f = torch.nn.functional.binary_cross_entropy_with_logits
        return f(z, Y, reduction="sum") / N
    if y_hat is not None and loss == "categorical_crossentropy":
        return -(Y * torch.log(y_hat)).sum() / N
    raise AssertionError(loss)


@pytest.mark.parametrize("f", ACTIVATIONS, ids=repr)
@pytest.mark.parametrize(("output", "loss"), PAIRS, ids=["-".join(p) for p in PAIRS])
def test_gradients_equal_torch_autograd(torch, f, output, loss):
    net = _net(f, output)
    X = _data()
    Y = valid_targets(loss, len(X), 3, np.random.default_rng(2))
    if loss == "binary_crossentropy":
        Y = np.random.default_rng(3).uniform(size=Y.shape)  # soft labels too
    grads, E = gradients(net, X, Y, loss)

    model = to_torch(net, logits=True)
    z = model(torch.from_numpy(X))
    y_hat = to_torch(net)[-1](z)
    E_torch = _torch_loss(torch, loss, y_hat, z, torch.from_numpy(Y))
    E_torch.backward()
    np.testing.assert_allclose(E, E_torch.item(), rtol=1e-12)
    for l, g in enumerate(grads):
        linear = model[2 * l]
        torch_g = np.concatenate(
            [linear.weight.grad.numpy(), linear.bias.grad.numpy()[:, None]], axis=1
        )
        scale = np.abs(torch_g).max()
        np.testing.assert_allclose(g, torch_g, rtol=1e-10, atol=1e-12 * scale)


@pytest.mark.parametrize(
    ("make_psinet", "make_torch"),
    [
        (
            lambda: optimizers.SGD(lr=0.1, momentum=0.9),
            lambda torch, p: torch.optim.SGD(p, lr=0.1, momentum=0.9),
        ),
        (
            lambda: optimizers.SGD(lr=0.1, momentum=0.9, nesterov=True),
            lambda torch, p: torch.optim.SGD(p, lr=0.1, momentum=0.9, nesterov=True),
        ),
        (
            lambda: optimizers.Adam(lr=0.01),
            lambda torch, p: torch.optim.Adam(p, lr=0.01, eps=1e-8),
        ),
    ],
    ids=["sgd-momentum", "sgd-nesterov", "adam"],
)
@pytest.mark.parametrize(("output", "loss"), PAIRS, ids=["-".join(p) for p in PAIRS])
def test_optimizer_steps_equal_torch_optim(torch, make_psinet, make_torch, output, loss):
    net = _net("tanh", output)
    start = net.weights[0].copy()
    model = to_torch(net, logits=True)
    output_module = to_torch(net)[-1]
    X = _data(12)
    Y = valid_targets(loss, 12, 3, np.random.default_rng(4))
    opt, opt_torch = make_psinet(), make_torch(torch, model.parameters())
    for _ in range(3):  # three steps: momentum and Adam's moments come into play
        grads, _ = gradients(net, X, Y, loss)
        opt.step(net.weights, grads)
        opt_torch.zero_grad()
        z = model(torch.from_numpy(X))
        _torch_loss(torch, loss, output_module(z), z, torch.from_numpy(Y)).backward()
        opt_torch.step()
    for W, W_torch in zip(net.weights, from_torch(model).weights, strict=True):
        np.testing.assert_allclose(W, W_torch, rtol=1e-10, atol=1e-13)
    assert not np.allclose(net.weights[0], start)  # it moved


def test_mse_loss_is_2_over_k_times_psinets(torch):
    net = _net("tanh", "identity")
    X, Y = _data(), np.random.default_rng(5).normal(size=(7, 3))
    E = gradients(net, X, Y, "mse")[1]
    with torch.no_grad():
        mse = torch.nn.MSELoss()(to_torch(net)(torch.from_numpy(X)), torch.from_numpy(Y))
    np.testing.assert_allclose(mse.item(), 2 / 3 * E, rtol=1e-12)


def test_torch_losses_against_psinets(torch):
    """CrossEntropyLoss on logits = psinet's cce; BCELoss = psinet's bce / k."""
    X = _data()
    net = _net("tanh", "softmax")
    Y = valid_targets("categorical_crossentropy", 7, 3, np.random.default_rng(6))
    with torch.no_grad():
        ce = torch.nn.CrossEntropyLoss()(to_torch(net, logits=True)(torch.from_numpy(X)),
                                         torch.from_numpy(Y))  # fmt: skip
    E = gradients(net, X, Y, "categorical_crossentropy")[1]
    np.testing.assert_allclose(ce.item(), E, rtol=1e-12)
    net = _net("tanh", "sigmoid")
    Y = valid_targets("binary_crossentropy", 7, 3, np.random.default_rng(7))
    with torch.no_grad():
        bce = torch.nn.BCELoss()(to_torch(net)(torch.from_numpy(X)), torch.from_numpy(Y))
    E = gradients(net, X, Y, "binary_crossentropy")[1]
    np.testing.assert_allclose(bce.item(), E / 3, rtol=1e-10)


# ---------------------------------------------------------------------------- from_torch


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("f", ACTIVATIONS, ids=repr)
def test_round_trip_is_bit_identical(torch, f, dtype):
    net = Network([4, 6, 2], [f, f], seed=7, dtype=dtype)
    back = from_torch(to_torch(net))
    assert _same_weights(net, back)
    assert back.activations == net.activations and back.sizes == net.sizes
    X = _data(5, seed=8)
    X = np.concatenate([X, X[:, :1]], axis=1)
    assert np.array_equal(back.predict(X), net.predict(X))


def test_round_trip_through_logits_with_output_activation(torch):
    net = _net("elu", "softmax")
    back = from_torch(to_torch(net, logits=True), output_activation="softmax")
    assert _same_weights(net, back) and back.activations == net.activations
    assert from_torch(to_torch(net, logits=True)).activations[-1] == A.Identity()


def test_from_torch_accepts_hand_written_sequentials(torch):
    nn = torch.nn
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Linear(3, 4),
        nn.LeakyReLU(),
        nn.Linear(4, 4),
        nn.Softplus(),  # torch's default threshold 20: accepted, the switch is off by e^-20
        nn.Linear(4, 2),
        nn.Softmax(dim=1),
    )
    net = from_torch(model)
    assert net.dtype == np.float32 and net.sizes == (3, 4, 4, 2)
    assert net.activations == (A.LeakyReLU(0.01), A.Softplus(), A.Softmax())
    X = _data().astype(np.float32)
    with torch.no_grad():
        np.testing.assert_allclose(net.predict(X), model(torch.from_numpy(X)).numpy(), rtol=1e-5)


def _refusal_cases(nn):
    return [
        (nn.Sequential(nn.Linear(3, 4), nn.GELU(), nn.Linear(4, 1)), 1, "GELU"),
        (nn.Sequential(nn.Linear(3, 4), nn.SiLU(), nn.Linear(4, 1)), 1, "SiLU"),
        (nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Dropout(0.5), nn.Linear(4, 1)), 2, "Dropout"),
        (nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 1, bias=False)), 2, "bias=False"),
        (nn.Sequential(nn.Linear(3, 4), nn.Linear(4, 1)), 1, "follows another Linear"),
        (nn.Sequential(nn.Linear(3, 4), nn.LeakyReLU(1.5), nn.Linear(4, 1)), 1, "leaky_relu"),
        (nn.Sequential(nn.Linear(3, 4), nn.LeakyReLU(-0.1), nn.Linear(4, 1)), 1, "leaky_relu"),
        (nn.Sequential(nn.Linear(3, 4), nn.ELU(alpha=0.0), nn.Linear(4, 1)), 1, "elu alpha"),
        (nn.Sequential(nn.Linear(3, 4), nn.ELU(alpha=-1.0), nn.Linear(4, 1)), 1, "elu alpha"),
        (nn.Sequential(nn.Linear(3, 4), nn.Softplus(beta=2.0), nn.Linear(4, 1)), 1, "beta=1"),
        (nn.Sequential(nn.Linear(3, 4), nn.Softplus(threshold=5.0), nn.Linear(4, 1)), 1, "20"),
        (nn.Sequential(nn.Linear(3, 4), nn.Softmax(dim=0)), 1, "dim=-1"),
        (nn.Sequential(nn.ReLU(), nn.Linear(3, 4)), 0, "does not follow a Linear"),
        (nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Tanh()), 2, "does not follow a Linear"),
        (nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(5, 1)), 2, "takes 5 inputs"),
        (nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 1).double()), 2, "one dtype"),
        (nn.Sequential(nn.Linear(3, 4).half()), 0, "float32 or float64"),
        (nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4)), 1, "no psinet counterpart"),
    ]


def test_from_torch_refusals_name_module_and_position(torch):
    for model, position, words in _refusal_cases(torch.nn):
        with pytest.raises(ValueError, match=rf"module {position} \('{position}'") as info:
            from_torch(model)
        assert words in str(info.value), (model, str(info.value))
        module_name = type(model[position]).__name__
        assert module_name in str(info.value)


def test_from_torch_refuses_other_things(torch):
    nn = torch.nn
    with pytest.raises(TypeError, match="Sequential"):
        from_torch(nn.Linear(3, 4))
    with pytest.raises(ValueError, match="empty"):
        from_torch(nn.Sequential())
    with pytest.raises(ValueError, match="ends with a Linear"):
        from_torch(nn.Sequential(nn.Linear(3, 4), nn.Tanh()), output_activation="softmax")

    class Doubled(nn.Sequential):
        def forward(self, x):
            return 2 * super().forward(x)

    with pytest.raises(TypeError, match="subclass Doubled"):
        from_torch(Doubled(nn.Linear(3, 4), nn.Tanh()))
    hooked = nn.Sequential(nn.Linear(3, 4), nn.Tanh())
    hooked[1].register_forward_hook(lambda module, args, out: out * 2)
    with pytest.raises(ValueError, match=r"module 1 \('1'.*forward hooks"):
        from_torch(hooked)
    hooked = nn.Sequential(nn.Linear(3, 4), nn.Tanh())
    hooked.register_forward_pre_hook(lambda module, args: args)
    with pytest.raises(ValueError, match="the Sequential has forward hooks"):
        from_torch(hooked)
    model = nn.Sequential(nn.Linear(3, 4), nn.Tanh())
    with torch.no_grad():
        model[0].weight[0, 0] = float("nan")
    with pytest.raises(ValueError, match="finite"):
        from_torch(model)


def test_to_torch_refuses_custom_activations(torch):
    class Cube(A.Activation):
        name = "test_interop_cube"

        def value(self, z, out=None):
            return np.power(z, 3, out=out)

        def derivative(self, z, a):
            return 3 * z * z

    net = Network([2, 2, 1], [Cube(), "identity"], seed=0)
    with pytest.raises(ValueError, match=r"layer 0.*built-ins"):
        to_torch(net)
    with pytest.raises(TypeError, match=r"psinet\.Network"):
        to_torch("net")
    with pytest.raises(TypeError, match="logits"):
        to_torch(_net("tanh"), logits=1)


def test_missing_torch_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", None)  # import torch now raises ImportError
    with pytest.raises(ImportError, match=r"psinet\[torch\]"):
        to_torch(_net("tanh"))
    with pytest.raises(ImportError, match=r"psinet\[torch\]"):
        from_torch(object())


def test_import_psinet_loads_no_optional_dependency():
    code = (
        "import sys, psinet, psinet.interop, psinet.io; "
        "print(sorted(m for m in ('torch', 'sklearn', 'matplotlib', 'safetensors') "
        "if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


# ---------------------------------------------------------------------------- safetensors


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_safetensors_round_trip_numpy_only(tmp_path, dtype):
    net = Network([3, 4, 2], [A.LeakyReLU(0.3), "softmax"], seed=3, dtype=dtype)
    path = save_safetensors(net, tmp_path / "m.safetensors")
    back = load_safetensors(path)
    assert _same_weights(net, back) and back.activations == net.activations
    raw = path.read_bytes()
    n = int.from_bytes(raw[:8], "little")
    header = json.loads(raw[8 : 8 + n])
    code = "F64" if dtype == np.float64 else "F32"
    size = 12 * np.dtype(dtype).itemsize
    assert header["0.weight"] == {"dtype": code, "shape": [4, 3], "data_offsets": [0, size]}
    assert (8 + n) % 8 == 0 and len(raw) == 8 + n + net.n_params * np.dtype(dtype).itemsize


def test_safetensors_package_reads_psinets_file(torch, tmp_path):
    st = require_extra("safetensors.torch", "safetensors")
    net = _net("softplus", "sigmoid")
    path = save_safetensors(net, tmp_path / "m.safetensors")
    state = st.load_file(str(path))
    model = to_torch(net)
    assert list(state) == list(model.state_dict())
    fresh = to_torch(_net("softplus", "sigmoid", seed=9))  # other weights
    fresh.load_state_dict(state)
    assert _same_weights(from_torch(fresh), net)
    np_state = require_extra("safetensors.numpy", "safetensors").load_file(str(path))
    assert np.array_equal(np_state["2.bias"], net.weights[1][:, -1])


def test_psinet_reads_safetensors_packages_file(torch, tmp_path):
    st = require_extra("safetensors.torch", "safetensors")
    nn = torch.nn
    torch.manual_seed(1)
    model = nn.Sequential(nn.Linear(3, 5), nn.Tanh(), nn.Linear(5, 2)).double()
    path = tmp_path / "torch.safetensors"
    st.save_file(model.state_dict(), str(path))
    with pytest.raises(ValueError, match="activations="):
        load_safetensors(path)
    net = load_safetensors(path, activations=["tanh", "identity"])
    assert _same_weights(net, from_torch(model))


def test_save_safetensors_is_atomic_and_checked(tmp_path):
    net = _net("tanh")
    path = save_safetensors(net, tmp_path / "m.safetensors")
    before = path.read_bytes()
    bad = _net("tanh", seed=1)
    bad.weights[0][0, 0] = np.nan
    with pytest.raises(ValueError, match="finite"):
        save_safetensors(bad, path)
    assert path.read_bytes() == before and os.listdir(tmp_path) == ["m.safetensors"]
    with pytest.raises(ValueError, match="path must name a file"):
        save_safetensors(net, tmp_path)
    with pytest.raises(TypeError, match=r"psinet\.Network"):
        save_safetensors(object(), path)


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX special files")
@pytest.mark.parametrize("via_link", [False, True], ids=["direct", "symlink"])
@pytest.mark.parametrize("kind", ["fifo", "socket", "directory"])
def test_save_safetensors_refuses_to_replace_a_special_file(tmp_path, kind, via_link):
    import socket
    import stat

    special = tmp_path / "m.safetensors"
    if kind == "fifo":
        os.mkfifo(special)
    elif kind == "socket":
        with socket.socket(socket.AF_UNIX) as s:
            cwd = os.getcwd()
            os.chdir(tmp_path)  # a relative name: AF_UNIX paths are short
            try:
                s.bind(special.name)
            finally:
                os.chdir(cwd)
    else:
        special.mkdir()
    st = os.lstat(special)
    target = special
    if via_link:  # followed, as load_safetensors follows it
        target = tmp_path / "link.safetensors"
        target.symlink_to(special)
    names = sorted(os.listdir(tmp_path))
    with pytest.raises(ValueError, match=r"must name a (regular )?file") as caught:
        save_safetensors(_net("tanh"), target)
    if kind != "directory":
        what = {"fifo": "a named pipe (FIFO)", "socket": "a socket"}[kind]
        assert what in str(caught.value) and str(special) in str(caught.value)
    after = os.lstat(special)
    assert (stat.S_IFMT(after.st_mode), after.st_ino) == (stat.S_IFMT(st.st_mode), st.st_ino)
    assert sorted(os.listdir(tmp_path)) == names  # no temporary file left


def _write(path, header, data=b"", length=None):
    raw = json.dumps(header).encode()
    n = len(raw) if length is None else length
    path.write_bytes(n.to_bytes(8, "little") + raw + data)
    return path


def test_load_safetensors_refuses_bad_files(tmp_path):
    p = tmp_path / "bad.safetensors"
    w = np.zeros((2, 3)).tobytes() + np.zeros(2).tobytes()
    good = {
        "0.weight": {"dtype": "F64", "shape": [2, 3], "data_offsets": [0, 48]},
        "0.bias": {"dtype": "F64", "shape": [2], "data_offsets": [48, 64]},
    }
    assert load_safetensors(_write(p, good, w), activations="tanh").sizes == (3, 2)
    cases = [
        (dict(good), w[:-1], "within the 63 data bytes"),
        (dict(good), w + bytes(8), "end at byte 64, but the file holds 72"),
        ({**good, "0.bias": {**good["0.bias"], "dtype": "I64"}}, w, "F64 or F32"),
        ({**good, "0.bias": {**good["0.bias"], "dtype": "F32"}}, w, "needs 8 bytes"),
        ({**good, "0.bias": {**good["0.bias"], "data_offsets": [40, 56]}}, w, "tile"),
        ({**good, "0.bias": {**good["0.bias"], "shape": [3]}}, w, "needs 24 bytes"),
        ({**good, "x": good["0.bias"]}, w, "named"),
        ({"0.weight": good["0.weight"]}, w[:48], "'0.bias' is missing"),
        ({**good, "0.weight": {**good["0.weight"], "extra": 1}}, w, "exactly dtype"),
        ({**good, "__metadata__": {"a": 1}}, w, "strings to strings"),
        ({**good, "__metadata__": {"psinet_activations": '[{"name": "nope"}]'}}, w, "list"),
    ]
    for header, data, words in cases:
        with pytest.raises(FormatError, match=words):
            load_safetensors(_write(p, header, data))
    with pytest.raises(FormatError, match="at most"):
        load_safetensors(_write(p, good, w, length=1 << 40))
    p.write_bytes(b"\x01\x00")
    with pytest.raises(FormatError, match="expected a safetensors file"):
        load_safetensors(p)
    p.write_bytes((4).to_bytes(8, "little") + b"[1] ")
    with pytest.raises(FormatError, match="JSON object"):
        load_safetensors(p)
    nan = np.full((2, 3), np.nan).tobytes() + np.zeros(2).tobytes()
    with pytest.raises(FormatError, match="finite"):
        load_safetensors(_write(p, good, nan), activations="tanh")
    with pytest.raises(FormatError, match="regular file"):
        os.mkfifo(tmp_path / "fifo")
        load_safetensors(tmp_path / "fifo")


def test_readme_when_you_outgrow_psinet_examples_run(torch, tmp_path, monkeypatch, capsys):
    """The README's ```py blocks of that section (they need the torch and sklearn extras)."""
    import re
    from pathlib import Path

    require_extra("sklearn", "sklearn")
    text = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    section = text.split("## When you outgrow psinet", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```py\n(.*?)```", section, re.S)
    assert len(blocks) == 2
    monkeypatch.chdir(tmp_path)
    exec(compile(blocks[0], "README-sklearn", "exec"), {})
    assert float(capsys.readouterr().out) > 0.9
    exec(compile(blocks[1], "README-torch", "exec"), {})
    assert capsys.readouterr().out.strip() == "True"
    assert load_safetensors(tmp_path / "digits.safetensors").sizes == (64, 32, 10)


def test_safetensors_numpy_package_agrees_both_ways(tmp_path):
    """Without torch: the safetensors package's NumPy API reads psinet's file and vice versa."""
    st = require_extra("safetensors.numpy", "test")
    net = Network([3, 5, 2], ["relu", "sigmoid"], seed=4, dtype=np.float32)
    path = save_safetensors(net, tmp_path / "psinet.safetensors")
    arrays = st.load_file(str(path))
    assert sorted(arrays) == ["0.bias", "0.weight", "2.bias", "2.weight"]
    for l, W in enumerate(net.weights):
        assert np.array_equal(arrays[f"{2 * l}.weight"], W[:, :-1])
        assert np.array_equal(arrays[f"{2 * l}.bias"], W[:, -1])
        assert arrays[f"{2 * l}.weight"].dtype == np.float32
    theirs = tmp_path / "theirs.safetensors"
    st.save_file(arrays, str(theirs), metadata={"note": "written by safetensors"})
    back = load_safetensors(theirs, activations=["relu", "sigmoid"])
    assert _same_weights(back, net)
