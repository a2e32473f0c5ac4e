"""psinet.interop with Conv2D layers, against PyTorch itself: to_torch builds Conv2d and
Flatten modules of exactly psinet's weights, from_torch reads them back (given the
input shape torch does not record), gradients agree with autograd, and every Conv2d
setting psinet has not is refused by name. safetensors files of image networks: the
state_dict's names and shapes, the architecture in __metadata__, hostile files refused."""

import json

import numpy as np
import pytest

import psinet.io
from _helpers import require_extra, valid_targets
from psinet import Network, gradients
from psinet import activations as A
from psinet.interop import from_torch, load_safetensors, save_safetensors, to_torch
from psinet.io import FormatError
from psinet.layers import Conv2D

ARCHITECTURES = [
    [(1, 6, 6), Conv2D(2, 3), 3],
    [(3, 9, 8), Conv2D(4, (2, 3), stride=(2, 3), padding=1), Conv2D(5, 2, padding=(0, 2)), 7, 3],
    [(2, 7, 5), Conv2D(3, (3, 2), stride=(1, 2), padding=(2, 1)), Conv2D(2, 1), 4],
    [(2, 3, 4), 5, 2],  # an image input read by dense layers alone: Flatten first
]
IDS = ["one-conv", "padded-non-square-two-convs", "padding-2-1-and-1x1", "dense-on-images"]


@pytest.fixture(scope="module")
def torch():
    return require_extra("torch", "torch")


def _net(architecture, hidden="tanh", output="identity", dtype=np.float64, seed=0):
    return Network(
        architecture, [hidden] * (len(architecture) - 2) + [output], seed=seed, dtype=dtype
    )


def _images(net, n=6, seed=1):
    """X, ndarray of shape (n, C, H, W) in net.dtype."""
    return np.random.default_rng(seed).normal(size=(n, *net.input_shape)).astype(net.dtype)


def _same_weights(a, b):
    return all(
        Wa.dtype == Wb.dtype and np.array_equal(Wa, Wb)
        for Wa, Wb in zip(a.weights, b.weights, strict=True)
    )


def _torch_grads(model):
    """Each Conv2d's or Linear's gradient as psinet lays out W_l: [weight rows, bias]."""
    layers = [m for m in model if hasattr(m, "weight")]
    return [
        np.concatenate(
            [m.weight.grad.numpy().reshape(len(m.weight), -1), m.bias.grad.numpy()[:, None]], 1
        )
        for m in layers
    ]


# ---------------------------------------------------------------------------- to_torch


@pytest.mark.parametrize("architecture", ARCHITECTURES, ids=IDS)
@pytest.mark.parametrize("f", ["tanh", "relu", A.LeakyReLU(0.2), "elu", "softmax", "sigmoid"])
def test_to_torch_forward_equals_psinet(torch, architecture, f):
    net = _net(architecture, f, "softmax", seed=2)
    for W in net.weights:  # biases too, so a padded border is not just the bias
        W[:, -1] = np.random.default_rng(3).normal(size=len(W))
    X = _images(net, 16)
    with torch.no_grad():
        got = to_torch(net)(torch.from_numpy(X)).numpy()
    expected = net.predict(X)
    assert got.shape == expected.shape == (16, net.n_outputs)
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-12)


def test_to_torch_float32_stays_float32(torch):
    net = _net(ARCHITECTURES[1], "relu", "sigmoid", dtype=np.float32)
    model = to_torch(net)
    assert {p.dtype for p in model.parameters()} == {torch.float32}
    X = _images(net)
    with torch.no_grad():
        got = model(torch.from_numpy(X)).numpy()
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, net.predict(X), rtol=0, atol=1e-6)


