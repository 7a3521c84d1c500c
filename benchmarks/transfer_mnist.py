"""Transfer learning on data that is here offline: features learnt on MNIST digits 0-4, a new head
trained on 1,000 images of digits 5-9, against the same network trained from scratch on the same 1,000.

Run (needs ../shared/datasets/mnist, or --data-dir):

    python benchmarks/transfer_mnist.py [--data-dir DIR] [--train-images 1000] [--seeds 0 1 2] [--json out.json]

Everything goes through the ``numcnn`` command as a user would run it: the digits are written as PNG
folders (``train/`` and ``test/``, one subfolder per digit), a base is trained with
``numcnn train --dataset mnist04``, and then, on the 5-9 folder, four runs of the same epochs:

- scratch: ``numcnn train --dataset mnist59`` (the simple CNN, every weight from random);
- head only: ``--from BASE --freeze flatten`` (the base's conv layer kept, a new Dense head trained);
- fine-tuned: the same, then ``--fine-tune-epochs`` with the base unfrozen at ``--fine-tune-lr``;
- whole net: ``--from BASE`` with nothing frozen.

It prints test accuracy on every 5-9 test image (4,861) and training seconds, per seed and their mean.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import statistics
import sys
import tempfile

import numpy as np
from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "src"))

from numcnn.app.cli import main  # noqa: E402
from numcnn.data import load_dataset  # noqa: E402


def write_folder(root, x, y, digits):
    for d in digits:
        os.makedirs(os.path.join(root, str(d)), exist_ok=True)
    for i, (image, label) in enumerate(zip(x[..., 0], y)):
        Image.fromarray((image * 255 + 0.5).astype(np.uint8)).save(os.path.join(root, str(label), f"{i:05d}.png"))


def train(*flags):
    """``numcnn train`` in this process; its metrics.json."""
    out = flags[flags.index("--out") + 1]
    with contextlib.redirect_stdout(io.StringIO()):
        code = main(["train", "--progress", "quiet", *flags])
    if code != 0:
        raise SystemExit(f"numcnn train {' '.join(flags)} failed with exit code {code}")
    with open(os.path.join(out, "metrics.json"), encoding="utf-8") as f:
        return json.load(f)


def main_():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=os.path.join(HERE, "..", "..", "shared", "datasets", "mnist"))
    parser.add_argument("--train-images", type=int, default=1000, help="5-9 training images (default 1000)")
    parser.add_argument("--base-epochs", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=10, help="epochs of each 5-9 run (default 10)")
    parser.add_argument("--fine-tune-epochs", type=int, default=5)
    parser.add_argument("--fine-tune-lr", type=float, default=1e-4)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--model", default="simple", help="the base's and the scratch run's model (default simple)")
    parser.add_argument("--json")
    args = parser.parse_args()
    data = load_dataset("mnist", args.data_dir)
    work = tempfile.mkdtemp(prefix="numcnn-transfer-")
    low_train, low_test = data.y_train < 5, data.y_test < 5
    write_folder(os.path.join(work, "mnist04", "train"), data.x_train[low_train], data.y_train[low_train], range(5))
    write_folder(os.path.join(work, "mnist04", "test"), data.x_test[low_test], data.y_test[low_test], range(5))
    high = np.flatnonzero(data.y_train >= 5)[:args.train_images]
    write_folder(os.path.join(work, "mnist59", "train"), data.x_train[high], data.y_train[high], range(5, 10))
    write_folder(os.path.join(work, "mnist59", "test"), data.x_test[~low_test], data.y_test[~low_test], range(5, 10))
    common = ["--image-size", "28", "28", "--color-mode", "grayscale", "--model", args.model]
    base = os.path.join(work, "base")
    base_metrics = train("--dataset", os.path.join(work, "mnist04"), *common, "--epochs", str(args.base_epochs),
                         "--batch-size", "100", "--out", base)
    print(f"{args.model} base on digits 0-4 ({int(low_train.sum())} images, {args.base_epochs} epochs): test accuracy "
          f"{base_metrics['test_accuracy']:.4f}", flush=True)
    target = os.path.join(work, "mnist59")
    runs = {
        "scratch": ["--epochs", str(args.epochs)],
        "head only (frozen base)": ["--from", base, "--freeze", "flatten", "--epochs", str(args.epochs)],
        "head, then fine-tuned": ["--from", base, "--freeze", "flatten", "--epochs", str(args.epochs),
                                  "--fine-tune-epochs", str(args.fine_tune_epochs), "--fine-tune-lr",
                                  str(args.fine_tune_lr)],
        "whole net from the base": ["--from", base, "--epochs", str(args.epochs)],
    }
    results = {name: [] for name in runs}
    for seed in args.seeds:
        for name, flags in runs.items():
            metrics = train("--dataset", target, *common, *flags, "--seed", str(seed),
                            "--out", os.path.join(work, f"{name.split()[0]}-{len(results[name])}-{seed}"))
            results[name].append((metrics["test_accuracy"], metrics["seconds"], metrics["epochs"]))
            print(f"seed {seed}  {name:<26} test accuracy {metrics['test_accuracy']:.4f}  "
                  f"{metrics['epochs']} epochs, {metrics['seconds']:.1f} s", flush=True)
    print(f"\n| run | test accuracy (mean of {len(args.seeds)} seeds) | min | max | epochs | training s |")
    print("|---|---|---|---|---|---|")
    for name, rows in results.items():
        acc = [r[0] for r in rows]
        print(f"| {name} | {statistics.mean(acc):.4f} | {min(acc):.4f} | {max(acc):.4f} | {rows[0][2]} | "
              f"{statistics.mean(r[1] for r in rows):.1f} |")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump({"base": base_metrics, "runs": results, "args": vars(args)}, f, indent=2)


if __name__ == "__main__":
    main_()
