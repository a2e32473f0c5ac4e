"""Tests for psinet.datasets: synthetic generators and the shipped iris and digits data."""

from __future__ import annotations

import gzip
import os
import subprocess
import sys
from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from psinet import datasets
from psinet.datasets import (
    GLYPH_NAMES,
    circles,
    glyphs,
    load_digits,
    load_iris,
    moons,
    sine,
    spirals,
    xor,
)

SETTINGS = settings(deadline=None, max_examples=30)
seeds = st.integers(min_value=0, max_value=2**32 - 1)

# name -> (generator, n_classes or None for regression, n_features)
GENERATORS: dict[str, tuple[Callable[..., tuple[np.ndarray, np.ndarray]], int | None, int]] = {
    "xor": (xor, 2, 2),
    "spirals": (spirals, 3, 2),
    "moons": (moons, 2, 2),
    "circles": (circles, 2, 2),
    "sine": (sine, None, 1),
}


# ---------------------------------------------------------------------------------------
# properties shared by all generators
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(GENERATORS))
@SETTINGS
@given(n=st.integers(4, 400), seed=seeds)
def test_generator_shapes_dtypes_labels(name: str, n: int, seed: int) -> None:
    make, n_classes, n_features = GENERATORS[name]
    X, y = make(n_samples=n, noise=0.1, seed=seed)
    assert X.shape == (n, n_features) and X.dtype == np.float64
    assert np.all(np.isfinite(X))
    if n_classes is None:
        assert y.shape == (n, 1) and y.dtype == np.float64
    else:
        assert y.shape == (n,) and y.dtype == np.int64
        counts = np.bincount(y, minlength=n_classes)
        assert counts.size == n_classes  # labels in [0, n_classes)
        assert y.min() >= 0
        assert counts.max() - counts.min() <= 1  # balanced


@pytest.mark.parametrize("name", list(GENERATORS))
@SETTINGS
@given(seed=seeds)
def test_generator_same_seed_bit_identical(name: str, seed: int) -> None:
    make = GENERATORS[name][0]
    X1, y1 = make(n_samples=60, noise=0.3, seed=seed)
    X2, y2 = make(n_samples=60, noise=0.3, seed=seed)
    assert X1.tobytes() == X2.tobytes()
    assert y1.tobytes() == y2.tobytes()


@pytest.mark.parametrize("name", list(GENERATORS))
def test_generator_different_seeds_differ(name: str) -> None:
    make = GENERATORS[name][0]
    X1, y1 = make(n_samples=60, noise=0.3, seed=0)
    X2, y2 = make(n_samples=60, noise=0.3, seed=1)
    assert not np.array_equal(X1, X2) or not np.array_equal(y1, y2)


@pytest.mark.parametrize("name", list(GENERATORS))
def test_generator_noise_changes_points(name: str) -> None:
    make = GENERATORS[name][0]
    X0, y0 = make(n_samples=40, noise=0.0, seed=0)
    X1, y1 = make(n_samples=40, noise=0.5, seed=0)
    assert not np.array_equal(X0, X1) or not np.array_equal(y0, y1)


@pytest.mark.parametrize("name", list(GENERATORS))
@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"n_samples": 0}, ValueError, "n_samples must be >= "),
        ({"n_samples": -3}, ValueError, "n_samples must be >= "),
        ({"n_samples": 10.0}, TypeError, "n_samples must be an int"),
        ({"n_samples": True}, TypeError, "n_samples must be an int"),
        ({"noise": -0.1}, ValueError, "noise must be a finite number >= 0"),
        ({"noise": float("nan")}, ValueError, "noise must be a finite number >= 0"),
        ({"noise": "0.1"}, TypeError, "noise must be a real number"),
    ],
)
def test_generator_argument_errors(
    name: str, kwargs: dict[str, Any], error: type[Exception], match: str
) -> None:
    make = GENERATORS[name][0]
    with pytest.raises(error, match=match):
        make(**kwargs)