def test_to_torch_layout(torch):
    net = _net(ARCHITECTURES[1], "relu", "softmax")
    model = to_torch(net)
    assert [type(m).__name__ for m in model] == [
        "Conv2d", "ReLU", "Conv2d", "ReLU", "Flatten", "Linear", "ReLU", "Linear", "Softmax",
    ]  # fmt: skip
    conv = model[0]
    assert (conv.in_channels, conv.out_channels) == (3, 4)
    assert (conv.kernel_size, conv.stride, conv.padding) == ((2, 3), (2, 3), (1, 1))
    assert (conv.dilation, conv.groups, conv.padding_mode) == ((1, 1), 1, "zeros")
    assert model[2].padding == (0, 2)
    W = net.weights[0]  # (filters, C·kh·kw + 1): row f = weight[f] in (C, kh, kw) order, bias
    assert np.array_equal(conv.weight.detach().numpy(), W[:, :-1].reshape(4, 3, 2, 3))
    assert np.array_equal(conv.bias.detach().numpy(), W[:, -1])
    assert (model[4].start_dim, model[4].end_dim) == (1, -1)
    assert model[5].in_features == net.layers[2].n_in == 5 * 4 * 6
    assert model[-1].dim == -1
    logits = to_torch(net, logits=True)
    assert type(logits[-1]).__name__ == "Linear" and len(logits) == len(model) - 1
    assert list(logits.state_dict()) == list(model.state_dict())
    flat_first = to_torch(_net(ARCHITECTURES[3]))
    assert [type(m).__name__ for m in flat_first] == [
        "Flatten",
        "Linear",
        "Tanh",
        "Linear",
        "Identity",
    ]


def test_a_convolutions_softmax_runs_over_its_channels(torch):
    net = _net([(2, 5, 5), Conv2D(3, 2), Conv2D(4, 2), 3], "softmax", "softmax", seed=4)
    model = to_torch(net)
    assert [m.dim for m in model if type(m).__name__ == "Softmax"] == [1, 1, -1]
    X = _images(net)
    with torch.no_grad():
        np.testing.assert_allclose(
            model(torch.from_numpy(X)).numpy(), net.predict(X), rtol=0, atol=1e-12
        )
    assert from_torch(model, input_shape=(2, 5, 5)).activations == net.activations


# ---------------------------------------------------------------------------- gradients


@pytest.mark.parametrize("architecture", ARCHITECTURES[:3], ids=IDS[:3])
@pytest.mark.parametrize(
    ("hidden", "output", "loss"),
    [
        ("tanh", "identity", "mse"),
        ("elu", "tanh", "mse"),
        ("relu", "softmax", "categorical_crossentropy"),
        ("sigmoid", "softmax", "categorical_crossentropy"),
    ],
)
def test_gradients_equal_torch_autograd(torch, architecture, hidden, output, loss):
    net = _net(architecture, hidden, output, seed=5)
    X = _images(net, 5)
    Y = valid_targets(loss, 5, net.n_outputs, np.random.default_rng(6))
    grads, E = gradients(net, X, Y, loss)

    model = to_torch(net)
    y_hat = model(torch.from_numpy(X))
    Y_t = torch.from_numpy(Y)
    if loss == "mse":  # psinet's: ½ Σ over the outputs, mean over the samples
        E_torch = 0.5 * ((y_hat - Y_t) ** 2).sum() / len(X)
    else:
        E_torch = -(Y_t * torch.log(y_hat)).sum() / len(X)
    E_torch.backward()
    np.testing.assert_allclose(E, E_torch.item(), rtol=1e-12)
    torch_grads = _torch_grads(model)
    assert [g.shape for g in grads] == [g.shape for g in torch_grads]
    for g, torch_g in zip(grads, torch_grads, strict=True):
        np.testing.assert_allclose(g, torch_g, rtol=1e-10, atol=1e-12 * np.abs(torch_g).max())


def test_cross_entropy_on_logits_is_psinets(torch):
    net = _net(ARCHITECTURES[1], "relu", "softmax", seed=7)
    X = _images(net, 8)
    Y = valid_targets("categorical_crossentropy", 8, 3, np.random.default_rng(8))
    grads, E = gradients(net, X, Y, "categorical_crossentropy")
    model = to_torch(net, logits=True)
    ce = torch.nn.CrossEntropyLoss()(model(torch.from_numpy(X)), torch.from_numpy(Y))
    ce.backward()
    np.testing.assert_allclose(ce.item(), E, rtol=1e-12)
    for g, torch_g in zip(grads, _torch_grads(model), strict=True):
        np.testing.assert_allclose(g, torch_g, rtol=1e-10, atol=1e-12 * np.abs(torch_g).max())


