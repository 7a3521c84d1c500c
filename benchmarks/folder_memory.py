"""Peak memory of training on a folder of images larger than the memory budget: numcnn's ImageFiles
decode each batch, so the peak stays near the model's size plus a few batches, whatever the set's size.

Run:

    python benchmarks/folder_memory.py [--images 2000] [--size 224] [--steps 20] [--batch-size 32]

It writes ``--images`` random JPEGs (``--size`` x ``--size`` RGB, two classes) into a temporary folder,
then, each in a fresh process, (a) scans and trains ``--steps`` steps of a small CNN with
``image_dataset_from_directory(in_memory=False)``, and (b) the same from the decoded array
(``in_memory=True``), and prints each process's peak RSS (VmHWM, Linux) beside the bytes the decoded
float32 set takes. Never run as a timed test.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))


def make_folder(root, images, size):
    from PIL import Image

    rng = np.random.default_rng(0)
    for k in range(images):
        folder = os.path.join(root, f"class{k % 2}")
        os.makedirs(folder, exist_ok=True)
        pixels = rng.integers(0, 256, (size // 8, size // 8, 3), dtype=np.uint8)
        Image.fromarray(pixels).resize((size, size)).save(os.path.join(folder, f"{k:06d}.jpg"), quality=85)


def child(root, size, steps, batch_size, in_memory):
    sys.path.insert(0, os.path.join(HERE, "..", "src"))
    import numcnn
    from numcnn.data import image_dataset_from_directory
    from numcnn.layers import Conv2D, Dense, GlobalAveragePooling2D, MaxPooling2D

    started = time.perf_counter()
    data = image_dataset_from_directory(root, image_size=(size, size), in_memory=in_memory, verbose=False)
    loaded = time.perf_counter() - started
    model = numcnn.Sequential([Conv2D(8, 3, strides=2, activation="relu", input_shape=(size, size, 3)),
                               MaxPooling2D(2), Conv2D(16, 3, activation="relu"), GlobalAveragePooling2D(),
                               Dense(2)], seed=0)
    model.compile("adam", numcnn.losses.SparseCategoricalCrossentropy(from_logits=True))
    n = min(len(data.y), steps * batch_size)
    started = time.perf_counter()
    model.fit(data.x[:n], data.y[:n], batch_size=batch_size, epochs=1, verbose=0)
    trained = time.perf_counter() - started
    with open("/proc/self/status", encoding="ascii") as f:
        peak = next(int(line.split()[1]) for line in f if line.startswith("VmHWM:")) / 1024
    print(f"{peak:.0f} {loaded:.1f} {trained:.1f} {type(data.x).__name__}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=2000)
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--child", nargs=2, metavar=("ROOT", "IN_MEMORY"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child[0], args.size, args.steps, args.batch_size, args.child[1] == "1")
        return
    root = tempfile.mkdtemp(prefix="numcnn-folder-")
    make_folder(root, args.images, args.size)
    decoded = args.images * args.size * args.size * 3 * 4 / 2**20
    print(f"{args.images} JPEGs of {args.size}x{args.size}x3: {decoded:.0f} MiB as float32; "
          f"{args.steps} steps of batch {args.batch_size}")
    print(f"{'mode':<28}{'peak MiB':>10}{'load s':>9}{'train s':>9}")
    for in_memory in (False, True):
        command = [sys.executable, __file__, "--size", str(args.size), "--steps", str(args.steps), "--batch-size",
                   str(args.batch_size), "--child", root, "1" if in_memory else "0"]
        result = subprocess.run(command, capture_output=True, text=True, check=True)
        peak, loaded, trained, kind = result.stdout.split()
        print(f"{kind + (' (in memory)' if in_memory else ' (from disk)'):<28}{float(peak):>10.0f}{float(loaded):>9.1f}"
              f"{float(trained):>9.1f}")


if __name__ == "__main__":
    main()
