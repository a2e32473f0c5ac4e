"""Small data sets for trying networks: synthetic generators and two classic real sets.

Every generator returns ``(X, y)`` with ``X`` an ndarray of shape (N, n_features) of
float64 (``glyphs``: images, (N, 1, size, size), channels first as a ``Conv2D`` layer
reads them), and ``y`` either class labels (ndarray of shape (N,), int64, in
``[0, n_classes)``) or regression targets (ndarray of shape (N, 1), float64).
Randomness comes only from ``np.random.default_rng(seed)``: the same seed gives
bit-identical arrays. The synthetic sets come in a random order drawn from that same
generator (never grouped by class), so any slice of them, and ``fit``'s
``validation_split``, sees every class; ``xor`` keeps its cyclic order of corners (which
already alternates the classes). The real data sets keep the order of their files.

==================  ==========  ========  =========  ==================================
function            N default   features  classes    what
==================  ==========  ========  =========  ==================================
``xor``             4           2         2          corners of the unit square
``spirals``         300         2         3 (k)      k interleaved spiral arms
``moons``           200         2         2          two interleaving half circles
``circles``         200         2         2          two concentric circles
``sine``            200         1         --         y = sin(x) + noise, x in [-π, π]
``glyphs``          400         1×16×16   4 (k)      a 5×5 glyph anywhere in an image
``load_iris``       150         4         3          Fisher's iris measurements
``load_digits``     1797        64        10         8×8 handwritten digits, pixels 0..16
==================  ==========  ========  =========  ==================================

The two real data sets ship inside the package (``psinet/data/``, see the README
there for sources, citations and licence); loading them never touches the network.
"""

from __future__ import annotations

import gzip
import io
import math
from importlib import resources
from typing import Literal, overload

import numpy as np
import numpy.typing as npt

from ._checks import check_float, check_int, check_seed, shown

__all__ = [
    "GLYPH_NAMES",
    "circles",
    "glyphs",
    "load_digits",
    "load_iris",
    "moons",
    "sine",
    "spirals",
    "xor",
]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
# (X, y, feature_names, class_names), what the loaders return with return_names=True
NamedData = tuple[FloatArray, IntArray, tuple[str, ...], tuple[str, ...]]


# ---------------------------------------------------------------------------------------
# argument checks
# ---------------------------------------------------------------------------------------


def _check_noise(noise: object) -> float:
    """Return ``noise`` as a float, or raise if it is not a finite number >= 0."""
    try:
        value = check_float(noise, "noise")  # TypeError for a non-number or a bool
    except ValueError:  # NaN, inf, 10**400
        value = math.nan
    if not (math.isfinite(value) and value >= 0.0):
        raise ValueError(f"noise must be a finite number >= 0, got {shown(noise)}")
    if value > _MAX_NOISE:  # beyond it the samples could overflow float64 (inf, NaN)
        raise ValueError(
            f"noise must be <= {_MAX_NOISE:g} (the data have a scale of about 1), got {value:g}"
        )
    return value


_MAX_NOISE = 1e100


def _split_evenly(n_samples: int, n_classes: int) -> list[int]:
    """Class sizes that sum to ``n_samples`` and differ by at most one (first ones larger)."""
    base, extra = divmod(n_samples, n_classes)
    return [base + (k < extra) for k in range(n_classes)]


def _shuffled(rng: np.random.Generator, X: FloatArray, y: IntArray) -> tuple[FloatArray, IntArray]:
    """``(X, y)`` with their rows in one random order drawn from ``rng`` (the same for both)."""
    order = rng.permutation(len(y))
    return X[order], y[order]


def _labels(sizes: list[int]) -> IntArray:
    """``[0]*sizes[0] + [1]*sizes[1] + ...`` as an int64 ndarray of shape (sum(sizes),)."""
    return np.repeat(np.arange(len(sizes), dtype=np.int64), sizes)


# ---------------------------------------------------------------------------------------
# synthetic classification sets
# ---------------------------------------------------------------------------------------


