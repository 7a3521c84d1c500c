"""One MNIST epoch of seed 002's SimpleConvNet (or the deep model) in numcnn and in PyTorch CPU, in one run.

Run (needs the test extra for torch, and the MNIST IDX files):

    python benchmarks/train_mnist_vs_torch.py --data-dir ../shared/datasets/mnist [--model deep] [--epochs 1]
        [--json out.json]

Both train the identical network on all 60,000 training images with the same batch size
(100), optimizer (Adam, lr 0.001), shuffling each epoch, and thread count
(torch.set_num_threads equal to the BLAS threads NumPy uses), and numcnn with the allocator settings of the
``numcnn`` command (:func:`numcnn.utils.memory.keep_freed_memory`). ``--model simple`` (default):
conv 30@5x5 - relu - maxpool 2 - dense 100 - relu - dense 10. ``--model deep``: the network of
``numcnn train --model deep``, three blocks of two 3x3 conv (16, 32, 64, no bias) - batch norm -
relu, each block ending in 2x2 max pooling (the last "same", which PyTorch writes as
``ceil_mode=True``), then dense 50 - relu - dropout 0.5 - dense 10; no augmentation in either. Each framework runs in its own subprocess so that
peak memory (max RSS) is its own. Printed: seconds per epoch, the ratio numcnn / torch,
peak RSS, and test accuracy on the 10,000 test images. Never run as a timed test.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time

import numpy as np

BATCH, LR = 100, 0.001


def _blas_threads() -> int:
    from threadpoolctl import threadpool_info

    counts = [p["num_threads"] for p in threadpool_info() if p.get("user_api") == "blas"]
    return max(counts) if counts else 1


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def _numcnn(data, epochs, seed, name):
    from numcnn.losses import SparseCategoricalCrossentropy
    from numcnn.models.zoo import deep_convnet, simple_convnet
    from numcnn.optimizers import Adam

    try:
        from numcnn.utils.memory import keep_freed_memory
    except ImportError:  # an older numcnn, before its allocator settings
        keep_freed_memory = bool
    keep_freed_memory()  # as the numcnn command runs

    model = (simple_convnet if name == "simple" else deep_convnet)((28, 28, 1), 10, seed=seed)
    model.compile(Adam(LR), SparseCategoricalCrossentropy(from_logits=True), ["accuracy"])
    start = time.perf_counter()
    model.fit(data.x_train, data.y_train, batch_size=BATCH, epochs=epochs, seed=seed, verbose=0)
    seconds = time.perf_counter() - start
    accuracy = float(np.mean(model.predict(data.x_test, batch_size=1000).argmax(1) == data.y_test))
    return seconds, accuracy


def _torch_model(name):
    from torch import nn

    if name == "simple":
        return nn.Sequential(nn.Conv2d(1, 30, 5), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                             nn.Linear(30 * 12 * 12, 100), nn.ReLU(), nn.Linear(100, 10))
    layers, channels = [], 1
    for filters, ceil in ((16, False), (32, False), (64, True)):
        for _ in range(2):
            layers += [nn.Conv2d(channels, filters, 3, padding=1, bias=False), nn.BatchNorm2d(filters, momentum=0.01,
                                                                                                eps=1e-3), nn.ReLU()]
            channels = filters
        layers.append(nn.MaxPool2d(2, ceil_mode=ceil))
    return nn.Sequential(*layers, nn.Flatten(), nn.Linear(64 * 4 * 4, 50), nn.ReLU(), nn.Dropout(0.5),
                         nn.Linear(50, 10))


def _torch(data, epochs, seed, threads, name):
    import torch
    from torch import nn

    torch.set_num_threads(threads)
    torch.manual_seed(seed)
    model = _torch_model(name)
    optimizer = torch.optim.Adam(model.parameters(), lr=LR)
    x = torch.from_numpy(np.ascontiguousarray(data.x_train.transpose(0, 3, 1, 2)))
    y = torch.from_numpy(data.y_train)
    generator = torch.Generator().manual_seed(seed)
    start = time.perf_counter()
    for _ in range(epochs):
        order = torch.randperm(len(x), generator=generator)
        for i in range(0, len(x), BATCH):
            index = order[i:i + BATCH]
            optimizer.zero_grad()
            loss = nn.functional.cross_entropy(model(x[index]), y[index])
            loss.backward()
            optimizer.step()
    seconds = time.perf_counter() - start
    model.eval()
    with torch.no_grad():
        x_test = torch.from_numpy(np.ascontiguousarray(data.x_test.transpose(0, 3, 1, 2)))
        accuracy = float((model(x_test).argmax(1).numpy() == data.y_test).mean())
    return seconds, accuracy


def _worker(args):
    from numcnn.data import load_dataset

    data = load_dataset("mnist", args.data_dir, download_missing=False)
    threads = _blas_threads()
    if args.worker == "numcnn":
        seconds, accuracy = _numcnn(data, args.epochs, args.seed, args.model)
    else:
        seconds, accuracy = _torch(data, args.epochs, args.seed, threads, args.model)
    print(json.dumps({"framework": args.worker, "seconds_per_epoch": seconds / args.epochs, "test_accuracy": accuracy,
                      "peak_rss_mb": _peak_rss_mb(), "threads": threads, "epochs": args.epochs}))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", default=os.environ.get("NUMCNN_DATA_DIR"), help="directory with the MNIST IDX files")
    parser.add_argument("--epochs", type=int, default=1, help="epochs per framework (default 1)")
    parser.add_argument("--seed", type=int, default=0, help="seed of weights and shuffling (default 0)")
    parser.add_argument("--model", choices=("simple", "deep"), default="simple", help="the network (default simple)")
    parser.add_argument("--json", help="also write the results to this JSON file")
    parser.add_argument("--worker", choices=("numcnn", "torch"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        return _worker(args)

    results = {}
    for framework in ("numcnn", "torch"):
        command = [sys.executable, __file__, "--worker", framework, "--epochs", str(args.epochs), "--seed", str(args.seed),
                   "--model", args.model]
        if args.data_dir:
            command += ["--data-dir", args.data_dir]
        done = subprocess.run(command, capture_output=True, text=True)
        if done.returncode != 0:
            sys.exit(f"{framework} run failed:\n{done.stderr}")
        results[framework] = json.loads(done.stdout.strip().splitlines()[-1])
    ours, theirs = results["numcnn"], results["torch"]
    print(f"{'SimpleConvNet' if args.model == 'simple' else 'the deep model'}, MNIST 60,000 images, batch {BATCH}, Adam lr {LR}, {ours['threads']} threads, "
          f"{args.epochs} epoch(s)")
    print(f"{'':<8}{'s/epoch':>10}{'peak RSS MB':>13}{'test acc':>10}")
    for name, r in results.items():
        print(f"{name:<8}{r['seconds_per_epoch']:>10.1f}{r['peak_rss_mb']:>13.0f}{r['test_accuracy']:>10.4f}")
    ratio = ours["seconds_per_epoch"] / theirs["seconds_per_epoch"]
    memory = ours["peak_rss_mb"] / theirs["peak_rss_mb"]
    print(f"ratio numcnn / torch: time {ratio:.2f}, peak memory {memory:.2f}")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump({"results": results, "time_ratio": ratio, "memory_ratio": memory}, f, indent=2)


if __name__ == "__main__":
    main()