# ---------------------------------------------------------------------------- from_torch


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("architecture", ARCHITECTURES, ids=IDS)
def test_round_trip_is_bit_identical(torch, architecture, dtype):
    net = _net(architecture, A.LeakyReLU(0.1), "softmax", dtype=dtype, seed=9)
    back = from_torch(to_torch(net), input_shape=net.input_shape)
    assert _same_weights(net, back)
    assert back.architecture == net.architecture and back.layers == net.layers
    assert back.activations == net.activations and back.dtype == net.dtype
    X = _images(net)
    assert np.array_equal(back.predict(X), net.predict(X))
    logits = from_torch(
        to_torch(net, logits=True), input_shape=list(net.input_shape), output_activation="softmax"
    )
    assert _same_weights(net, logits) and logits.activations == net.activations


def test_input_shape_of_a_dense_sequential_is_optional(torch):
    net = Network([4, 3, 2], "tanh", seed=0)
    for given in (None, 4, (4,)):
        assert _same_weights(from_torch(to_torch(net), input_shape=given), net)
    with pytest.raises(ValueError, match=r"input_shape=\(1, 2, 2\) does not fit module 0"):
        from_torch(to_torch(net), input_shape=(1, 2, 2))


def test_a_trained_torch_model_converts_to_the_same_function(torch):
    nn = torch.nn
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(2, 4, (3, 2), stride=(1, 2), padding=1),  # (2, 7, 6) -> (4, 7, 4)
        nn.Tanh(),
        nn.Conv2d(4, 3, 3, padding="same"),  # -> (3, 7, 4)
        nn.ReLU(),
        nn.Flatten(),
        nn.Linear(3 * 7 * 4, 5),
        nn.LeakyReLU(0.1),
        nn.Linear(5, 3),
    ).double()
    rng = np.random.default_rng(10)
    X = torch.from_numpy(rng.normal(size=(9, 2, 7, 6)))
    labels = torch.from_numpy(rng.integers(0, 3, 9))
    opt = torch.optim.SGD(model.parameters(), lr=0.5)
    before = model[0].weight.detach().clone()
    nn.CrossEntropyLoss()(model(X), labels).backward()
    opt.step()
    assert not torch.equal(model[0].weight, before)  # it moved

    net = from_torch(model, input_shape=(2, 7, 6), output_activation="softmax")
    assert net.architecture == [(2, 7, 6), Conv2D(4, (3, 2), (1, 2), 1), Conv2D(3, 3, 1, 1), 5, 3]
    with torch.no_grad():
        expected = torch.softmax(model(X), dim=1).numpy()
    np.testing.assert_allclose(net.predict(X.numpy()), expected, rtol=0, atol=1e-12)
    # and psinet's next step is torch's next step
    Y = np.eye(3)[labels.numpy()]
    grads, E = gradients(net, X.numpy(), Y, "categorical_crossentropy")
    opt.zero_grad()
    loss = nn.CrossEntropyLoss()(model(X), labels)
    loss.backward()
    np.testing.assert_allclose(E, loss.item(), rtol=1e-12)
    for g, torch_g in zip(grads, _torch_grads(model), strict=True):
        np.testing.assert_allclose(g, torch_g, rtol=1e-10, atol=1e-12 * np.abs(torch_g).max())


def test_padding_valid_and_same_are_pairs(torch):
    nn = torch.nn
    model = nn.Sequential(
        nn.Conv2d(1, 2, 3, padding="valid"),
        nn.ReLU(),
        nn.Conv2d(2, 2, (3, 5), padding="same"),
        nn.ReLU(),
        nn.Flatten(),
        nn.Linear(2 * 4 * 4, 1),
    )
    net = from_torch(model, input_shape=(1, 6, 6))
    assert [q.padding for q in net.layers[:2]] == [(0, 0), (1, 2)]
    X = np.random.default_rng(11).normal(size=(3, 1, 6, 6)).astype(np.float32)
    with torch.no_grad():
        np.testing.assert_allclose(net.predict(X), model(torch.from_numpy(X)).numpy(), atol=1e-5)


# ---------------------------------------------------------------------------- refusals