# ---------------------------------------------------------------------------------------
# geometry of each generator without noise
# ---------------------------------------------------------------------------------------


def test_xor_classic_points() -> None:
    X, y = xor()
    np.testing.assert_array_equal(X, [[0, 0], [0, 1], [1, 0], [1, 1]])
    np.testing.assert_array_equal(y, [0, 1, 1, 0])
    assert X.dtype == np.float64 and y.dtype == np.int64


@SETTINGS
@given(n=st.integers(1, 100), seed=seeds)
def test_xor_labels_are_xor_of_nearest_corner(n: int, seed: int) -> None:
    X, y = xor(n_samples=n, noise=0.1, seed=seed)
    corner = np.arange(n) % 4
    bits = np.column_stack([corner // 2, corner % 2])  # (0,0), (0,1), (1,0), (1,1)
    np.testing.assert_array_equal(y, bits[:, 0] ^ bits[:, 1])
    # noise of std 0.1 keeps points near their corner (6 sigma)
    assert np.all(np.abs(X - bits) < 0.6)


def test_xor_noise_is_gaussian_with_given_std() -> None:
    X, _ = xor(n_samples=40_000, noise=0.2, seed=0)
    corners = np.array([[0, 0], [0, 1], [1, 0], [1, 1]])[np.arange(40_000) % 4]
    residual = X - corners
    assert abs(residual.mean()) < 0.01
    assert abs(residual.std() - 0.2) < 0.01


@SETTINGS
@given(n_classes=st.integers(2, 6), data=st.data())
def test_spirals_without_noise_follow_the_arms(n_classes: int, data: st.DataObject) -> None:
    n = data.draw(st.integers(n_classes, 300))
    X, y = spirals(n_samples=n, n_classes=n_classes, noise=0.0)
    counts = np.bincount(y, minlength=n_classes)
    assert counts.sum() == n and counts.max() - counts.min() <= 1
    for k in range(n_classes):
        arm = X[y == k]
        arm = arm[np.argsort(np.hypot(arm[:, 0], arm[:, 1]), kind="stable")]  # along the arm
        n_k = counts[k]
        r = np.linspace(0.0, 1.0, n_k)
        t = np.linspace(4.0 * k, 4.0 * k + 4.0, n_k)
        np.testing.assert_allclose(np.hypot(arm[:, 0], arm[:, 1]), r, atol=1e-12)
        np.testing.assert_allclose(arm, np.column_stack([r * np.sin(t), r * np.cos(t)]), atol=1e-12)


def test_spirals_noise_moves_points_along_the_arm_only() -> None:
    # the noise is on the angle: radii are unchanged
    X0, y0 = spirals(n_samples=90, noise=0.0, seed=0)
    X1, y1 = spirals(n_samples=90, noise=0.5, seed=0)
    np.testing.assert_array_equal(y0, y1)
    np.testing.assert_allclose(np.hypot(*X1.T), np.hypot(*X0.T), atol=1e-12)
    assert not np.allclose(X0, X1)


def test_spirals_class_argument_errors() -> None:
    with pytest.raises(ValueError, match="n_classes must be >= 2"):
        spirals(n_classes=1)
    with pytest.raises(ValueError, match="n_samples must be >= 5"):
        spirals(n_samples=4, n_classes=5)


@SETTINGS
@given(n=st.integers(2, 300))
def test_moons_without_noise_on_unit_half_circles(n: int) -> None:
    X, y = moons(n_samples=n, noise=0.0)
    upper, lower = X[y == 0], X[y == 1]
    upper, lower = upper[np.argsort(-upper[:, 0])], lower[np.argsort(lower[:, 0])]  # by angle
    assert len(upper) == n // 2 and len(lower) == n - n // 2
    # class 0: unit circle around (0, 0), upper half
    np.testing.assert_allclose(np.hypot(upper[:, 0], upper[:, 1]), 1.0, rtol=1e-12)
    assert np.all(upper[:, 1] >= -1e-12)
    # class 1: unit circle around (1, 0.5), lower half
    np.testing.assert_allclose(np.hypot(lower[:, 0] - 1.0, lower[:, 1] - 0.5), 1.0, rtol=1e-12)
    assert np.all(lower[:, 1] <= 0.5 + 1e-12)
    # each half circle is covered from end to end
    if len(upper) >= 2:
        np.testing.assert_allclose(upper[[0, -1]], [[1.0, 0.0], [-1.0, 0.0]], atol=1e-12)
    if len(lower) >= 2:
        np.testing.assert_allclose(lower[[0, -1]], [[0.0, 0.5], [2.0, 0.5]], atol=1e-12)


@SETTINGS
@given(n=st.integers(2, 300), factor=st.floats(0.05, 0.95))
def test_circles_without_noise_have_radii_one_and_factor(n: int, factor: float) -> None:
    X, y = circles(n_samples=n, noise=0.0, factor=factor)
    radius = np.hypot(X[:, 0], X[:, 1])
    np.testing.assert_allclose(radius[y == 0], 1.0, rtol=1e-12)
    np.testing.assert_allclose(radius[y == 1], factor, rtol=1e-12)
    assert np.sum(y == 0) == n // 2
    # evenly spaced angles: no two points of a circle coincide
    for k in (0, 1):
        angles = np.arctan2(X[y == k, 1], X[y == k, 0])
        assert np.unique(np.round(angles, 9)).size == np.sum(y == k)


@pytest.mark.parametrize(
    ("factor", "error"),
    [(0.0, ValueError), (1.0, ValueError), (1.5, ValueError), ("0.5", TypeError)],
)
def test_circles_factor_errors(factor: object, error: type[Exception]) -> None:
    with pytest.raises(error, match="factor must be"):
        circles(factor=factor)  # type: ignore[arg-type]


@SETTINGS
@given(n=st.integers(1, 300), seed=seeds)
def test_sine_without_noise_is_sin(n: int, seed: int) -> None:
    X, y = sine(n_samples=n, noise=0.0, seed=seed)
    assert X.shape == (n, 1) and y.shape == (n, 1)
    assert np.all(X >= -np.pi) and np.all(X <= np.pi)
    np.testing.assert_array_equal(y, np.sin(X))


@pytest.mark.parametrize("make", [spirals, moons, circles, sine])
def test_generated_samples_come_in_a_seeded_random_order(make: Any) -> None:
    """Any slice (fit's validation_split, a head) sees every class and every region."""
    X, y = make(n_samples=200, seed=3)
    X_again, y_again = make(n_samples=200, seed=3)
    np.testing.assert_array_equal(X, X_again)
    np.testing.assert_array_equal(y, y_again)
    if make is sine:
        assert np.any(np.diff(X[:, 0]) < 0)  # not sorted
        assert X[:50, 0].min() < -1.0 and X[:50, 0].max() > 1.0
    else:
        head, tail = y[:40], y[-40:]
        assert set(head) == set(tail) == set(y)  # both ends hold every class
        assert np.sum(np.diff(y) != 0) > 50  # classes interleaved, not in blocks
    assert not np.array_equal(make(n_samples=200, seed=4)[0], X)


def test_sine_noise_has_given_std_and_x_covers_the_period() -> None:
    X, y = sine(n_samples=20_000, noise=0.3, seed=0)
    residual = y - np.sin(X)
    assert abs(residual.mean()) < 0.01
    assert abs(residual.std() - 0.3) < 0.01
    assert X.min() < -np.pi + 0.01 and X.max() > np.pi - 0.01


# ---------------------------------------------------------------------------------------
# glyphs: images for convolutions
# ---------------------------------------------------------------------------------------

# The glyphs as the docstring describes them, written out again here ("#" = 1).
GLYPH_PICTURES = {
    "plus": ("..#..", "..#..", "#####", "..#..", "..#.."),
    "cross": ("#...#", ".#.#.", "..#..", ".#.#.", "#...#"),
    "square": ("#####", "#...#", "#...#", "#...#", "#####"),
    "bar": (".....", ".....", "#####", ".....", "....."),
    "diamond": ("..#..", ".#.#.", "#...#", ".#.#.", "..#.."),
    "corner": ("#....", "#....", "#....", "#....", "#####"),
}


def _glyph(name: str) -> np.ndarray:
    return np.array([[float(c == "#") for c in row] for row in GLYPH_PICTURES[name]])


def _glyph_places(image: np.ndarray, pattern: np.ndarray) -> list[tuple[int, int]]:
    """Every (top, left) where ``image`` is ``pattern`` there and 0 everywhere else."""
    size = image.shape[0]
    places = []
    for top in range(size - 4):
        for left in range(size - 4):
            expected = np.zeros_like(image)
            expected[top : top + 5, left : left + 5] = pattern
            if np.array_equal(image, expected):
                places.append((top, left))
    return places


def test_glyph_names_are_the_classes_in_order() -> None:
    assert GLYPH_NAMES == tuple(GLYPH_PICTURES)
    assert "GLYPH_NAMES" in datasets.__all__ and "glyphs" in datasets.__all__


@SETTINGS
@given(n=st.integers(1, 120), n_classes=st.integers(2, 6), size=st.integers(5, 20), seed=seeds)
def test_glyphs_shapes_dtypes_labels(n: int, n_classes: int, size: int, seed: int) -> None:
    X, y = glyphs(n, n_classes=n_classes, size=size, noise=0.3, seed=seed)
    assert X.shape == (n, 1, size, size) and X.dtype == np.float64
    assert y.shape == (n,) and y.dtype == np.int64
    assert np.all(np.isfinite(X))
    counts = np.bincount(y, minlength=n_classes)
    assert counts.size == n_classes and y.min() >= 0  # labels in [0, n_classes)
    assert counts.max() - counts.min() <= 1  # balanced


@SETTINGS
@given(n=st.integers(1, 60), n_classes=st.integers(2, 6), size=st.integers(5, 12), seed=seeds)
def test_glyphs_without_noise_are_one_whole_glyph_of_their_class(
    n: int, n_classes: int, size: int, seed: int
) -> None:
    X, y = glyphs(n, n_classes=n_classes, size=size, noise=0.0, seed=seed)
    for image, label in zip(X[:, 0], y, strict=True):
        assert len(_glyph_places(image, _glyph(GLYPH_NAMES[label]))) == 1


def test_glyphs_size_5_is_the_glyph_itself() -> None:
    X, y = glyphs(12, n_classes=6, size=5, noise=0.0, seed=0)
    for image, label in zip(X[:, 0], y, strict=True):
        np.testing.assert_array_equal(image, _glyph(GLYPH_NAMES[label]))


def test_glyphs_appear_at_every_place_and_the_place_says_nothing_of_the_class() -> None:
    size = 9  # 5 × 5 = 25 places
    X, y = glyphs(2000, n_classes=4, size=size, noise=0.0, seed=1)
    places = np.array(
        [
            _glyph_places(image, _glyph(GLYPH_NAMES[k]))[0]
            for image, k in zip(X[:, 0], y, strict=True)
        ]
    )
    for k in range(4):  # every class at every place
        seen = {tuple(p) for p in places[y == k]}
        assert seen == {(top, left) for top in range(5) for left in range(5)}
    # uniform: about 2000 / 25 = 80 images per place
    counts = np.bincount(places[:, 0] * 5 + places[:, 1], minlength=25)
    assert counts.min() > 40 and counts.max() < 130


def test_glyphs_noise_is_gaussian_with_given_std_on_every_pixel() -> None:
    clean, y_clean = glyphs(500, noise=0.0, seed=7)
    noisy, y_noisy = glyphs(500, noise=0.3, seed=7)
    np.testing.assert_array_equal(y_noisy, y_clean)  # the same glyphs, at the same places
    residual = noisy - clean
    assert abs(residual.mean()) < 0.01
    assert abs(residual.std() - 0.3) < 0.01


@SETTINGS
@given(seed=seeds)
def test_glyphs_same_seed_bit_identical(seed: int) -> None:
    X1, y1 = glyphs(40, size=10, seed=seed)
    X2, y2 = glyphs(40, size=10, seed=seed)
    assert X1.tobytes() == X2.tobytes() and y1.tobytes() == y2.tobytes()


def test_glyphs_different_seeds_differ_and_come_in_a_random_order() -> None:
    X0, y0 = glyphs(200, seed=0)
    X1, y1 = glyphs(200, seed=1)
    assert not np.array_equal(X0, X1) and not np.array_equal(y0, y1)
    assert set(y0[:40]) == set(y0[-40:]) == {0, 1, 2, 3}  # classes not in blocks
    assert np.sum(np.diff(y0) != 0) > 100


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"n_samples": 0}, ValueError, "n_samples must be >= 1"),
        ({"n_samples": -3}, ValueError, "n_samples must be >= 1"),
        ({"n_samples": 10.0}, TypeError, "n_samples must be an int"),
        ({"size": 4}, ValueError, r"size must be >= 5, the glyphs' size \(5×5 pixels\), got 4"),
        ({"size": 0}, ValueError, r"size must be >= 5, the glyphs' size \(5×5 pixels\), got 0"),
        ({"size": 16.0}, TypeError, "size must be an int"),
        ({"noise": -0.1}, ValueError, "noise must be a finite number >= 0"),
        ({"noise": float("inf")}, ValueError, "noise must be a finite number >= 0"),
        ({"noise": "0.1"}, TypeError, "noise must be a real number"),
        ({"n_classes": 1}, ValueError, "n_classes must be >= 2"),
        ({"n_classes": 7}, ValueError, "n_classes must be <= 6"),
        ({"n_classes": True}, TypeError, "n_classes must be an int"),
        ({"seed": -1}, ValueError, "seed"),
    ],
)
def test_glyphs_argument_errors(kwargs: dict[str, Any], error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=match):
        glyphs(**{"n_samples": 10, **kwargs})


