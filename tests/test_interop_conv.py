"""psinet.interop with Conv2D layers, against PyTorch itself: to_torch builds Conv2d and
Flatten modules of exactly psinet's weights, from_torch reads them back (given the
input shape torch does not record), gradients agree with autograd, and every Conv2d
setting psinet has not is refused by name."""

import numpy as np
import pytest

from _helpers import require_extra, valid_targets
from psinet import Network, gradients
from psinet import activations as A
from psinet.interop import from_torch, save_safetensors, to_torch
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


def test_save_safetensors_refuses_image_networks(tmp_path):
    net = _net(ARCHITECTURES[0])
    with pytest.raises(ValueError, match=r"dense networks .* only.*psinet\.io\.save"):
        save_safetensors(net, tmp_path / "m.safetensors")
    assert not list(tmp_path.iterdir())