def _refusal_cases(nn):
    """(model, input_shape, the module position named or None, words in the message)."""
    conv = nn.Conv2d
    flat = nn.Flatten
    return [
        (nn.Sequential(conv(1, 2, 3, groups=1), nn.ReLU(), conv(2, 2, 3, groups=2), nn.ReLU(),
                       flat(), nn.Linear(2, 1)), (1, 5, 5), 2, "groups=2"),
        (nn.Sequential(conv(1, 2, 3, dilation=2), nn.ReLU(), flat(), nn.Linear(2, 1)),
         (1, 5, 5), 0, "dilation=(2, 2)"),
        (nn.Sequential(conv(1, 2, 3, padding=1, padding_mode="reflect"), nn.ReLU(), flat(),
                       nn.Linear(18, 1)), (1, 3, 3), 0, "padding_mode='reflect'"),
        (nn.Sequential(conv(1, 2, 2, padding="same"), nn.ReLU(), flat(), nn.Linear(18, 1)),
         (1, 3, 3), 0, "padding='same' with the even kernel"),
        (nn.Sequential(conv(1, 2, 3, bias=False), nn.ReLU(), flat(), nn.Linear(2, 1)),
         (1, 3, 3), 0, "bias=False"),
        (nn.Sequential(conv(1, 2, 3), nn.ReLU(), nn.Linear(1, 1)), (1, 3, 3), 2,
         "without a Flatten"),
        (nn.Sequential(conv(1, 2, 3), nn.ReLU(), flat(), nn.Linear(2, 2), nn.ReLU(),
                       conv(2, 1, 1)), (1, 3, 3), 5, "after a Flatten or a Linear"),
        (nn.Sequential(flat(), conv(1, 2, 1)), (1, 3, 3), 1, "after a Flatten or a Linear"),
        (nn.Sequential(conv(1, 2, 3), nn.ReLU()), (1, 3, 3), 0, "is the last layer"),
        (nn.Sequential(conv(1, 2, 1), conv(2, 2, 1)), (1, 3, 3), 1, "follows another Conv2d"),
        (nn.Sequential(conv(1, 2, 1), flat(), nn.Linear(18, 1)), (1, 3, 3), 1,
         "without an activation"),
        (nn.Sequential(conv(1, 2, 1), nn.ReLU(), flat(), flat(), nn.Linear(18, 1)), (1, 3, 3),
         3, "flattens once"),
        (nn.Sequential(conv(1, 2, 1), nn.ReLU(), flat(start_dim=2), nn.Linear(18, 1)),
         (1, 3, 3), 2, "start_dim=1"),
        (nn.Sequential(nn.Linear(3, 2), nn.ReLU(), flat(), nn.Linear(2, 1)), None, 2,
         "flattens once"),
        (nn.Sequential(conv(1, 2, 1), nn.Softmax(dim=-1), flat(), nn.Linear(18, 1)), (1, 3, 3),
         1, "over the channels at each position, dim=1"),
        (nn.Sequential(conv(1, 2, 1), nn.ReLU(), nn.MaxPool2d(2), flat(), nn.Linear(2, 1)),
         (1, 3, 3), 2, "no psinet counterpart"),
        (nn.Sequential(conv(1, 2, 1), nn.ReLU(), conv(3, 2, 1), nn.ReLU(), flat(),
                       nn.Linear(18, 1)), (1, 3, 3), 2, "takes in_channels=3, but the Conv2d "
                                                        "before gives out_channels=2"),
        (nn.Sequential(conv(1, 2, 1), nn.ReLU(), flat(), nn.Linear(17, 1)), (1, 3, 3), 3,
         "takes 17 inputs, but for input_shape=(1, 3, 3) it receives maps of 2×3×3 = 18"),
        (nn.Sequential(conv(1, 2, 1).double(), nn.ReLU(), flat(), nn.Linear(18, 1)), (1, 3, 3),
         3, "one dtype"),
    ]  # fmt: skip


def test_from_torch_refusals_name_module_and_position(torch):
    for model, input_shape, position, words in _refusal_cases(torch.nn):
        with pytest.raises(ValueError) as info:
            from_torch(model, input_shape=input_shape)
        message = str(info.value)
        assert words in message, (model, message)
        assert f"module {position} ('{position}'" in message, (model, message)
        assert type(model[position]).__name__ in message