def test_glyphs_feed_a_convolutional_and_a_dense_network() -> None:
    import psinet

    X, y = glyphs(6, size=8, seed=0)
    conv = psinet.Network([(1, 8, 8), psinet.Conv2D(2, 5), 4], ["relu", "softmax"], seed=0)
    dense = psinet.Network([64, 3, 4], ["relu", "softmax"], seed=0)
    assert conv.predict(X).shape == dense.predict(X.reshape(len(X), -1)).shape == (6, 4)
    Y = psinet.one_hot(y, 4)
    assert np.isfinite(conv.evaluate(X, Y, "categorical_crossentropy")["loss"])


# ---------------------------------------------------------------------------------------
# iris
# ---------------------------------------------------------------------------------------


def test_iris_shape_dtype_and_balance() -> None:
    X, y = load_iris()
    assert X.shape == (150, 4) and X.dtype == np.float64
    assert y.shape == (150,) and y.dtype == np.int64
    assert np.bincount(y).tolist() == [50, 50, 50]
    np.testing.assert_array_equal(y, np.repeat([0, 1, 2], 50))


def test_iris_matches_published_summary_statistics() -> None:
    # Means of Fisher's data (as in R's `iris`): 5.843, 3.057, 3.758, 1.199 cm.
    # Min/max from the UCI iris.names summary: 4.3-7.9, 2.0-4.4, 1.0-6.9, 0.1-2.5.
    X, _ = load_iris()
    np.testing.assert_allclose(X.mean(axis=0), [5.843, 3.057, 3.758, 1.199], atol=5e-4)
    np.testing.assert_array_equal(X.min(axis=0), [4.3, 2.0, 1.0, 0.1])
    np.testing.assert_array_equal(X.max(axis=0), [7.9, 4.4, 6.9, 2.5])


