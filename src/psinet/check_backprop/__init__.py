"""Check a learner's own backprop against psinet's Ψ recursion, and name the mistake.

A learner writes ``fn(W, X, Y)``: ``W`` a list of copies of the weights, ``W[l]`` of
shape (n_{l+1}, n_l + 1) with the bias last; ``X`` of shape (N, n_0); ``Y`` of shape
(N, n_L). It returns the gradients ``∂E/∂W_l`` (a list shaped like ``W``), or
``(grads, psis)``. :func:`check_backprop` runs it on a batch and on one sample and
compares, from the output layer down, with psinet's::

    Ψ_{L-1} = ∂E/∂ŷ ⊙ f'_{L-1}(z_{L-1})
    ∂E/∂W_l = Ψ_lᵀ X̄_l
    Ψ_{l-1} = (Ψ_l W_l[:, :-1]) ⊙ f'_{l-1}(z_{l-1})

The first (highest) layer that differs is where the mistake is; there each usual
mistake (a transpose, a sign, a factor, a missing ``⊙ f'``, f' taken at ``a``, the bias
column, the wrong input) is rebuilt from psinet's exact numbers and compared.

From the command line (exit 0 when right, 1 when wrong, 2 on a usage error)::

    python -m psinet.check_backprop my_backprop.py:backprop --sizes 3,5,4,2 --activations sigmoid

>>> import numpy as np
>>> from psinet import Network
>>> def backprop(W, X, Y):  # a one-layer sigmoid network, mse; the 1/N forgotten
...     X_bar = np.hstack([X, np.ones((len(X), 1))])
...     a = 1 / (1 + np.exp(-X_bar @ W[0].T))
...     psi = (a - Y) * a * (1 - a)
...     return [psi.T @ X_bar]
>>> report = check_backprop(backprop, Network([3, 2], "sigmoid", seed=0))
>>> report.diagnosis, report.first_wrong_layer, report.batch_only
('scale', 0, True)
"""

from __future__ import annotations

import os
import sysconfig
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .. import losses as _losses
from .._checks import as_batch, as_targets, check_seed
from ..losses import Loss, fused_pair
from ..network import Network, check_network
from ._diagnose import (
    Finding,
    Reference,
    as_gradient,
    close,
    explain_layer,
    layer_is_right,
    reference,
    reversed_order,
)
from ._report import DIAGNOSES, BackpropCheck, LayerRow, explain

__all__ = ["DIAGNOSES", "BackpropCheck", "CheckTimeout", "LayerRow", "check_backprop"]

Array = np.ndarray


class CheckTimeout(BaseException):
    """Raised (by the command line's alarm) when ``fn`` runs longer than ``--timeout``: a
    BaseException, so a learner's ``except Exception`` does not swallow it."""


