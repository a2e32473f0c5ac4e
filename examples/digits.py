"""The main job: handwritten digits (8×8, 1,797 images) with a 64-128-10 network.

    python examples/digits.py [--epochs 60] [--out out/digits]

Trains with progress, prints the test accuracy, saves the model (digits.npz)
and a loss-curve PNG in --out.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

import psinet
from psinet import datasets, optimizers, plot


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Train a digit classifier on UCI digits.")
    parser.add_argument("--epochs", type=int, default=60)
    parser.add_argument("--quick", action="store_true", help="5 epochs at most: a smoke run")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("out/digits"))
    parser.add_argument("--verbose", type=int, default=1)
    args = parser.parse_args(argv)
    if args.quick:
        args.epochs = min(args.epochs, 5)

    X, y = datasets.load_digits()  # X: (1797, 64) pixel counts 0..16, y: (1797,) digits
    X_train, X_test, y_train, y_test = psinet.train_test_split(
        X, y, test_size=0.25, seed=args.seed, stratify=True
    )
    scaler = psinet.Standardizer().fit(X_train)
    X_train, X_test = scaler.transform(X_train), scaler.transform(X_test)
    Y_train, Y_test = psinet.one_hot(y_train, 10), psinet.one_hot(y_test, 10)

    net = psinet.Network([64, 128, 10], ["relu", "softmax"], seed=args.seed)
    print(net.summary(), "\n")
    start = time.perf_counter()
    history = net.fit(
        X_train,
        Y_train,
        loss="categorical_crossentropy",
        optimizer=optimizers.Adam(1e-3),
        epochs=args.epochs,
        batch_size=32,
        seed=args.seed,
        l2=1e-4,
        validation_split=0.1,
        verbose=args.verbose,
    )
    seconds = time.perf_counter() - start
    scores = net.evaluate(X_test, Y_test, "categorical_crossentropy")
    predicted = net.predict(X_test).argmax(axis=1)
    print(f"\ntrained {len(history)} epochs in {seconds:.1f} s")
    print(
        f"test accuracy {scores['accuracy']:.2%} on {len(X_test)} images "
        f"({int((predicted != y_test).sum())} mistakes)"
    )
    confusion = np.zeros((10, 10), dtype=int)
    np.add.at(confusion, (y_test, predicted), 1)
    print("confusion matrix (rows: true digit, columns: predicted):")
    for digit, row in enumerate(confusion):
        print(f"  {digit}: " + " ".join(f"{n:3d}" for n in row))

    args.out.mkdir(parents=True, exist_ok=True)
    model = net.save(args.out / "digits.npz")
    print(f"saved the model to {model}")
    plot.save_figures(
        args.out,
        {
            "loss.png": lambda path: plot.plot_history(
                history,
                path,
                title=f"Digits, 64-128-10: final loss {history['loss'][-1]:.3f} (training), "
                f"{history['val_loss'][-1]:.3f} (validation); test accuracy "
                f"{scores['accuracy']:.1%}",
            ),
        },
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