def xor(
    n_samples: int = 4, noise: float = 0.0, seed: int | None = None
) -> tuple[FloatArray, IntArray]:
    """The XOR problem: corners of the unit square, labelled ``y = x1 xor x2``.

    Sample ``i`` is corner ``i mod 4`` of ``(0, 0), (0, 1), (1, 0), (1, 1)`` plus
    Gaussian noise of standard deviation ``noise``. The defaults give the four classic
    points exactly, the smallest problem a network without a hidden layer cannot solve.

    Parameters
    ----------
    n_samples : int, default 4
        Number of points (>= 1); the corners repeat cyclically.
    noise : float, default 0.0
        Standard deviation of the Gaussian noise added to every coordinate.
    seed : int, optional
        Seed for ``np.random.default_rng``.

    Returns
    -------
    X : ndarray of shape (n_samples, 2)
    y : ndarray of shape (n_samples,)
        int64 labels in {0, 1}.

    Examples
    --------
    >>> X, y = xor()
    >>> X
    array([[0., 0.],
           [0., 1.],
           [1., 0.],
           [1., 1.]])
    >>> y
    array([0, 1, 1, 0])
    """
    n_samples = check_int(n_samples, "n_samples", minimum=1)
    noise = _check_noise(noise)
    seed = check_seed(seed)
    rng = np.random.default_rng(seed)

    corners = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])  # (4, 2)
    which = np.arange(n_samples) % 4  # (N,)
    X = corners[which] + noise * rng.standard_normal((n_samples, 2))  # (N, 2)
    y = np.array([0, 1, 1, 0], dtype=np.int64)[which]  # (N,)
    return X, y


def spirals(
    n_samples: int = 300, n_classes: int = 3, noise: float = 0.2, seed: int | None = None
) -> tuple[FloatArray, IntArray]:
    """Interleaved spiral arms, one per class (the CS231n construction).

    Class ``k`` has ``n_k`` points ``(r sin t, r cos t)`` with the radius ``r`` running
    evenly over ``[0, 1]`` and the angle ``t`` running evenly over ``[4k, 4k + 4]``
    radians, plus Gaussian noise of standard deviation ``noise`` on the angle.
    Class sizes differ by at most one.

    Parameters
    ----------
    n_samples : int, default 300
        Total number of points, >= n_classes.
    n_classes : int, default 3
        Number of arms (classes), >= 2.
    noise : float, default 0.2
        Standard deviation of the angular noise, in radians.
    seed : int, optional
        Seed for ``np.random.default_rng``.

    Returns
    -------
    X : ndarray of shape (n_samples, 2)
    y : ndarray of shape (n_samples,)
        int64 labels in ``[0, n_classes)``, in a random (seeded) order.
    """
    n_classes = check_int(n_classes, "n_classes", minimum=2)
    n_samples = check_int(n_samples, "n_samples", minimum=n_classes)
    noise = _check_noise(noise)
    seed = check_seed(seed)
    rng = np.random.default_rng(seed)

    sizes = _split_evenly(n_samples, n_classes)
    arms = []
    for k, n_k in enumerate(sizes):
        r = np.linspace(0.0, 1.0, n_k)  # (n_k,)
        t = np.linspace(4.0 * k, 4.0 * (k + 1), n_k) + noise * rng.standard_normal(n_k)
        arms.append(np.column_stack([r * np.sin(t), r * np.cos(t)]))  # (n_k, 2)
    return _shuffled(rng, np.concatenate(arms), _labels(sizes))


