"""Regression: fit a noisy sine with a 1-32-32-1 tanh network and an identity output.

python examples/sine_regression.py [--epochs 1000] [--out out/sine]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

import psinet
from psinet import datasets, optimizers, plot


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Fit a noisy sine (mse, identity output).")
    parser.add_argument("--epochs", type=int, default=1000)
    parser.add_argument("--quick", action="store_true", help="5 epochs at most: a smoke run")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("out/sine"))
    args = parser.parse_args(argv)
    if args.quick:
        args.epochs = min(args.epochs, 5)

    X, Y = datasets.sine(n_samples=400, noise=0.1, seed=args.seed)  # X: (400, 1), Y: (400, 1)
    X_train, X_test, Y_train, Y_test = psinet.train_test_split(X, Y, test_size=0.25, seed=args.seed)
    net = psinet.Network([1, 32, 32, 1], ["tanh", "tanh", "identity"], seed=args.seed)
    history = net.fit(
        X_train,
        Y_train,
        loss="mse",
        optimizer=optimizers.Adam(0.01),
        epochs=args.epochs,
        batch_size=32,
        seed=args.seed,
        validation_data=(X_test, Y_test),
        verbose=0,
    )
    rmse = float(np.sqrt(np.mean((net.predict(X_test) - Y_test) ** 2)))
    rmse_true = float(np.sqrt(np.mean((np.sin(X_test) - Y_test) ** 2)))  # the noise itself
    print(
        f"{net}\nafter {len(history)} epochs: test mse loss {history['val_loss'][-1]:.4f}, "
        f"test RMSE {rmse:.4f} (the noise alone: {rmse_true:.4f})"
    )

    def curve(path: Path) -> object:
        fig = plot.figure((8.0, 4.5))
        ax = fig.add_subplot()
        grid = np.linspace(-np.pi, np.pi, 200)[:, None]
        ax.scatter(X_train[:, 0], Y_train[:, 0], s=6, alpha=0.4, label="training data (noisy)")
        ax.plot(grid[:, 0], np.sin(grid[:, 0]), "k--", label="sin x (the truth)")
        ax.plot(grid[:, 0], net.predict(grid)[:, 0], "C3", label="the network's prediction")
        ax.set_xlabel("x (radians)")
        ax.set_ylabel("y")
        ax.set_title(
            f"A 1-32-32-1 tanh network learns sin x from noisy samples\n"
            f"test RMSE {rmse:.3f} (the noise alone: {rmse_true:.3f})"
        )
        ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), fontsize="small")
        return plot.save(fig, path)

    plot.save_figures(
        args.out,
        {
            "loss.png": lambda path: plot.plot_history(
                history,
                path,
                title=f"Sine: the mse falls to {history['loss'][-1]:.4f} (training) and "
                f"{history['val_loss'][-1]:.4f} (test), the level of the noise",
            ),
            "fit.png": curve,
        },
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
