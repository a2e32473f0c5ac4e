"""XOR with a 2-2-1 sigmoid network: the classic that a single layer cannot learn.

    python examples/xor.py [--epochs 1000] [--out out/xor]

Prints the four predictions and writes the loss curve and the decision boundary.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import psinet
from psinet import datasets, optimizers, plot


def titles(history: psinet.History) -> tuple[str, str]:
    """The loss plot's and the decision boundary's titles, saying what this run reached.

    A short run (``--quick``) has not solved XOR yet: the titles say so rather than
    claim what the full run shows.
    """
    first, last, accuracy = history["loss"][0], history["loss"][-1], history["accuracy"][-1]
    moves = "falls" if last < first else "goes"
    loss_title = (
        f"XOR, 2-2-1 sigmoid: the loss {moves} from {first:.3g} to {last:.3g} "
        f"in {len(history)} epochs, accuracy {accuracy:.0%}"
    )
    if accuracy == 1.0:
        boundary_title = (
            "XOR: two hidden neurons are enough to put\n"
            "(0, 0) and (1, 1) on one side, (0, 1) and (1, 0) on the other"
        )
    else:
        boundary_title = (
            f"XOR after {len(history)} epochs: not solved yet ({accuracy:.0%} right);\n"
            "train longer (the default 1000 epochs) to see the two sides"
        )
    return loss_title, boundary_title


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Train a 2-2-1 sigmoid network on XOR.")
    parser.add_argument("--epochs", type=int, default=1000)
    parser.add_argument("--quick", action="store_true", help="5 epochs at most: a smoke run")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", type=Path, default=Path("out/xor"))
    args = parser.parse_args(argv)
    if args.quick:
        args.epochs = min(args.epochs, 5)

    X, y = datasets.xor()  # X: (4, 2), y: (4,) in {0, 1}
    net = psinet.Network([2, 2, 1], "sigmoid", seed=args.seed)
    print(net.summary())
    history = net.fit(
        X,
        y,
        loss="binary_crossentropy",
        optimizer=optimizers.SGD(2.0, momentum=0.9),
        epochs=args.epochs,
        batch_size=4,
        seed=args.seed,
        verbose=0,
    )
    print(
        f"\nafter {len(history)} epochs: loss {history['loss'][-1]:.4f}, "
        f"accuracy {history['accuracy'][-1]:.0%}"
    )
    for x, target, p in zip(X, y, net.predict(X)[:, 0]):
        print(f"  x = {x.astype(int)}  target {target}  predicted {p:.3f}")

    loss_title, boundary_title = titles(history)
    plot.save_figures(
        args.out,
        {
            "loss.png": lambda path: plot.plot_history(
                history,
                path,
                title=loss_title,
            ),
            "decision_boundary.png": lambda path: plot.plot_decision_boundary(
                net,
                X,
                y,
                path,
                title=boundary_title,
            ),
        },
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