def check_backprop(
    fn: Callable[..., Any],
    net: Network,
    X: Any = None,
    Y: Any = None,
    loss: str | Loss = "mse",
    *,
    seed: int | None = 0,
) -> BackpropCheck:
    """Run a learner's backprop ``fn(W, X, Y)`` and compare it with psinet's gradients.

    Parameters
    ----------
    fn : callable
        ``fn(W, X, Y)`` returning ``grads`` (a list with ``grads[l]`` of shape
        (n_{l+1}, n_l + 1), like ``W[l]``) or ``(grads, psis)`` (``psis[l]`` = Ψ_l, of
        shape (N, n_{l+1})). ``W`` is a list of copies of ``net.weights`` (bias last
        column); it is called several times (a batch, one sample), each time on fresh
        copies: nothing it does reaches ``net`` or the caller's arrays (changing ``W`` in
        place is said in the notes). An exception, ``SystemExit`` included, is reported
        (diagnosis ``"exception"``); a ``KeyboardInterrupt`` goes on up.
    net : Network
        Its activations, with ``loss``, say what ``fn`` must compute: ∂E/∂W_l of
        E = (1/N) Σ_n ℓ_n, a mean over the samples (the 1/N inside Ψ). A dense network:
        one with an image input (Conv2D layers) is refused with a ValueError.
    X : ndarray of shape (N, n_0) or None
        Inputs; None (with ``Y`` None) draws a batch of probes from ``seed``. With one
        row (N = 1), psinet's seeded probes are checked too, so a batch is always seen.
    Y : ndarray of shape (N, n_L) or None
        Targets, valid for ``loss``.
    loss : str or Loss
    seed : int or None
        Seed of the numpy Generator that draws the probes.

    Returns
    -------
    BackpropCheck
        ``passed``, ``diagnosis`` (one of :data:`DIAGNOSES`), ``first_wrong_layer``,
        ``factor``, ``explanation``; ``print`` it for a per-layer table.
    """
    if not callable(fn):
        raise TypeError(
            f"fn must be a function fn(W, X, Y) returning the gradients, got {type(fn).__name__}"
        )
    net = check_network(net)
    if len(net.input_shape) != 1:
        raise ValueError(
            f"check_backprop checks the backprop of a dense network (W[l] of shape "
            f"(n_{{l+1}}, n_l + 1), X of shape (N, n_0)); this one reads images "
            f"{'×'.join(map(str, net.input_shape))}"
            + (" through Conv2D layers" if net.convolutional else "")
            + ": its probes and diagnoses know dense layers only. Compare your gradients with "
            "psinet.gradients(net, X, Y, loss), or check psinet's with psinet.check_gradients"
        )
    loss = _losses.get(loss)
    if (X is None) != (Y is None):
        raise ValueError("X and Y must be given together, or both left out (psinet draws probes)")
    if X is None:
        X, Y = _probes(net, loss, check_seed(seed))
    else:
        X, _ = as_batch(X, "X", net.input_shape, net.dtype)
        Y = as_targets(Y, X.shape[0], net.n_outputs, net.dtype)
        loss.check_targets(Y)
    X, Y = np.array(X, dtype=net.dtype), np.array(Y, dtype=net.dtype)  # our own copies

    probed = len(X) == 1
    if probed:  # the learner's one sample; a batch from psinet's probes as well
        single = _run(fn, net, X, Y, loss)
        PX, PY = _probes(net, loss, check_seed(seed))
        batch = single if single.timed_out else _run(fn, net, PX, PY, loss)
        X, Y = PX, PY
    else:
        batch = _run(fn, net, X, Y, loss)
        single = batch if batch.timed_out else _run(fn, net, X[:1], Y[:1], loss)
    shown, note = batch, ""
    if batch.ok and not single.ok:
        shown, note = (
            single,
            (
                f" It shows only with one sample (N = 1): your function is right for the batch "
                f"of N = {len(X)}; check shapes like (n,) against (1, n)."
            ),
        )
    elif single.ok and not batch.ok:
        note = (
            f" Your function is right for one sample (N = 1): the mistake shows only with a "
            f"batch (N = {len(X)})."
        )
    elif not batch.ok and batch.finding.diagnosis == "unknown":
        # a constant factor (or −1) on one sample can be an accident of that sample (one
        # active unit, …): only a diagnosis that one sample cannot fake replaces "unknown"
        if single.finding.diagnosis not in ("unknown", "scale", "sign"):
            shown = single
    return _report(
        fn,
        net,
        loss,
        shown,
        note,
        batch_only=single.ok and not batch.ok,
        N=len(X),
        probed=probed,
    )


def _probes(net: Network, loss: Loss, seed: int | None) -> tuple[Array, Array]:
    """A batch of N inputs (N > 2, not n_L, so a factor N is told apart) and targets valid
    for ``loss``: one-hot rows for categorical cross-entropy, else uniform in (0, 1)."""
    rng = np.random.default_rng(seed)
    N = next(n for n in (5, 6, 7) if n != net.n_outputs)
    X = rng.normal(size=(N, net.n_inputs))
    Y = rng.uniform(0.05, 0.95, size=(N, net.n_outputs))
    try:
        loss.check_targets(Y)
    except ValueError:
        classes = rng.permutation(np.arange(N) % net.n_outputs)
        Y = np.eye(net.n_outputs)[classes]
        loss.check_targets(Y)
    return X.astype(net.dtype), Y.astype(net.dtype)


@dataclass
class _Run:
    """One call of ``fn`` and what was found."""

    ref: Reference
    finding: Finding
    layer: int | None = None
    rows: list[LayerRow] = field(default_factory=list)
    yours: list[Array] | None = None
    error: tuple[str, str | None, str | None] | None = None
    notes: list[str] = field(default_factory=list)
    timed_out: bool = False

    @property
    def ok(self) -> bool:
        """Whether the gradients were right."""
        return self.finding.diagnosis == "correct"


