"""Three interleaved spirals: a nonlinear decision boundary, drawn.

python examples/spirals.py [--epochs 300] [--out out/spirals]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import psinet
from psinet import datasets, optimizers, plot


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Classify three spirals; draw the boundary.")
    parser.add_argument("--epochs", type=int, default=300)
    parser.add_argument("--quick", action="store_true", help="5 epochs at most: a smoke run")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("out/spirals"))
    args = parser.parse_args(argv)
    if args.quick:
        args.epochs = min(args.epochs, 5)

    X, y = datasets.spirals(n_samples=300, n_classes=3, noise=0.2, seed=args.seed)
    Y = psinet.one_hot(y, 3)  # (300, 3)
    net = psinet.Network([2, 64, 64, 3], ["relu", "relu", "softmax"], seed=args.seed)
    history = net.fit(
        X,
        Y,
        loss="categorical_crossentropy",
        optimizer=optimizers.Adam(0.01),
        epochs=args.epochs,
        batch_size=32,
        seed=args.seed,
        verbose=0,
    )
    accuracy = net.evaluate(X, Y, "categorical_crossentropy")["accuracy"]
    print(
        f"{net}\nafter {len(history)} epochs: loss {history['loss'][-1]:.4f}, "
        f"training accuracy {accuracy:.1%}"
    )

    plot.save_figures(
        args.out,
        {
            "loss.png": lambda path: plot.plot_history(
                history,
                path,
                title=f"Three spirals, 2-64-64-3 relu: training accuracy {accuracy:.1%} "
                f"after {len(history)} epochs",
            ),
            "decision_boundary.png": lambda path: plot.plot_decision_boundary(
                net,
                X,
                y,
                path,
                title=f"Three spirals: the network's regions wind with the arms\n"
                f"(training accuracy {accuracy:.1%})",
            ),
        },
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
