"""The way out: train digits with psinet, continue in PyTorch on 2 processes, come back.

    python examples/continue_in_pytorch.py [--psinet-epochs 10] [--torch-epochs 10] [--quick]

1. psinet trains a 64-64-10 network (ReLU, softmax) on the bundled digits;
2. ``psinet.interop.to_torch(net, logits=True)`` turns it into a ``torch.nn.Sequential``
   with the very same weights (the softmax is left to ``nn.CrossEntropyLoss``, which is
   psinet's categorical cross-entropy: a sum over the outputs, a mean over the samples);
3. ``DistributedDataParallel`` continues training it on 2 CPU processes (the ``gloo``
   backend on 127.0.0.1, started with ``torch.multiprocessing``): each process sees half of
   every epoch's samples, and the gradients are averaged across processes every step;
4. ``from_torch`` brings the result back and psinet evaluates it.

The accuracy on the held-out quarter is printed before, during and after. On a GPU the same
model goes ``.to("cuda")`` (backend ``nccl``); on many machines the same script runs with more
ranks (``torchrun --nnodes ...``). Needs the ``torch`` extra: ``pip install "psinet[torch]"``.
Writes continued.safetensors (the psinet network after PyTorch) to --out.
"""

from __future__ import annotations

import argparse
import os
import socket
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

import psinet
from psinet import datasets, optimizers

WORLD_SIZE = 2


def _data(seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    X, y = datasets.load_digits()  # X: (1797, 64) pixel counts 0..16, y: (1797,) digits
    X_train, X_test, y_train, y_test = psinet.train_test_split(
        X, y, test_size=0.25, seed=seed, stratify=True
    )
    scaler = psinet.Standardizer().fit(X_train)
    return scaler.transform(X_train), scaler.transform(X_test), y_train, y_test


def _accuracy(net: psinet.Network, X: np.ndarray, y: np.ndarray) -> float:
    return psinet.evaluate(net, X, psinet.one_hot(y, 10), "categorical_crossentropy")["accuracy"]


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _worker(rank: int, model: Any, data: tuple[np.ndarray, ...], args: Any, port: int) -> None:
    """One DDP process: train ``model`` on its share of each epoch; rank 0 reports and saves."""
    import torch
    import torch.distributed as dist
    from torch.nn.parallel import DistributedDataParallel
    from torch.utils.data import DataLoader, DistributedSampler, TensorDataset

    torch.set_num_threads(1)  # two processes on a small machine: no oversubscription
    torch.manual_seed(args.seed)
    dist.init_process_group(
        "gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=WORLD_SIZE
    )
    try:
        X_train, X_test, y_train, y_test = (torch.from_numpy(a) for a in data)
        ddp = DistributedDataParallel(model)
        sampler = DistributedSampler(
            TensorDataset(X_train, y_train), num_replicas=WORLD_SIZE, rank=rank, seed=args.seed
        )
        loader = DataLoader(TensorDataset(X_train, y_train), batch_size=16, sampler=sampler)
        # A new optimizer: psinet's Adam moments do not carry over (see the README).
        optimizer = torch.optim.Adam(ddp.parameters(), lr=1e-3)
        loss_fn = torch.nn.CrossEntropyLoss()  # = psinet's categorical cross-entropy on logits
        for epoch in range(args.torch_epochs):
            sampler.set_epoch(epoch)
            for X_b, y_b in loader:  # 16 samples here, 16 on the other rank: 32 per step
                optimizer.zero_grad()
                loss_fn(ddp(X_b), y_b).backward()  # DDP averages the gradients across ranks
                optimizer.step()
            if rank == 0:
                with torch.no_grad():
                    predicted = model(X_test).argmax(dim=1)
                accuracy = (predicted == y_test).double().mean().item()
                print(f"  torch DDP epoch {epoch + 1}: test accuracy {accuracy:.2%}", flush=True)
        if rank == 0:
            torch.save(model.state_dict(), Path(args.scratch) / "continued.pt")
        dist.barrier()  # both ranks leave together: gloo must not be torn down mid-way
    finally:
        dist.destroy_process_group()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Train digits with psinet, continue with PyTorch DDP on 2 CPU processes."
    )
    parser.add_argument("--psinet-epochs", type=int, default=10)
    parser.add_argument("--torch-epochs", type=int, default=10)
    parser.add_argument("--quick", action="store_true", help="2 + 2 epochs: a smoke run")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("out/continue_in_pytorch"))
    args = parser.parse_args(argv)
    if args.quick:
        args.psinet_epochs, args.torch_epochs = (
            min(args.psinet_epochs, 2),
            min(args.torch_epochs, 2),
        )
    try:
        import torch
        import torch.multiprocessing as mp
    except ImportError:
        print('this example needs PyTorch: pip install "psinet[torch]"')
        return 1
    from psinet.interop import from_torch, save_safetensors, to_torch

    start = time.perf_counter()
    X_train, X_test, y_train, y_test = _data(args.seed)

    # 1. psinet
    net = psinet.Network([64, 64, 10], ["relu", "softmax"], seed=args.seed)
    net.fit(
        X_train,
        psinet.one_hot(y_train, 10),
        loss="categorical_crossentropy",
        optimizer=optimizers.Adam(1e-3),
        epochs=args.psinet_epochs,
        batch_size=32,
        seed=args.seed,
        verbose=0,
    )
    before = _accuracy(net, X_test, y_test)
    print(f"psinet, {args.psinet_epochs} epochs: test accuracy {before:.2%}")

    # 2. the same weights in torch (logits: CrossEntropyLoss applies the softmax itself)
    model = to_torch(net, logits=True)
    with torch.no_grad():
        logits = model(torch.from_numpy(X_test))
    same = np.allclose(torch.softmax(logits, dim=1).numpy(), net.predict(X_test), rtol=1e-12)
    print(f"to_torch: {model[0]} ... outputs equal psinet's to 1e-12: {same}")

    # 3. DDP on 2 CPU processes
    print(f"continuing with DistributedDataParallel on {WORLD_SIZE} processes (gloo):")
    data = (X_train, X_test, y_train.astype(np.int64), y_test.astype(np.int64))
    with tempfile.TemporaryDirectory() as scratch:
        args.scratch = scratch
        mp.spawn(_worker, args=(model, data, args, _free_port()), nprocs=WORLD_SIZE, join=True)
        model.load_state_dict(torch.load(Path(scratch) / "continued.pt", weights_only=True))

    # 4. back in psinet
    continued = from_torch(model, output_activation="softmax")
    with torch.no_grad():
        torch_probabilities = torch.softmax(model(torch.from_numpy(X_test)), dim=1).numpy()
    if not np.allclose(continued.predict(X_test), torch_probabilities, rtol=1e-12, atol=0):
        print("from_torch: psinet's outputs differ from the torch model's")
        return 1
    after = _accuracy(continued, X_test, y_test)
    print(
        f"back in psinet (from_torch): test accuracy {after:.2%} "
        f"(before PyTorch: {before:.2%}); {time.perf_counter() - start:.1f} s in all"
    )
    args.out.mkdir(parents=True, exist_ok=True)
    path = save_safetensors(continued, args.out / "continued.safetensors")
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    raise SystemExit(main())