def _run(fn: Callable[..., Any], net: Network, X: Array, Y: Array, loss: Loss) -> _Run:
    """Call ``fn`` on copies of the weights, ``X`` and ``Y``; compare with psinet."""
    ref = reference(net, X, Y, loss)
    W = [np.array(W_l, copy=True) for W_l in net.weights]
    try:
        out = fn(W, X.copy(), Y.copy())
    except (Exception, SystemExit, CheckTimeout) as exc:  # the learner's: reported, with their line
        timed_out = isinstance(exc, CheckTimeout)
        return _Run(ref, Finding("exception"), error=_error_info(exc), timed_out=timed_out)
    # a KeyboardInterrupt (or another BaseException) goes on up: never reported as correct
    changed = [
        l
        for l, (W_l, V_l) in enumerate(zip(W, net.weights, strict=True))
        if not (isinstance(W_l, np.ndarray) and np.array_equal(W_l, V_l))
    ]
    run = _compare(ref, out)
    if changed:
        which = ", ".join(f"W[{l}]" for l in changed)
        run.notes.append(
            f"(Your function changed the W it was given in place ({which}): harmless here, "
            "where it gets copies, but in training it would change the network's weights "
            "while the gradients are computed.)"
        )
    return run


def _compare(ref: Reference, out: Any) -> _Run:
    """What ``fn`` returned, layer by layer from the output down, against psinet's."""
    grads_out, psis_out = _split(out)
    L = ref.L
    if grads_out is None or len(grads_out) != L:
        what = (
            f"{type(out).__name__}"
            if grads_out is None
            else f"{len(grads_out)} array{'s' * (len(grads_out) != 1)}"
        )
        return _Run(ref, Finding("wrong_count", detail=what))
    grads = [as_gradient(g) for g in grads_out]
    psi_diffs, psi_right = _compare_psis(ref, psis_out)
    run = _Run(ref, Finding("correct"), yours=[g for g in grads if g is not None] or None)
    if all(g is not None for g in grads) and reversed_order(
        [g for g in grads if g is not None], ref
    ):
        run.notes.append("(Your list looks reversed: return [∂E/∂W_0, …, ∂E/∂W_{L-1}].)")
    rows: list[LayerRow] = []
    for l in reversed(range(L)):
        G, R = grads[l], ref.grads[l]
        diff = float(np.max(np.abs(G - R))) if G is not None and G.shape == R.shape else np.nan
        if G is not None and G.shape == R.shape and not np.isfinite(diff):
            diff = np.inf
        if G is None:
            right, found = False, Finding("wrong_shape", detail="not an array of numbers")
        elif not np.isfinite(G).all():
            right, found = False, Finding("not_finite")
        else:
            right = layer_is_right(ref, l, G)
            found = Finding("correct") if right else explain_layer(ref, l, G)
        verdict = "ok" if right else ("differs" if run.layer is not None else found.diagnosis)
        if not right and run.layer is None:
            run.layer, run.finding = l, found
        shape = None if G is None else tuple(G.shape)
        psi_diff = None if psi_diffs is None else psi_diffs[l]
        rows.append(LayerRow(l, R.shape, shape, diff, psi_diff, verdict))
    run.rows = rows
    if run.layer is not None and psi_right is not None:
        l = run.layer
        if psi_right[l]:
            run.notes.append(f"Your Ψ_{l} is right, so the mistake is in ∂E/∂W_{l} = Ψ_{l}ᵀ X̄_{l}.")
        elif l == L - 1 or psi_right[l + 1]:
            run.notes.append(
                f"Your Ψ_{l} already differs from psinet's, and the layers above are right."
            )
    return run


def _split(out: Any) -> tuple[Sequence[Any] | None, Sequence[Any] | None]:
    """``(grads, psis)`` from what ``fn`` returned: a list of gradients, or a pair of
    lists (gradients, Ψs); ``grads`` None when it is neither."""

    def is_list(x: Any) -> bool:
        return isinstance(x, (list, tuple))

    if is_list(out) and len(out) == 2 and is_list(out[0]) and is_list(out[1]):
        return out[0], out[1]
    if is_list(out):
        return out, None
    return None, None