def test_the_missing_input_shape_is_asked_for(torch):
    nn = torch.nn
    model = nn.Sequential(nn.Conv2d(3, 2, 3), nn.ReLU(), nn.Flatten(), nn.Linear(2, 1))
    with pytest.raises(ValueError, match=r"starts with module 0 .*Conv2d.*input_shape=\(C, H, W\)"):
        from_torch(model)
    with pytest.raises(ValueError, match=r"input_shape=\(3, 28, 28\)"):  # the example's C is 3
        from_torch(model)
    flat_first = nn.Sequential(nn.Flatten(), nn.Linear(12, 2))
    with pytest.raises(ValueError, match=r"starts with a Flatten \(module 0\).*pass input_shape"):
        from_torch(flat_first)
    assert from_torch(flat_first, input_shape=(3, 2, 2)).input_shape == (3, 2, 2)


@pytest.mark.parametrize(
    ("input_shape", "match"),
    [
        ((3, 5), r"input_shape must be one image's shape \(C, H, W\)"),
        ((3, 0, 5), r"three ints >= 1, got \(3, 0, 5\)"),
        ((3, 5.0, 5), r"three ints >= 1"),
        ((3, True, 5), r"three ints >= 1"),
        ("3x5x5", r"three ints >= 1"),
        ((2, 5, 5), r"input_shape=\(2, 5, 5\) has C = 2 input channels, but .* takes C = 3"),
        ((3, 2, 2), r"do not make a network with input_shape=\(3, 2, 2\).*kernel 3×3 is larger"),
    ],
)
def test_bad_input_shapes_are_refused(torch, input_shape, match):
    model = torch.nn.Sequential(
        torch.nn.Conv2d(3, 2, 3), torch.nn.ReLU(), torch.nn.Flatten(), torch.nn.Linear(18, 1)
    )
    with pytest.raises(ValueError, match=match):
        from_torch(model, input_shape=input_shape)
    assert from_torch(model, input_shape=(3, 5, 5)).input_shape == (3, 5, 5)


# ---------------------------------------------------------------------------- safetensors


def _st_parts(path):
    """(the JSON header, the data bytes) of a safetensors file."""
    raw = path.read_bytes()
    n = int.from_bytes(raw[:8], "little")
    return json.loads(raw[8 : 8 + n]), raw[8 + n :]


def _st_write(path, header, data):
    text = json.dumps(header).encode()
    path.write_bytes(len(text).to_bytes(8, "little") + text + data)
    return path


def _st_shapes(header):
    return {name: tuple(e["shape"]) for name, e in header.items() if name != "__metadata__"}


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("architecture", ARCHITECTURES, ids=IDS)
def test_safetensors_round_trip_is_bit_identical(tmp_path, architecture, dtype):
    net = _net(architecture, A.LeakyReLU(0.1), "softmax", dtype=dtype, seed=12)
    for W in net.weights:  # biases too, so that they are checked
        W[:, -1] = np.random.default_rng(13).normal(size=len(W))
    path = save_safetensors(net, tmp_path / "m.safetensors")
    back = load_safetensors(path)
    assert _same_weights(net, back)
    assert back.architecture == net.architecture and back.layers == net.layers
    assert back.activations == net.activations and back.dtype == net.dtype
    X = _images(net)
    assert np.array_equal(back.predict(X), net.predict(X))
    header, data = _st_parts(path)
    for l, layer in enumerate(net.layers):
        if isinstance(layer, Conv2D):  # 4-D, (filters, C, kh, kw), as nn.Conv2d's weight
            shape = (layer.filters, layer.in_shape[0], *layer.kernel_size)
            assert _st_shapes(header)[f"{2 * l}.weight"] == shape
    # the architecture as psinet.io.save writes it in an .npz header, the very same JSON
    npz = psinet.io.save(net, tmp_path / "m.npz")
    with np.load(npz, allow_pickle=False) as arrays:
        npz_header = json.loads(arrays["header"].tobytes())
    metadata = header["__metadata__"]
    assert json.loads(metadata["psinet_architecture"]) == npz_header["architecture"]
    assert metadata["psinet_architecture"] == json.dumps(npz_header["architecture"])
    assert len(data) == net.n_params * np.dtype(dtype).itemsize
    other = load_safetensors(path, activations="tanh")  # activations= overrides the file's
    assert _same_weights(other, net) and other.activations == (A.Tanh(),) * net.n_layers


