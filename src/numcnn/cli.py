"""The ``numcnn`` command."""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np

from . import __version__
from . import functional as F
from .layers import Conv2D, Dense, Flatten, MaxPooling2D
from .models import Sequential


def simple_convnet(input_shape=(28, 28, 1), classes=10, seed=0) -> Sequential:
    """Seed 002/004's SimpleConvNet: conv(30, 5x5) - relu - maxpool 2 - dense 100 - relu - dense 10."""
    return Sequential([
        Conv2D(30, 5, activation="relu", input_shape=input_shape),
        MaxPooling2D(2),
        Flatten(),
        Dense(100, activation="relu"),
        Dense(classes),
    ], name="simple_convnet", seed=seed)


def _demo(args) -> int:
    rng = np.random.default_rng(args.seed)
    model = simple_convnet(seed=args.seed)
    model.summary()
    x = rng.random((args.batch_size, 28, 28, 1), dtype=np.float32)
    labels = rng.integers(0, 10, args.batch_size)

    start = time.perf_counter()
    logits = model(x, training=True)
    loss, cache = F.softmax_cross_entropy_forward(labels, logits)
    model.backward(F.softmax_cross_entropy_backward(cache))
    seconds = time.perf_counter() - start
    print(f"\nforward + backward on a batch of {args.batch_size} random 28x28 images: {seconds * 1000:.1f} ms")
    print(f"softmax cross-entropy: {loss:.4f} (about ln 10 = {np.log(10):.4f} for an untrained model)")
    print("gradient norms:")
    for name, grad in model.grads.items():
        print(f"  {name:<22} {str(grad.shape):<18} {np.linalg.norm(grad):.6f}")

    # One plain SGD step must lower the loss on the same batch: the gradients point downhill.
    for name, param in model.params.items():
        param -= 0.1 * model.grads[name]
    new_loss = F.softmax_cross_entropy(labels, model(x))
    print(f"after one SGD step (lr 0.1): loss {loss:.4f} -> {new_loss:.4f}")
    return 0 if new_loss < loss else 1


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="numcnn", description="Convolutional neural networks in NumPy, with exact forward and backward passes.")
    parser.add_argument("--version", action="version", version=f"numcnn {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    demo = commands.add_parser(
        "demo", help="build seed 002's SimpleConvNet, run forward + backward on a random batch, print the summary",
        description="Build a small CNN (conv 30x5x5 - relu - maxpool - dense 100 - relu - dense 10), run one forward "
                    "and backward pass on a random batch, print the model summary, the loss, the gradient norms and "
                    "the loss after one SGD step.")
    demo.add_argument("--seed", type=int, default=0, help="seed of the weights and the random batch (default 0)")
    demo.add_argument("--batch-size", type=int, default=32, help="images in the random batch (default 32)")
    demo.set_defaults(run=_demo)
    return parser


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    if getattr(args, "batch_size", 1) < 1:
        parser.error(f"argument --batch-size: must be a positive int. Received: {args.batch_size}")
    if getattr(args, "seed", 0) < 0:
        parser.error(f"argument --seed: must be a non-negative int. Received: {args.seed}")
    return args.run(args)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