def test_iris_first_rows_and_setosa_petals() -> None:
    X, y = load_iris()
    # Fisher's first two flowers (setosa): 5.1 3.5 1.4 0.2 and 4.9 3.0 1.4 0.2
    np.testing.assert_array_equal(X[:2], [[5.1, 3.5, 1.4, 0.2], [4.9, 3.0, 1.4, 0.2]])
    # setosa is linearly separable: its petals are all shorter than 2.5 cm, the others longer
    assert X[y == 0, 2].max() < 2.5 < X[y != 0, 2].min()


def test_iris_names() -> None:
    X, y, feature_names, class_names = load_iris(return_names=True)
    assert X.shape == (150, 4) and y.shape == (150,)
    assert len(feature_names) == 4 and all("(cm)" in name for name in feature_names)
    assert class_names == ("setosa", "versicolor", "virginica")


# ---------------------------------------------------------------------------------------
# digits
# ---------------------------------------------------------------------------------------


def test_digits_shape_dtype_values() -> None:
    X, y = load_digits()
    assert X.shape == (1797, 64) and X.dtype == np.float64
    assert y.shape == (1797,) and y.dtype == np.int64
    assert X.min() == 0 and X.max() == 16
    np.testing.assert_array_equal(X, np.round(X))  # integer pixel counts