def test_a_dense_networks_file_has_no_architecture(tmp_path):
    net = Network([4, 3, 2], ["relu", "softmax"], seed=0)
    header, _ = _st_parts(save_safetensors(net, tmp_path / "m.safetensors"))
    assert set(header["__metadata__"]) == {"format", "psinet_version", "psinet_activations"}
    assert list(_st_shapes(header)) == ["0.weight", "0.bias", "2.weight", "2.bias"]


@pytest.mark.parametrize("architecture", ARCHITECTURES, ids=IDS)
def test_safetensors_names_and_shapes_are_to_torchs_state_dict(torch, tmp_path, architecture):
    st = require_extra("safetensors.torch", "safetensors")
    net = _net(architecture, "relu", "softmax", seed=14)
    path = save_safetensors(net, tmp_path / "m.safetensors")
    header, _ = _st_parts(path)
    model = to_torch(net)
    expected = {name: tuple(t.shape) for name, t in model.state_dict().items()}
    assert list(_st_shapes(header)) == list(expected)  # the same names, in the same order
    assert _st_shapes(header) == expected
    state = st.load_file(str(path))
    fresh = to_torch(_net(architecture, "relu", "softmax", seed=15))  # other weights
    fresh.load_state_dict(state)
    assert _same_weights(from_torch(fresh, input_shape=net.input_shape), net)
    X = _images(net)
    with torch.no_grad():
        assert torch.equal(fresh(torch.from_numpy(X)), model(torch.from_numpy(X)))


def test_safetensors_numpy_package_reads_a_conv_file(tmp_path):
    """Without torch: the safetensors package's NumPy API reads the 4-D tensors."""
    st = require_extra("safetensors.numpy", "test")
    net = _net(ARCHITECTURES[1], dtype=np.float32, seed=16)
    arrays = st.load_file(str(save_safetensors(net, tmp_path / "m.safetensors")))
    assert sorted(arrays) == ["0.bias", "0.weight", "2.bias", "2.weight", "5.bias",
                              "5.weight", "7.bias", "7.weight"]  # fmt: skip
    assert arrays["2.weight"].shape == (5, 4, 2, 2) and arrays["2.weight"].dtype == np.float32
    assert np.array_equal(arrays["2.weight"].reshape(5, -1), net.weights[1][:, :-1])
    assert np.array_equal(arrays["5.bias"], net.weights[2][:, -1])


def test_a_torch_written_conv_file_needs_the_architecture(torch, tmp_path):
    st = require_extra("safetensors.torch", "safetensors")
    net = _net(ARCHITECTURES[2], "elu", "sigmoid", seed=17)
    path = tmp_path / "torch.safetensors"
    st.save_file(to_torch(net).state_dict(), str(path))
    with pytest.raises(FormatError) as info:
        load_safetensors(path, activations=["elu", "elu", "sigmoid"])
    message = str(info.value)
    assert "'0.weight' of shape [3, 2, 3, 2] is a Conv2d's weight" in message
    assert "no __metadata__ 'psinet_architecture'" in message
    assert "stride and padding" in message and "from_torch(model, input_shape=" in message
    # given the architecture (as psinet writes it), the same tensors load
    mine, _ = _st_parts(save_safetensors(net, tmp_path / "psinet.safetensors"))
    text = mine["__metadata__"]["psinet_architecture"]
    st.save_file(to_torch(net).state_dict(), str(path), metadata={"psinet_architecture": text})
    back = load_safetensors(path, activations=["elu", "elu", "sigmoid"])
    assert _same_weights(back, net) and back.architecture == net.architecture


def test_save_safetensors_checks_an_image_network_first(tmp_path):
    net = _net(ARCHITECTURES[1])
    net.weights[1][0, 0] = np.inf
    with pytest.raises(ValueError, match=r"net\.weights\[1\] must be finite"):
        save_safetensors(net, tmp_path / "m.safetensors")
    assert not list(tmp_path.iterdir())


def _good_conv_file(tmp_path):
    net = _net(ARCHITECTURES[0], seed=18)  # (1, 6, 6), Conv2D(2, 3), 3: tensors 0 and 3
    path = save_safetensors(net, tmp_path / "good.safetensors")
    header, data = _st_parts(path)
    assert load_safetensors(_st_write(tmp_path / "copy.safetensors", header, data))
    return header, data


