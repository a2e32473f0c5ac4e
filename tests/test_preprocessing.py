"""Tests for psinet.preprocessing: one_hot, train_test_split, Standardizer, standardize."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from psinet.preprocessing import (
    NotFittedError,
    Standardizer,
    one_hot,
    standardize,
    train_test_split,
)

SETTINGS = settings(deadline=None, max_examples=50)
seeds = st.integers(min_value=0, max_value=2**32 - 1)


# ---------------------------------------------------------------------------------------
# one_hot
# ---------------------------------------------------------------------------------------


def test_one_hot_hand_worked() -> None:
    # labels 2, 0, 1 with 4 classes -> unit vectors e_2, e_0, e_1 in R^4
    expected = np.array([[0, 0, 1, 0], [1, 0, 0, 0], [0, 1, 0, 0]], dtype=np.float64)
    Y = one_hot(np.array([2, 0, 1]), n_classes=4)
    np.testing.assert_array_equal(Y, expected)
    assert Y.dtype == np.float64


@SETTINGS
@given(n=st.integers(1, 200), n_classes=st.integers(1, 12), seed=seeds)
def test_one_hot_round_trip(n: int, n_classes: int, seed: int) -> None:
    labels = np.random.default_rng(seed).integers(0, n_classes, size=n)
    Y = one_hot(labels, n_classes=n_classes)
    assert Y.shape == (n, n_classes)
    np.testing.assert_array_equal(Y.argmax(axis=1), labels)
    np.testing.assert_array_equal(Y.sum(axis=1), np.ones(n))
    assert set(np.unique(Y)) <= {0.0, 1.0}


def test_one_hot_default_n_classes_is_max_plus_one() -> None:
    assert one_hot([0, 3]).shape == (2, 4)


def test_one_hot_dtype_and_integral_floats() -> None:
    Y = one_hot(np.array([1.0, 0.0]), n_classes=2, dtype=np.float32)
    assert Y.dtype == np.float32
    np.testing.assert_array_equal(Y, [[0, 1], [1, 0]])


@pytest.mark.parametrize(
    ("labels", "kwargs", "error", "match"),
    [
        ([0, -1], {}, ValueError, ">= 0"),
        ([0, 3], {"n_classes": 3}, ValueError, "< n_classes=3"),
        ([0.5, 1.0], {}, ValueError, "integral"),
        ([0.0, np.nan], {}, ValueError, "integral"),
        ([[0, 1]], {}, ValueError, "shape"),
        (np.array([], dtype=int), {}, ValueError, "non-empty"),
        (["a", "b"], {}, TypeError, "integers"),
        ([True, False], {}, TypeError, "integers"),
        ([0, 1], {"n_classes": 0}, ValueError, "n_classes must be >= 1"),
        ([0, 1], {"n_classes": 2.0}, TypeError, "n_classes must be an int"),
    ],
)
def test_one_hot_errors(labels: object, kwargs: dict, error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        one_hot(labels, **kwargs)  # type: ignore[arg-type]


# ---------------------------------------------------------------------------------------
# train_test_split
# ---------------------------------------------------------------------------------------


def _rows(n: int) -> tuple[np.ndarray, np.ndarray]:
    """X whose first column identifies the row, y equal to that id."""
    X = np.column_stack([np.arange(n, dtype=np.float64), -np.arange(n, dtype=np.float64)])
    return X, np.arange(n)


@SETTINGS
@given(n=st.integers(2, 300), fraction=st.floats(0.01, 0.99), seed=seeds)
def test_split_sizes_disjoint_covering(n: int, fraction: float, seed: int) -> None:
    X, y = _rows(n)
    n_test = min(max(int(np.ceil(fraction * n)), 1), n - 1)
    if int(np.ceil(fraction * n)) != n_test:  # fraction too extreme for this n: an error
        with pytest.raises(ValueError, match="at least one sample"):
            train_test_split(X, y, test_size=fraction, seed=seed)
        return
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=fraction, seed=seed)
    assert X_test.shape == (n_test, 2) and y_test.shape == (n_test,)
    assert X_train.shape == (n - n_test, 2) and y_train.shape == (n - n_test,)
    # rows stay paired with their targets
    np.testing.assert_array_equal(X_train[:, 0], y_train)
    np.testing.assert_array_equal(X_test[:, 1], -y_test)
    # disjoint and covering
    assert np.intersect1d(y_train, y_test).size == 0
    np.testing.assert_array_equal(np.sort(np.concatenate([y_train, y_test])), np.arange(n))


@SETTINGS
@given(n=st.integers(2, 100), data=st.data(), seed=seeds)
def test_split_int_test_size(n: int, data: st.DataObject, seed: int) -> None:
    n_test = data.draw(st.integers(1, n - 1))
    X, y = _rows(n)
    X_train, X_test, _, _ = train_test_split(X, y, test_size=n_test, seed=seed)
    assert len(X_test) == n_test and len(X_train) == n - n_test


@SETTINGS
@given(seed=seeds)
def test_split_same_seed_same_split(seed: int) -> None:
    X, y = _rows(50)
    first = train_test_split(X, y, seed=seed)
    second = train_test_split(X, y, seed=seed)
    for a, b in zip(first, second, strict=True):
        np.testing.assert_array_equal(a, b)


def test_split_different_seeds_differ_and_shuffle() -> None:
    X, y = _rows(100)
    _, _, y_train_0, _ = train_test_split(X, y, seed=0)
    _, _, y_train_1, _ = train_test_split(X, y, seed=1)
    assert not np.array_equal(y_train_0, y_train_1)
    assert not np.array_equal(y_train_0, np.sort(y_train_0))  # shuffled, not in order


def test_split_keeps_2d_targets() -> None:
    X, _ = _rows(10)
    Y = np.arange(30.0).reshape(10, 3)
    _, X_test, _, Y_test = train_test_split(X, Y, test_size=4, seed=0)
    assert Y_test.shape == (4, 3)
    np.testing.assert_array_equal(Y_test[:, 0], 3 * X_test[:, 0])


@SETTINGS
@given(
    counts=st.lists(st.integers(1, 40), min_size=2, max_size=5),
    fraction=st.floats(0.1, 0.9),
    seed=seeds,
)
def test_split_stratified_keeps_class_shares(counts: list[int], fraction: float, seed: int) -> None:
    y = np.repeat(np.arange(len(counts)), counts)
    n = y.size
    X = np.arange(n, dtype=np.float64)[:, None]
    n_test = int(np.ceil(fraction * n))
    if not 1 <= n_test <= n - 1:
        return
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=fraction, seed=seed, stratify=True
    )
    assert len(y_test) == n_test and len(y_train) == n - n_test
    np.testing.assert_array_equal(y[X_test[:, 0].astype(int)], y_test)
    np.testing.assert_array_equal(
        np.sort(np.concatenate([X_train[:, 0], X_test[:, 0]])), np.arange(n)
    )
    # every class's test count is its exact share, rounded down or up
    exact = n_test * np.array(counts) / n
    got = np.bincount(y_test, minlength=len(counts))
    assert np.all(got >= np.floor(exact)) and np.all(got <= np.ceil(exact))


def test_split_stratified_exact_shares_and_determinism() -> None:
    y = np.repeat([0, 1, 2], [40, 40, 20])  # 100 samples
    X = np.zeros((100, 1))
    _, _, _, y_test = train_test_split(X, y, test_size=0.25, seed=3, stratify=True)
    # 25 % of 40, 40, 20 is exactly 10, 10, 5
    assert np.bincount(y_test).tolist() == [10, 10, 5]
    again = train_test_split(X, y, test_size=0.25, seed=3, stratify=True)[3]
    np.testing.assert_array_equal(y_test, again)


def test_split_stratified_largest_remainders() -> None:
    # classes of 5, 3, 2 samples, 3 test samples: exact shares 1.5, 0.9, 0.6 -> floors 1, 0, 0;
    # the 2 missing samples go to the largest remainders 0.9 and 0.6 -> 1, 1, 1
    y = np.repeat([0, 1, 2], [5, 3, 2])
    _, _, _, y_test = train_test_split(np.zeros((10, 1)), y, test_size=3, seed=0, stratify=True)
    assert np.bincount(y_test, minlength=3).tolist() == [1, 1, 1]


@pytest.mark.parametrize(
    ("X", "y", "kwargs", "error", "match"),
    [
        (np.zeros((5, 2)), np.zeros(4), {}, ValueError, "same number of samples"),
        (np.zeros((1, 2)), np.zeros(1), {}, ValueError, "at least 2 samples"),
        (np.zeros((5, 2)), np.zeros(5), {"test_size": 0.0}, ValueError, r"in \(0, 1\)"),
        (np.zeros((5, 2)), np.zeros(5), {"test_size": 1.0}, ValueError, r"in \(0, 1\)"),
        (np.zeros((5, 2)), np.zeros(5), {"test_size": 5}, ValueError, r"in \[1, 4\]"),
        (np.zeros((5, 2)), np.zeros(5), {"test_size": 0}, ValueError, r"in \[1, 4\]"),
        (np.zeros((5, 2)), np.zeros(5), {"test_size": 0.99}, ValueError, "at least one"),
        (np.zeros((5, 2)), np.zeros(5), {"test_size": "0.2"}, TypeError, "test_size"),
        (np.zeros((5, 2)), np.zeros(5), {"test_size": True}, TypeError, "test_size"),
        (np.float64(1.0), np.zeros(5), {}, ValueError, "axis 0"),
        (np.zeros((4, 2)), np.zeros((4, 2)), {"stratify": True}, ValueError, r"shape \(N,\)"),
    ],
)
def test_split_errors(X: object, y: object, kwargs: dict, error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        train_test_split(X, y, **kwargs)  # type: ignore[arg-type]


# ---------------------------------------------------------------------------------------
# Standardizer
# ---------------------------------------------------------------------------------------


def test_standardizer_hand_worked() -> None:
    # column 0: values 1, 3 -> mean 2, population std 1 -> -1, 1
    # column 1: values 10, 30 -> mean 20, std 10 -> -1, 1
    scaler = Standardizer()
    Z = scaler.fit_transform([[1.0, 10.0], [3.0, 30.0]])
    np.testing.assert_array_equal(scaler.mean_, [2.0, 20.0])
    np.testing.assert_array_equal(scaler.scale_, [1.0, 10.0])
    np.testing.assert_array_equal(Z, [[-1.0, -1.0], [1.0, 1.0]])


@SETTINGS
@given(n=st.integers(2, 100), n_features=st.integers(1, 6), seed=seeds)
def test_standardizer_moments_and_round_trip(n: int, n_features: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    loc = rng.uniform(-50, 50, n_features)
    scale = rng.uniform(0.1, 20, n_features)
    X = rng.normal(loc=loc, scale=scale, size=(n, n_features))
    scaler = Standardizer().fit(X)
    Z = scaler.transform(X)
    assert Z.shape == X.shape and Z.dtype == np.float64
    np.testing.assert_allclose(Z.mean(axis=0), 0.0, atol=1e-10)
    np.testing.assert_allclose(Z.std(axis=0), 1.0, rtol=1e-10)
    np.testing.assert_allclose(scaler.inverse_transform(Z), X, rtol=1e-12, atol=1e-10)
    assert scaler.mean_ is not None and scaler.scale_ is not None
    np.testing.assert_allclose(scaler.mean_, X.mean(axis=0), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(scaler.scale_, X.std(axis=0), rtol=1e-12)


def test_standardizer_uses_training_statistics_only() -> None:
    scaler = Standardizer().fit([[0.0], [2.0]])  # mean 1, std 1
    np.testing.assert_array_equal(scaler.transform([[5.0], [-1.0]]), [[4.0], [-2.0]])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("value", [0.1, 1.0 / 3.0, 1e6 + 0.1, 0.0])
def test_standardizer_constant_column(dtype: type[np.floating], value: float) -> None:
    rng = np.random.default_rng(0)
    # a column of 1001 copies of 0.1 has a computed std of about 1e-17, not 0
    X: np.ndarray = np.column_stack([np.full(1001, value), rng.normal(size=1001)]).astype(dtype)
    scaler = Standardizer().fit(X)
    Z = scaler.transform(X)
    assert scaler.scale_ is not None
    assert scaler.scale_[0] == 1.0
    assert np.all(np.isfinite(Z))
    np.testing.assert_array_equal(Z[:, 0], 0.0)
    np.testing.assert_array_equal(scaler.inverse_transform(Z)[:, 0], X[:, 0])


def test_standardizer_single_sample_gives_zeros() -> None:
    Z = Standardizer().fit_transform([[3.0, -7.0]])
    np.testing.assert_array_equal(Z, [[0.0, 0.0]])


def test_standardizer_preserves_float32() -> None:
    X = np.random.default_rng(1).normal(3.0, 2.0, size=(50, 3)).astype(np.float32)
    scaler = Standardizer().fit(X)
    assert scaler.mean_ is not None and scaler.scale_ is not None
    assert scaler.mean_.dtype == np.float32 and scaler.scale_.dtype == np.float32
    Z = scaler.transform(X)
    assert Z.dtype == np.float32
    assert scaler.inverse_transform(Z).dtype == np.float32
    np.testing.assert_allclose(Z.mean(axis=0), 0.0, atol=1e-5)
    np.testing.assert_allclose(Z.std(axis=0), 1.0, rtol=1e-5)


def test_standardizer_output_dtype_follows_input() -> None:
    rng = np.random.default_rng(3)
    X64 = rng.normal(size=(20, 2))
    scaler = Standardizer().fit(X64)  # float64 statistics
    Z32 = scaler.transform(X64.astype(np.float32))
    assert Z32.dtype == np.float32
    np.testing.assert_allclose(Z32, scaler.transform(X64), rtol=1e-5, atol=1e-6)
    assert scaler.inverse_transform(Z32).dtype == np.float32


def test_standardizer_converts_ints_to_float64() -> None:
    X = np.array([[1, 2], [3, 6]], dtype=np.int32)
    scaler = Standardizer().fit(X)
    Z = scaler.transform(X)
    assert Z.dtype == np.float64
    assert scaler.inverse_transform(Z).dtype == np.float64
    np.testing.assert_array_equal(Z, [[-1.0, -1.0], [1.0, 1.0]])


def test_standardizer_does_not_modify_input() -> None:
    X = np.array([[1.0, 2.0], [3.0, 6.0]])
    copy = X.copy()
    scaler = Standardizer().fit(X)
    scaler.transform(X)
    scaler.inverse_transform(X)
    np.testing.assert_array_equal(X, copy)


def test_standardizer_errors() -> None:
    with pytest.raises(NotFittedError, match="not fitted"):
        Standardizer().transform([[1.0]])
    with pytest.raises(NotFittedError, match="not fitted"):
        Standardizer().inverse_transform([[1.0]])
    scaler = Standardizer().fit(np.ones((3, 2)))
    with pytest.raises(ValueError, match="must have 2 columns"):
        scaler.transform(np.ones((3, 3)))
    with pytest.raises(ValueError, match=r"shape \(N, n_features\)"):
        Standardizer().fit(np.ones(3))
    with pytest.raises(ValueError, match="at least 1 sample"):
        Standardizer().fit(np.ones((0, 2)))
    with pytest.raises(ValueError, match="finite"):
        Standardizer().fit([[1.0], [np.nan]])
    with pytest.raises(TypeError, match="real numbers"):
        Standardizer().fit([["a"], ["b"]])


def test_standardize_function() -> None:
    rng = np.random.default_rng(2)
    X_train = rng.normal(5.0, 3.0, size=(40, 2))
    X_val = rng.normal(5.0, 3.0, size=(7, 2))
    X_test = rng.normal(5.0, 3.0, size=(9, 2))
    Z_train, Z_val, Z_test = standardize(X_train, X_val, X_test)
    scaler = Standardizer().fit(X_train)
    np.testing.assert_array_equal(Z_train, scaler.transform(X_train))
    np.testing.assert_array_equal(Z_val, scaler.transform(X_val))
    np.testing.assert_array_equal(Z_test, scaler.transform(X_test))
    only = standardize(X_train)
    assert isinstance(only, np.ndarray)
    np.testing.assert_array_equal(only, Z_train)


def test_standardize_one_array_returns_the_array_ready_for_the_next_call() -> None:
    # One array in, one array out (a 1-tuple made the next call fail with shape (1, N, n)).
    X = np.random.default_rng(3).normal(size=(20, 3))
    Z = standardize(X)
    assert isinstance(Z, np.ndarray) and Z.shape == (20, 3)
    np.testing.assert_allclose(Z.mean(axis=0), 0.0, atol=1e-12)
    Z_train, Z_test = standardize(X[:15], X[15:])
    assert isinstance(Z_train, np.ndarray) and Z_train.shape == (15, 3)
    assert isinstance(Z_test, np.ndarray) and Z_test.shape == (5, 3)
    np.testing.assert_array_equal(standardize(X[:15], X[15:])[0], standardize(X[:15]))


def test_a_tuple_holding_one_array_gets_a_hint() -> None:
    X = np.ones((4, 2))
    with pytest.raises(ValueError, match=r"got shape \(1, 4, 2\) \(a tuple holding one array"):
        Standardizer().fit((X,))


@pytest.mark.parametrize(
    "call",
    [
        lambda ragged: standardize(ragged),
        lambda ragged: Standardizer().fit(ragged),
        lambda ragged: one_hot(ragged),
        lambda ragged: train_test_split(ragged, [0, 1], test_size=1),
    ],
)
def test_ragged_lists_are_a_type_error_on_every_numpy(call) -> None:
    # NumPy < 1.24 only warns (and builds an object array): no warning may leak.
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(TypeError, match="must be an array"):
            call([[1.0, 2.0], [1.0]])


def test_one_hot_refuses_an_absurd_class_count_naming_the_size() -> None:
    with pytest.raises(ValueError, match=r"shape \(3, 1000000000000\).*21\.8 TiB.*16 GiB"):
        one_hot([0, 1, 2], n_classes=10**12)
    with pytest.raises(ValueError, match=r"n_classes would be 1000000000001 \(the largest label"):
        one_hot([0, 10**12])
    with pytest.raises(ValueError, match=r"shape \(3, 100000000000000000000\)"):
        one_hot([0, 1, 2], n_classes=10**20)  # beyond intp: still the same clear error
    # up to the bound it is an ordinary array
    from psinet.preprocessing import MAX_ONE_HOT_BYTES

    assert MAX_ONE_HOT_BYTES == 16 * 2**30
    assert one_hot([0, 1], n_classes=10**6).shape == (2, 10**6)