def _compare_psis(
    ref: Reference, psis: Sequence[Any] | None
) -> tuple[list[float] | None, list[bool] | None]:
    """Each returned Ψ_l against psinet's: ``(max |difference|, right)`` per layer; a Ψ
    of shape (n_{l+1}, N) is taken transposed, one of (n_{l+1},) as one sample's."""
    if psis is None or len(psis) != ref.L:
        return None, None
    diffs, right = [], []
    for l, (p, P) in enumerate(zip(psis, ref.psi, strict=True)):
        Q = as_gradient(p)
        if Q is not None and Q.shape != P.shape:
            Q = Q.T if Q.T.shape == P.shape else (Q.reshape(P.shape) if Q.size == P.size else Q)
        if Q is None or Q.shape != P.shape:
            diffs.append(np.nan)
            right.append(False)
            continue
        diffs.append(float(np.max(np.abs(Q - P))))
        tol = ref.rtol * ref.psi_abs[l] + ref.floor
        right.append(close(Q, P, tol))
    return diffs, right


_NOT_LEARNERS = tuple(
    os.path.normcase(os.path.abspath(p)) + os.sep
    for p in (
        os.path.dirname(os.path.dirname(__file__)),  # psinet itself
        os.path.dirname(np.__file__),
        sysconfig.get_paths()["stdlib"],
    )
)


def _error_info(exc: BaseException) -> tuple[str, str | None, str | None]:
    """``("Type: message", "file:line", source line)`` of the innermost frame of the
    learner's own code (not psinet, NumPy or the standard library)."""
    frames = traceback.extract_tb(exc.__traceback__)
    mine = [
        fr
        for fr in frames
        if not os.path.normcase(os.path.abspath(fr.filename)).startswith(_NOT_LEARNERS)
    ]
    what = str(exc) if isinstance(exc, CheckTimeout) else f"{type(exc).__name__}: {exc}"
    if not mine:
        return what, None, None
    fr = mine[-1]
    return what, f"{fr.filename}:{fr.lineno} (in {fr.name})", (fr.line or "").strip() or None


def _report(
    fn: Callable[..., Any],
    net: Network,
    loss: Loss,
    run: _Run,
    note: str,
    *,
    batch_only: bool,
    N: int,
    probed: bool = False,
) -> BackpropCheck:
    """The :class:`BackpropCheck` of the run shown."""
    L, l, found = net.n_layers, run.layer, run.finding
    name = getattr(fn, "__name__", type(fn).__name__)
    sizes = "-".join(map(str, net.sizes))
    names = sorted({f.name for f in net.activations}, key=[f.name for f in net.activations].index)
    title = (
        f"check_backprop({name}): Network {sizes} ({', '.join(names)}), loss {loss.name}, "
        f"a batch of N = {N} and one sample"
        + (" (yours; the batch is psinet's probes)" if probed else "")
    )
    rows = run.rows or [
        LayerRow(k, R.shape, None, np.nan, None, "—")
        for k, R in reversed(list(enumerate(run.ref.grads)))
    ]
    code = found.diagnosis
    error, where, source = run.error or (None, None, None)
    readings = tuple(found.extra.get("names", ()))
    if batch_only and "N" in readings:  # right for one sample: N is the likeliest reading
        readings = ("N", *(n for n in readings if n != "N"))
    text = explain(
        code,
        l,
        L,
        loss=loss.name,
        fused=fused_pair(loss, net.activations[-1]),
        activation="" if l is None else net.activations[l].name,
        factor=found.factor,
        names=readings,
        detail=(error or "") if code == "exception" else found.detail,
        shape=() if l is None else run.ref.grads[l].shape,
    )
    return BackpropCheck(
        passed=code == "correct",
        diagnosis=code,
        first_wrong_layer=l,
        explanation=text + note,
        factor=found.factor,
        batch_only=batch_only,
        layers=rows,
        n_samples=N,
        title=title,
        yours=run.yours,
        expected=[R.copy() for R in run.ref.grads],
        exception=error,
        where=where,
        source_line=source,
        notes=run.notes,
    )
