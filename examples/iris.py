"""Iris: 150 flowers, 4 measurements, 3 species; a small network with early stopping.

python examples/iris.py [--epochs 200] [--out out/iris]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import psinet
from psinet import datasets, optimizers, plot
from psinet.training import EarlyStopping


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Classify the Iris flowers.")
    parser.add_argument("--epochs", type=int, default=200)
    parser.add_argument("--quick", action="store_true", help="5 epochs at most: a smoke run")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("out/iris"))
    args = parser.parse_args(argv)
    if args.quick:
        args.epochs = min(args.epochs, 5)

    X, y = datasets.load_iris()  # X: (150, 4) in cm, y: (150,) in {0, 1, 2}
    X_train, X_test, y_train, y_test = psinet.train_test_split(
        X, y, test_size=0.3, seed=args.seed, stratify=True
    )
    X_train, X_test = psinet.standardize(X_train, X_test)
    Y_train, Y_test = psinet.one_hot(y_train, 3), psinet.one_hot(y_test, 3)

    net = psinet.Network([4, 16, 3], ["tanh", "softmax"], seed=args.seed)
    history = net.fit(
        X_train,
        Y_train,
        loss="categorical_crossentropy",
        optimizer=optimizers.Adam(0.01),
        epochs=args.epochs,
        batch_size=16,
        seed=args.seed,
        validation_split=0.2,
        callbacks=[EarlyStopping("val_loss", patience=20)],
        verbose=0,
    )
    scores = net.evaluate(X_test, Y_test, "categorical_crossentropy")
    print(
        f"{net}\n{len(history)} epochs ({history.stopped or 'all ran'}); "
        f"test loss {scores['loss']:.4f}, test accuracy {scores['accuracy']:.1%}"
    )

    plot.save_figures(
        args.out,
        {
            "loss.png": lambda path: plot.plot_history(
                history,
                path,
                title=f"Iris, 4-16-3: {len(history)} epochs "
                f"({'stopped early' if history.stopped else 'all ran'}), "
                f"test accuracy {scores['accuracy']:.1%}",
            ),
        },
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