def moons(
    n_samples: int = 200, noise: float = 0.1, seed: int | None = None
) -> tuple[FloatArray, IntArray]:
    """Two interleaving half circles.

    Class 0 lies on the upper unit half circle ``(cos θ, sin θ)``, class 1 on the lower
    half circle ``(1 − cos θ, 0.5 − sin θ)``, with ``θ`` evenly spaced over ``[0, π]``;
    then Gaussian noise of standard deviation ``noise`` is added to every coordinate.
    Class 0 gets ``n_samples // 2`` points, class 1 the rest.

    Parameters
    ----------
    n_samples : int, default 200
        Total number of points, >= 2.
    noise : float, default 0.1
        Standard deviation of the Gaussian noise.
    seed : int, optional
        Seed for ``np.random.default_rng``.

    Returns
    -------
    X : ndarray of shape (n_samples, 2)
    y : ndarray of shape (n_samples,)
        int64 labels in {0, 1}, in a random (seeded) order.
    """
    n_samples = check_int(n_samples, "n_samples", minimum=2)
    noise = _check_noise(noise)
    seed = check_seed(seed)
    rng = np.random.default_rng(seed)

    sizes = [n_samples // 2, n_samples - n_samples // 2]
    theta_upper = np.linspace(0.0, np.pi, sizes[0])
    theta_lower = np.linspace(0.0, np.pi, sizes[1])
    upper = np.column_stack([np.cos(theta_upper), np.sin(theta_upper)])
    lower = np.column_stack([1.0 - np.cos(theta_lower), 0.5 - np.sin(theta_lower)])
    X = np.concatenate([upper, lower]) + noise * rng.standard_normal((n_samples, 2))
    return _shuffled(rng, X, _labels(sizes))


def circles(
    n_samples: int = 200, noise: float = 0.05, factor: float = 0.5, seed: int | None = None
) -> tuple[FloatArray, IntArray]:
    """Two concentric circles: class 0 of radius 1, class 1 of radius ``factor``.

    Points are evenly spaced in angle on each circle, then Gaussian noise of standard
    deviation ``noise`` is added to every coordinate. Class 0 gets
    ``n_samples // 2`` points, class 1 the rest.

    Parameters
    ----------
    n_samples : int, default 200
        Total number of points, >= 2.
    noise : float, default 0.05
        Standard deviation of the Gaussian noise.
    factor : float, default 0.5
        Radius of the inner circle, in (0, 1).
    seed : int, optional
        Seed for ``np.random.default_rng``.

    Returns
    -------
    X : ndarray of shape (n_samples, 2)
    y : ndarray of shape (n_samples,)
        int64 labels in {0, 1}, in a random (seeded) order.
    """
    n_samples = check_int(n_samples, "n_samples", minimum=2)
    noise = _check_noise(noise)
    seed = check_seed(seed)
    radius_inner = check_float(factor, "factor")
    if not 0.0 < radius_inner < 1.0:
        raise ValueError(f"factor must be in (0, 1), got {radius_inner}")
    rng = np.random.default_rng(seed)

    sizes = [n_samples // 2, n_samples - n_samples // 2]
    rings = []
    for radius, n_k in zip((1.0, radius_inner), sizes, strict=True):
        theta = np.linspace(0.0, 2.0 * np.pi, n_k, endpoint=False)
        rings.append(radius * np.column_stack([np.cos(theta), np.sin(theta)]))  # (n_k, 2)
    X = np.concatenate(rings) + noise * rng.standard_normal((n_samples, 2))
    return _shuffled(rng, X, _labels(sizes))


# ---------------------------------------------------------------------------------------
# synthetic regression set
# ---------------------------------------------------------------------------------------


def sine(
    n_samples: int = 200, noise: float = 0.1, seed: int | None = None
) -> tuple[FloatArray, FloatArray]:
    """Noisy samples of one period of the sine: ``y = sin(x) + ε``.

    ``x`` is drawn uniformly from ``[-π, π]``, in random order (sort ``X`` to draw a
    line through the samples); ``ε`` is Gaussian with standard deviation ``noise``.

    Parameters
    ----------
    n_samples : int, default 200
        Number of points, >= 1.
    noise : float, default 0.1
        Standard deviation of the noise on ``y``.
    seed : int, optional
        Seed for ``np.random.default_rng``.

    Returns
    -------
    X : ndarray of shape (n_samples, 1)
        Inputs in ``[-π, π]``, unsorted.
    y : ndarray of shape (n_samples, 1)
        float64 targets.
    """
    n_samples = check_int(n_samples, "n_samples", minimum=1)
    noise = _check_noise(noise)
    seed = check_seed(seed)
    rng = np.random.default_rng(seed)

    x = rng.uniform(-np.pi, np.pi, n_samples)  # (N,)
    y = np.sin(x) + noise * rng.standard_normal(n_samples)  # (N,)
    return x[:, None], y[:, None]


# ---------------------------------------------------------------------------------------
# synthetic image set
# ---------------------------------------------------------------------------------------

# The glyphs, 5×5 each ("#" = 1, "." = 0), in class order: class k is _GLYPH_ROWS[k].
_GLYPH_ROWS = (
    ("..#..", "..#..", "#####", "..#..", "..#.."),  # plus
    ("#...#", ".#.#.", "..#..", ".#.#.", "#...#"),  # cross ×
    ("#####", "#...#", "#...#", "#...#", "#####"),  # square outline
    (".....", ".....", "#####", ".....", "....."),  # horizontal bar
    ("..#..", ".#.#.", "#...#", ".#.#.", "..#.."),  # diamond outline
    ("#....", "#....", "#....", "#....", "#####"),  # corner L
)
GLYPH_NAMES = ("plus", "cross", "square", "bar", "diamond", "corner")
"""The names of the glyphs :func:`glyphs` draws: class ``k`` is ``GLYPH_NAMES[k]``."""
_GLYPH_SIZE = 5


def _glyph_patterns(n_classes: int) -> FloatArray:
    """The first ``n_classes`` glyphs as 0/1 float64 pictures, shape (n_classes, 5, 5)."""
    return np.array(
        [[[float(c == "#") for c in row] for row in rows] for rows in _GLYPH_ROWS[:n_classes]]
    )


def glyphs(
    n_samples: int = 400,
    *,
    n_classes: int = 4,
    size: int = 16,
    noise: float = 0.3,
    seed: int | None = None,
) -> tuple[FloatArray, IntArray]:
    """Small images, each one 5×5 glyph drawn at a random place: a set for convolutions.

    Class ``k`` is the glyph ``GLYPH_NAMES[k]``: a plus, a cross ×, a square outline,
    a horizontal bar, a diamond outline, an L corner (the first ``n_classes`` of them).
    Each image is ``size`` × ``size`` pixels of 0 with the glyph's strokes set to 1,
    its top-left corner placed uniformly at random (the glyph always lies wholly inside
    the image), plus Gaussian noise of standard deviation ``noise`` on every pixel.
    Where the glyph is says nothing about its class, so a detector that works at every
    position (a ``Conv2D`` filter) suits it better than one weight per pixel (a dense
    layer). Class sizes differ by at most one.

    Parameters
    ----------
    n_samples : int, default 400
        Number of images, >= 1.
    n_classes : int, default 4
        Number of glyphs (classes), 2 to 6.
    size : int, default 16
        Height and width of the images in pixels, >= 5 (the glyph's size).
    noise : float, default 0.3
        Standard deviation of the Gaussian noise added to every pixel.
    seed : int, optional
        Seed for ``np.random.default_rng``.

    Returns
    -------
    X : ndarray of shape (n_samples, 1, size, size)
        float64 images, one channel, channels first (what ``Network([(1, size, size),
        Conv2D(...), ...])`` reads; ``X.reshape(len(X), -1)`` feeds a dense network).
    y : ndarray of shape (n_samples,)
        int64 labels in ``[0, n_classes)``, in a random (seeded) order.

    Examples
    --------
    >>> X, y = glyphs(8, size=7, noise=0.0, seed=0)
    >>> X.shape, y.shape
    ((8, 1, 7, 7), (8,))
    >>> X[y == 0][0, 0].astype(int)  # the first plus, without noise
    array([[0, 0, 0, 0, 0, 0, 0],
           [0, 0, 0, 0, 1, 0, 0],
           [0, 0, 0, 0, 1, 0, 0],
           [0, 0, 1, 1, 1, 1, 1],
           [0, 0, 0, 0, 1, 0, 0],
           [0, 0, 0, 0, 1, 0, 0],
           [0, 0, 0, 0, 0, 0, 0]])
    """
    n_samples = check_int(n_samples, "n_samples", minimum=1)
    n_classes = check_int(n_classes, "n_classes", minimum=2, maximum=len(_GLYPH_ROWS))
    try:
        size = check_int(size, "size", minimum=_GLYPH_SIZE)  # TypeError for a non-int
    except ValueError:
        raise ValueError(
            f"size must be >= {_GLYPH_SIZE}, the glyphs' size ({_GLYPH_SIZE}×{_GLYPH_SIZE} "
            f"pixels), got {shown(size)}"
        ) from None
    noise = _check_noise(noise)
    seed = check_seed(seed)
    rng = np.random.default_rng(seed)

    patterns = _glyph_patterns(n_classes)  # (k, 5, 5)
    y = rng.permutation(_labels(_split_evenly(n_samples, n_classes)))  # (N,)
    top, left = rng.integers(0, size - _GLYPH_SIZE + 1, size=(2, n_samples))  # (N,) each
    X = np.zeros((n_samples, 1, size, size))
    rows = top[:, None, None] + np.arange(_GLYPH_SIZE)[None, :, None]  # (N, 5, 1)
    cols = left[:, None, None] + np.arange(_GLYPH_SIZE)[None, None, :]  # (N, 1, 5)
    X[np.arange(n_samples)[:, None, None], 0, rows, cols] = patterns[y]  # each glyph in place
    X += noise * rng.standard_normal(X.shape)
    return X, y


# ---------------------------------------------------------------------------------------
# real data sets shipped in psinet/data/
# ---------------------------------------------------------------------------------------

_IRIS_FEATURE_NAMES = (
    "sepal length (cm)",
    "sepal width (cm)",
    "petal length (cm)",
    "petal width (cm)",
)


def _read_data_file(name: str) -> str:
    """Text of ``psinet/data/<name>`` (gunzipped if it ends in .gz), found via importlib."""
    raw = (resources.files("psinet") / "data" / name).read_bytes()
    if name.endswith(".gz"):
        raw = gzip.decompress(raw)
    return raw.decode("ascii")


@overload
def load_iris(return_names: Literal[False] = ...) -> tuple[FloatArray, IntArray]: ...
@overload
def load_iris(return_names: Literal[True]) -> NamedData: ...
def load_iris(return_names: bool = False) -> tuple[FloatArray, IntArray] | NamedData:
    """Fisher's iris data: 150 flowers, 4 measurements in cm, 3 species of 50 each.

    Columns: sepal length, sepal width, petal length, petal width.
    Classes: 0 = setosa, 1 = versicolor, 2 = virginica (50 rows each, in that order).
    This is Fisher's (1936) data as in R's ``iris``; see ``psinet/data/README.md``.

    Parameters
    ----------
    return_names : bool, default False
        Also return the feature names and the class names.

    Returns
    -------
    X : ndarray of shape (150, 4)
        float64 measurements.
    y : ndarray of shape (150,)
        int64 species labels in {0, 1, 2}.
    feature_names : tuple of 4 str
        Only if ``return_names``.
    class_names : tuple of 3 str
        Only if ``return_names``.

    Examples
    --------
    >>> X, y = load_iris()
    >>> X.shape, y.shape, np.bincount(y).tolist()
    ((150, 4), (150,), [50, 50, 50])
    >>> load_iris(return_names=True)[3]
    ('setosa', 'versicolor', 'virginica')
    """
    # Header line: "150,4,setosa,versicolor,virginica"; then rows "5.1,3.5,1.4,0.2,0".
    header, body = _read_data_file("iris.csv").split("\n", 1)
    n_samples, n_features, *class_names = header.strip().split(",")
    data = np.loadtxt(io.StringIO(body), delimiter=",", dtype=np.float64, ndmin=2)
    assert data.shape == (int(n_samples), int(n_features) + 1), data.shape
    X = np.ascontiguousarray(data[:, :-1])
    y = data[:, -1].astype(np.int64)
    if return_names:
        return X, y, _IRIS_FEATURE_NAMES, tuple(class_names)
    return X, y


@overload
def load_digits(return_names: Literal[False] = ...) -> tuple[FloatArray, IntArray]: ...
@overload
def load_digits(return_names: Literal[True]) -> NamedData: ...
def load_digits(return_names: bool = False) -> tuple[FloatArray, IntArray] | NamedData:
    """UCI optical recognition of handwritten digits: 1,797 images of 8×8 pixels.

    Each row of ``X`` is one image, flattened row by row: ``X[i].reshape(8, 8)`` is the
    picture, every pixel an integer count in ``0..16`` (stored as float64). Labels are
    the digits 0-9, about 180 of each. See ``psinet/data/README.md`` for the source.

    Parameters
    ----------
    return_names : bool, default False
        Also return the feature names (``"pixel_<row>_<col>"``) and the class names
        (``"0"`` to ``"9"``).

    Returns
    -------
    X : ndarray of shape (1797, 64)
        float64 pixel values in ``[0, 16]``.
    y : ndarray of shape (1797,)
        int64 digit labels in ``[0, 10)``.
    feature_names : tuple of 64 str
        Only if ``return_names``.
    class_names : tuple of 10 str
        Only if ``return_names``.

    Examples
    --------
    >>> X, y = load_digits()
    >>> X.shape, y.shape, X[0].reshape(8, 8).shape
    ((1797, 64), (1797,), (8, 8))
    """
    # No header; 65 comma-separated integers per row, the last one is the label.
    data = np.loadtxt(
        io.StringIO(_read_data_file("digits.csv.gz")), delimiter=",", dtype=np.float64, ndmin=2
    )
    assert data.shape == (1797, 65), data.shape
    X = np.ascontiguousarray(data[:, :-1])
    y = data[:, -1].astype(np.int64)
    if return_names:
        feature_names = tuple(f"pixel_{row}_{col}" for row in range(8) for col in range(8))
        class_names = tuple(str(digit) for digit in range(10))
        return X, y, feature_names, class_names
    return X, y
