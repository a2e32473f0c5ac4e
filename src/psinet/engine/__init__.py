"""The engine: the textbook's training step, made fast. ``fit`` runs it.

The textbook (:meth:`psinet.Network.forward` and :func:`psinet.backprop.backward`,
run by ``train_step``, ``gradients``, ``trace`` and ``check_gradients``) makes the four
moves of the derivation on a batch, each line an equation::

    1. forward     X̄_l = [unfold(X_l), 1],  z_l = X̄_l W_lᵀ,  X_{l+1} = f_l(z_l)
    2. start       Ψ_{L-1} = ∂E/∂ŷ ⊙ f'_{L-1}(z_{L-1})
    3. backward    ∂E/∂W_l = Ψ_lᵀ X̄_l,  Ψ_{l-1} = fold(Ψ_l W_l[:, :-1]) ⊙ f'_{l-1}(z_{l-1})
    4. update      optimizer.step(W, ∂E/∂W)

(unfold and fold change nothing for a dense layer; a convolution's make its patch rows
and add them back onto their pixels, :mod:`psinet.layers`.)

The engine makes the same moves and computes the same numbers, to rounding. Each trick
changes how, never what (the module that holds it says why the result is the same):

* **buffers and bound moves** (:mod:`.buffers`, :mod:`.moves`): arrays allocated once per
  batch size, the ones column of ``X̄_l`` written once, each layer's product and
  activation bound to them ahead of time (no per-call overhead);
* **transposed layouts** (:mod:`.buffers`): ``z_l`` kept as the transpose of the same
  product where BLAS or the row reductions are faster that way;
* **η folded into Ψ and fused starts** (:mod:`.step`): plain SGD's η multiplies the
  start, so the update is ``w ← w − g``; the exact built-in pairs start from
  ``(ŷ − Y)/B``, a sigmoid output from ``tanh(z/2)``;
* **the divergence bound** (:mod:`.sweep`): a step is proved finite from batch-sized
  Cauchy–Schwarz bounds, not a pass over the weights;
* **the deferred first-layer update** (:mod:`.deferred`): a wide first layer's updates
  applied a few steps at a time, the forward pass corrected exactly in between;
* **the epoch's data arrangement** (:mod:`.data`): one permutation per epoch, batches
  as views, the epoch's loss from the outputs the steps kept;
* **patches in place** (:mod:`.patches`): a convolution's patches written straight into
  ``X̄_l``'s buffer through a window view bound once, and its fold added offset by
  offset into the buffer ``Ψ_{l-1}`` is made in (no new arrays, no ``hstack``).

A fast path stands in for a part only when the part is exactly the built-in
(:func:`psinet._contract.exactly`); a custom activation or loss, or a subclass that
changes a built-in's math, runs through the plain protocol (``f(z)``, ``f.chain``,
``loss.gradient``) as in the textbook, and the deferred update is off while any such
part is in the network. ``tests/test_engine.py`` proves ``fit`` equal to a loop of the
textbook's ``train_step`` on random networks, losses, optimizers, dtypes and batchings,
with a mutation test per trick. The textbook never imports the engine.
"""

from .run import Engine

__all__ = ["Engine"]
