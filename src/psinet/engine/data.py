"""The training data in one epoch's order, and the epoch's loss and accuracy.

What it changes and why the result is the same: the textbook's ``train_step`` takes a
batch ``X_b`` and builds ``X̄_0 = [X_b, 1]``; here a shuffled epoch's permutation is
applied once to ``[X, 1]`` (one pass over the data, not a gather per step) and every
batch is a view of it: the same rows in the same order. The epoch's loss is the mean of
the steps' per-sample losses, computed once at the epoch's end from the outputs each
step kept, with the same function as for a single batch
(:func:`psinet.backprop.output_loss`), in float64.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..backprop import output_loss
from ..layers import Dense, Layer
from ..losses import Loss, fused_pair
from ..metrics import weighted_correct
from ..network import Network
from .patches import built_in, unfold_data
from .step import sigmoid_start, sigmoid_targets

Array = np.ndarray

_COPY_AHEAD_MAX_WIDTH = 256  # unshuffled inputs at least this wide are copied per batch


class EpochData:
    """The training data in one epoch's order, and what the epoch's steps output.

    ``X̄ = [X, 1]``, one contiguous ndarray of shape (N, n_0 + 1) whose ones column is
    written once, and ``Y`` (N, n_L), ``r`` (relative sample weights, (N,) or None): a
    shuffled epoch's permutation is applied once (one pass over the data, not a gather
    per step); unshuffled, X̄ is built once per fit. Every batch is a view of them.
    Each step leaves its ``z_{L-1}`` (for a fused loss, computed stably from z) or its
    ``ŷ`` in an (N, n_L) buffer, and for the classification losses its predicted classes
    in a per-sample buffer: the epoch's loss and accuracy are computed from them once,
    at the end of the epoch, with the same functions as for a single batch.
    """

    def __init__(
        self,
        X: Array,
        Y: Array,
        r: Array | None,
        net: Network,
        loss: Loss,
        *,
        multilabel: bool,
        shuffled: bool,
    ) -> None:
        first = net.layers[0]
        if built_in(first, Dense):  # images into a dense layer: flattened, (C, H, W) order
            X = X.reshape(len(X), -1)
        self._X, self._Y, self._r = X, Y, r
        self.net, self._loss = net, loss
        # A convolution's X̄_0 holds patches (a layer of the user's own: its unfold), made
        # batch by batch from the inputs in this epoch's order (X_images) into the step's
        # own X̄_0 (see X_bar_b)
        self.first: Layer | None = None if built_in(first, Dense) else first
        self.X_images = X
        # Unshuffled, a wide input is copied batch by batch into the cache's X̄_0, where the
        # product reads it while it is still in the CPU cache; built for the whole data
        # ahead, it would be read back from memory (medium, large: 3–5% of a step).
        self.X_bar: Array | None = None
        if self.first is None and (shuffled or X.shape[1] < _COPY_AHEAD_MAX_WIDTH):
            self.X_bar = np.empty((X.shape[0], X.shape[1] + 1), dtype=X.dtype)
            self.X_bar[:, -1] = 1  # the bias "input" of every sample
        self.Y, self.r = Y, r  # in a buffer of their own once shuffled
        # the targets as the steps take them: 2Y − 1 for the sigmoid start, else Y
        self.sigmoid_start = sigmoid_start(net, loss, r is not None)
        self.Y_start = np.empty_like(Y) if self.sigmoid_start else Y
        self._arranged = False
        self._batches: list[tuple[Any, ...]] | None = None
        self.fused = fused_pair(loss, net.activations[-1])
        # z_{L-1} (fused) or ŷ of every sample, widened to float64 as each step copies it
        # in (exact): the epoch's loss is computed in float64 without another copy
        self.outputs = np.empty(Y.shape, dtype=np.float64)
        self._Y64: Array | None = None  # Y in float64, for the loss (when Y is not)
        self.multilabel = multilabel

    def arrange(self, order: Array, shuffled: bool) -> None:
        """Put the samples in ``order`` (N,) into the buffers (once when not shuffled)."""
        if self._arranged and not shuffled:
            return
        self._arranged, self._Y64 = True, None
        if not shuffled:  # order is 0 … N-1: the data as they are
            if self.X_bar is not None:
                self.X_bar[:, :-1] = self._X
            if self.sigmoid_start:
                sigmoid_targets(self.Y, out=self.Y_start)
            return
        if self.first is not None:  # images: the patches are made per batch
            if self.X_images is self._X:
                self.X_images = np.empty_like(self._X)
            np.take(self._X, order, axis=0, out=self.X_images, mode="clip")
        assert self.X_bar is not None or self.first is not None  # built for every shuffled fit
        if self.Y is self._Y:
            self.Y = np.empty_like(self._Y)
            self.r = None if self._r is None else np.empty_like(self._r)
            self._batches = None  # views of the new buffers from now on
        if self.X_bar is not None:
            np.take(self._X, order, axis=0, out=self.X_bar[:, :-1], mode="clip")  # valid indices
        np.take(self._Y, order, axis=0, out=self.Y, mode="clip")
        if self._r is not None and self.r is not None:
            np.take(self._r, order, out=self.r, mode="clip")
        if self.sigmoid_start:
            sigmoid_targets(self.Y, out=self.Y_start)
        else:
            self.Y_start = self.Y

    def batches(self, batch_size: int) -> list[tuple[Any, ...]]:
        """Per step ``(a, b, X̄_0, Y, r, outputs)`` of rows a … b-1: views of the epoch's
        buffers (which every epoch refills in place), made once per fit. ``X̄_0`` is None
        for a wide unshuffled input (see :meth:`X_bar_b`), ``r`` None without weights."""
        if self._batches is None:
            N, X_bar, Y, r, out = len(self.Y), self.X_bar, self.Y_start, self.r, self.outputs
            self._batches = [
                (
                    a,
                    min(a + batch_size, N),
                    None if X_bar is None else X_bar[a : a + batch_size],
                    Y[a : a + batch_size],
                    None if r is None else r[a : a + batch_size],
                    out[a : a + batch_size],
                )
                for a in range(0, N, batch_size)
            ]
        return self._batches

    def X_bar_b(self, a: int, b: int, out: Array) -> Array:
        """``X̄_0`` of rows a … b-1, ndarray of shape (b - a, n_0 + 1), ones column last:
        a view of the arranged data, or copied into ``out`` (its ones column written)."""
        if self.X_bar is not None:
            return self.X_bar[a:b]
        if self.first is not None:  # a convolution's patches, into the step's X̄_0
            return unfold_data(self.first, self.X_images[a:b], out)
        out[:, :-1] = self._X[a:b]
        return out

    def loss(self, seen: int, penalty: float) -> float:
        """E over the first ``seen`` rows (mean of per-sample losses) + ``penalty``/seen."""
        out, Y = self.outputs[:seen], self.Y[:seen]  # summed in float64: no overflow of
        r = None if self.r is None else self.r[:seen]  # the squares or of the sum
        if Y.dtype != np.float64:
            if self._Y64 is None:  # once per arrangement of the data
                self._Y64 = self.Y.astype(np.float64)
            Y = self._Y64[:seen]
            r = None if r is None else r.astype(np.float64)
        f_out = self.net.activations[-1]
        return output_loss(self._loss, f_out, out, out, Y, r) + penalty / seen

    def accuracy(self, seen: int) -> float:
        """The (weighted) fraction of the first ``seen`` rows classified right.

        For a fused output the classes come from z itself: ``argmax_k z = argmax_k
        softmax(z)`` and ``σ(z) > ½`` exactly when ``z > 0`` (ŷ is not formed again).
        """
        out, Y = self.outputs[:seen], self.Y[:seen]
        r = None if self.r is None else self.r[:seen]
        threshold = 0.0 if self.fused else 0.5  # on z (fused) or on ŷ
        return weighted_correct(out, Y, r, self.multilabel, threshold) / seen