def _conv(filters=2, kernel=(3, 3), stride=(1, 1), padding=(0, 0), **more):
    return {"class": "Conv2D", "filters": filters, "kernel_size": list(kernel),
            "stride": list(stride), "padding": list(padding), **more}  # fmt: skip


@pytest.mark.parametrize(
    ("architecture", "words"),
    [  # the tensors are 0.weight (2, 1, 3, 3), 0.bias (2,), 3.weight (3, 32), 3.bias (3,)
        ([[1, 7, 7], _conv(), 3], r"'3.weight' has shape \[3, 32\], but .* layer 1, Dense\(3\) "
                                  r"on an input of 2×5×5, gives it shape \[3, 50\]"),
        ([[1, 6, 6], _conv(kernel=(3, 2)), 3], r"'0.weight' has shape \[2, 1, 3, 3\], but .* "
                                               r"layer 0, Conv2D\(2, \(3, 2\)\) .* \[2, 1, 3, 2\]"),
        ([[2, 6, 6], _conv(), 3], r"'0.weight' has shape \[2, 1, 3, 3\].*\[2, 2, 3, 3\]"),
        ([[1, 6, 6], _conv(filters=4), 3], r"'0.weight' has shape .*\[4, 1, 3, 3\]"),
        ([[1, 8, 8], _conv(stride=(2, 2)), 3], r"'3.weight' has shape \[3, 32\].*\[3, 18\]"),
        ([[1, 6, 6], _conv(padding=(1, 1)), 3], r"'3.weight' has shape \[3, 32\].*\[3, 72\]"),
        ([[1, 6, 6], _conv(), 4, 3], r"'3.weight' has shape \[3, 32\], but .* layer 1, "
                                     r"Dense\(4\) on an input of 2×4×4, gives it shape \[4, 32\]"),
        ([[1, 6, 6], _conv(), _conv(2, (1, 1)), 3], r"'3.weight' is not one of those"),
        ([[1, 6, 6], 3], r"'0.weight' is not one of those .*\['1.bias', '1.weight'\]"),
        # the architecture itself, refused by psinet.io's own checks
        ([[1, 6, 6], _conv(kernel=(7, 7)), 3], r"psinet_architecture: architecture\[1\] = .* is "
                                               r"invalid after an input of shape \(1, 6, 6\).*"
                                               r"kernel 7×7 is larger"),
        ([[1, 2, 2], _conv(), 3], r"kernel 3×3 is larger than its padded input 2×2"),
        ([[1, 6], _conv(), 3], r"psinet_architecture: architecture\[0\] must be the image "
                               r"input shape \[C, H, W\]"),
        ([6, _conv(), 3], r"architecture\[0\] must be the image input shape"),
        ([[1, 6, 0], _conv(), 3], r"architecture\[0\] must be"),
        ([[1, 6, 6], _conv(stride=(0, 1)), 3], r"architecture\[1\] .*stride must be >= 1"),
        ([[1, 6, 6], _conv(bogus=1), 3], r"architecture\[1\] .*TypeError.*bogus"),
        ([[1, 6, 6], {"class": "MaxPool2D"}, 3], r"unknown layer class 'MaxPool2D'"),
        ([[1, 6, 6], True, 3], r"architecture\[1\] = True is invalid"),
        ([[1, 6, 6], 0, 3], r"architecture\[1\] = 0 is invalid"),
        ([[1, 6, 6], 3, _conv()], r"architecture\[2\] .*needs an image input"),
        ([[1, 6, 6], _conv()], r"last layer must be dense"),
        ([[1, 6, 6]], r"at least the input shape and one layer"),
        ({"input": [1, 6, 6]}, r"psinet_architecture must be a JSON list"),
    ],
)  # fmt: skip
def test_load_safetensors_refuses_an_architecture_that_disagrees(tmp_path, architecture, words):
    header, data = _good_conv_file(tmp_path)
    header["__metadata__"]["psinet_architecture"] = json.dumps(architecture)
    with pytest.raises(FormatError, match=words):
        load_safetensors(_st_write(tmp_path / "bad.safetensors", header, data))


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ('[[1, 6, 6], {"class": "Conv2D"', r"must be a JSON list.*Expecting"),
        ("[[1, 6, 6], NaN, 3]", r"NaN is not valid JSON"),
        ("[[1, 6, 6], 1e400, 3]", r"out of range"),
        ("[[1, 6, 6], 1" + "0" * 30 + ", 3]", r"at most 18 digits"),
        ("[" * 100_000 + "]" * 100_000, r"psinet_architecture must be"),
        ("", r"psinet_architecture must be a JSON list"),
    ],
)
def test_load_safetensors_refuses_bad_architecture_json(tmp_path, text, words):
    header, data = _good_conv_file(tmp_path)
    header["__metadata__"]["psinet_architecture"] = text
    with pytest.raises(FormatError, match=words):
        load_safetensors(_st_write(tmp_path / "bad.safetensors", header, data))