def test_digits_class_counts() -> None:
    _, y = load_digits()
    counts = [178, 182, 177, 183, 181, 182, 181, 179, 174, 180]  # UCI optdigits test set
    assert np.bincount(y, minlength=10).tolist() == counts


def test_digits_are_images() -> None:
    X, y = load_digits()
    images = X.reshape(-1, 8, 8)
    # handwriting is centred: the image border is darker on average than the centre
    assert images[:, [0, 7], :].mean() < images[:, 2:6, 2:6].mean()
    # a zero has an empty middle, unlike a one
    middle = images[:, 3:5, 3:5].mean(axis=(1, 2))
    assert middle[y == 0].mean() < middle[y == 1].mean()


def test_digits_names() -> None:
    X, _, feature_names, class_names = load_digits(return_names=True)
    assert len(feature_names) == X.shape[1] == 64 and len(set(feature_names)) == 64
    assert feature_names[0] == "pixel_0_0" and feature_names[-1] == "pixel_7_7"
    assert class_names == tuple("0123456789")


def test_loaders_return_fresh_arrays() -> None:
    X1, y1 = load_iris()
    X1[0, 0] = -1.0
    y1[0] = 7
    X2, y2 = load_iris()
    assert X2[0, 0] == 5.1 and y2[0] == 0


# ---------------------------------------------------------------------------------------
# packaging of the data files
# ---------------------------------------------------------------------------------------


def test_data_files_are_package_resources() -> None:
    data = resources.files("psinet") / "data"
    iris = (data / "iris.csv").read_text(encoding="ascii")
    assert iris.splitlines()[0] == "150,4,setosa,versicolor,virginica"
    digits = gzip.decompress((data / "digits.csv.gz").read_bytes()).decode("ascii")
    assert len(digits.splitlines()) == 1797
    assert (data / "README.md").is_file()
    readme = (data / "README.md").read_text(encoding="utf-8")
    for phrase in ("CC BY 4.0", "Fisher", "Alpaydin", "Kaynak", "scikit-learn"):
        assert phrase in readme


def test_loaders_work_from_another_directory(tmp_path: Path) -> None:
    src = Path(datasets.__file__).resolve().parents[1]
    code = (
        "from psinet.datasets import load_iris, load_digits; "
        "print(load_iris()[0].shape, load_digits()[0].shape)"
    )
    env = {**os.environ, "PYTHONPATH": str(src)}
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "(150, 4) (1797, 64)"