def test_load_safetensors_refuses_other_bad_conv_files(tmp_path):
    header, data = _good_conv_file(tmp_path)
    p = tmp_path / "bad.safetensors"
    no_architecture = json.loads(json.dumps(header))
    del no_architecture["__metadata__"]["psinet_architecture"]
    with pytest.raises(FormatError, match=r"'0.weight' of shape \[2, 1, 3, 3\] is a Conv2d's .*"
                                          r"no __metadata__ 'psinet_architecture'"):  # fmt: skip
        load_safetensors(_st_write(p, no_architecture, data))
    del no_architecture["__metadata__"]
    with pytest.raises(FormatError, match=r"psinet cannot rebuild the network"):
        load_safetensors(_st_write(p, no_architecture, data), activations="tanh")
    not_text = json.loads(json.dumps(header))
    not_text["__metadata__"]["psinet_architecture"] = [[1, 6, 6], 3]
    with pytest.raises(FormatError, match="strings to strings"):
        load_safetensors(_st_write(p, not_text, data))
    for name, shape, words in [
        ("0.weight", [2, 9, 1], r"'0.weight' must have a shape of 2 \(a Linear's\) or 4"),
        ("0.weight", [2, 1, 3, 3, 1], r"shape of 2 \(a Linear's\) or 4 \(a Conv2d's\)"),
        ("0.bias", [2, 1, 1, 1], r"'0.bias' must have a shape of 1 positive"),
        ("0.weight", [2, 1, 9, 1], r"'0.weight' has shape \[2, 1, 9, 1\], but .*\[2, 1, 3, 3\]"),
        ("0.weight", [1, 2, 3, 3], r"'0.weight' has shape \[1, 2, 3, 3\]"),
    ]:
        bad = json.loads(json.dumps(header))
        bad[name]["shape"] = shape
        with pytest.raises(FormatError, match=words):
            load_safetensors(_st_write(p, bad, data))
    # a tensor of the architecture missing (the last one's bytes gone too)
    missing = json.loads(json.dumps(header))
    begin, _ = missing.pop("3.bias")["data_offsets"]
    with pytest.raises(FormatError, match=r"'3.bias' \(shape \[3\]\) of the psinet_architecture's "
                                          r"layer 1, Dense\(3\), is missing"):  # fmt: skip
        load_safetensors(_st_write(p, missing, data[:begin]))
    # a dense network's tensors, 0 and 2, under an image network's architecture
    dense = Network([36, 4, 3], "tanh", seed=0)
    dense_header, dense_data = _st_parts(save_safetensors(dense, tmp_path / "dense.safetensors"))
    dense_header["__metadata__"]["psinet_architecture"] = json.dumps([[1, 6, 6], 4, 3])
    with pytest.raises(FormatError, match=r"'0.weight' is not one of those .*'1.weight'"):
        load_safetensors(_st_write(p, dense_header, dense_data))
    dense_header["__metadata__"]["psinet_architecture"] = json.dumps([[1, 6, 6], 3])
    with pytest.raises(FormatError, match=r"'0.weight' is not one of those"):
        load_safetensors(_st_write(p, dense_header, dense_data))


def test_to_torch_refuses_a_layer_of_its_own():
    require_extra("torch", "torch")

    class Doubled(Conv2D):
        def unfold(self, X):
            return 2.0 * super().unfold(X)

    net = Network([(1, 4, 4), Doubled(2, 2), 3], ["tanh", "softmax"], seed=0)
    assert type(net.layers[0]) is Doubled  # built, it stays itself
    with pytest.raises(ValueError, match="layer 0 is Doubled, a layer of its own"):
        to_torch(net)
