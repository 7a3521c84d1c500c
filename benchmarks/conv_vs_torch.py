"""Forward + backward time of numcnn's conv2d and max_pool2d against PyTorch CPU, in one process.

Run (needs the test extra for torch):

    python benchmarks/conv_vs_torch.py [--repeats 7] [--json results.json]

Cases: the convolution and pooling layers below, and one whole training step of seed
002's SimpleConvNet (100 images, all layers + loss + Adam update). Same float32 data,
same thread count (torch.set_num_threads = BLAS threads, default the number of cores),
warm-up first, median of the repeats. Prints one row per case
and the geometric mean of the ratios numcnn / torch. Never run as a timed test.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import time

import numpy as np
import torch

from numcnn import functional as F

# name, N, H, W, Cin, Cout, k, stride, padding, groups, dilation
CONV_CASES = [
    ("mnist first layer 1->30 5x5", 100, 28, 28, 1, 30, 5, 1, "valid", 1, 1),
    ("lenet second layer 6->16 5x5", 64, 14, 14, 6, 16, 5, 1, "valid", 1, 1),
    ("cifar 64->64 3x3 same", 64, 32, 32, 64, 64, 3, 1, "same", 1, 1),
    ("resnet 128->128 3x3 same", 32, 16, 16, 128, 128, 3, 1, "same", 1, 1),
    ("resnet 128->128 3x3 same s2", 32, 16, 16, 128, 128, 3, 2, "same", 1, 1),
    ("depthwise 64 3x3 same", 32, 32, 32, 64, 64, 3, 1, "same", 64, 1),
    ("dilated 32->32 3x3 d2", 32, 32, 32, 32, 32, 3, 1, "same", 1, 2),
]
POOL_CASES = [("maxpool 2x2", 100, 24, 24, 30, 2, 2), ("maxpool 3x3 s2", 32, 32, 32, 64, 3, 2)]


def _median_ms(fn, repeats):
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def _conv_case(case, rng, repeats):
    _, n, h, w, cin, cout, k, s, padding, groups, d = case
    x = rng.standard_normal((n, h, w, cin), dtype=np.float32)
    kernel = rng.standard_normal((k, k, cin // groups, cout), dtype=np.float32)
    bias = rng.standard_normal(cout, dtype=np.float32)
    pads = F.resolve_padding(padding, (h, w), (k, k), (s, s), (d, d))
    dy_shape = F.conv2d(x[:1], kernel, bias, s, padding, d, groups).shape[1:]
    dy = rng.standard_normal((n, *dy_shape), dtype=np.float32)

    def ours():
        _, cache = F.conv2d_forward(x, kernel, bias, s, padding, d, groups)
        F.conv2d_backward(dy, cache)

    xt = torch.tensor(x.transpose(0, 3, 1, 2).copy(), requires_grad=True)
    kt = torch.tensor(kernel.transpose(3, 2, 0, 1).copy(), requires_grad=True)
    bt = torch.tensor(bias, requires_grad=True)
    dyt = torch.tensor(dy.transpose(0, 3, 1, 2).copy())
    (top, bottom), (left, right) = pads

    def theirs():
        y = torch.nn.functional.conv2d(torch.nn.functional.pad(xt, (left, right, top, bottom)), kt, bt,
                                       stride=s, dilation=d, groups=groups)
        y.backward(dyt)

    return _median_ms(ours, repeats), _median_ms(theirs, repeats)


def _pool_case(case, rng, repeats):
    _, n, h, w, c, p, s = case
    x = rng.standard_normal((n, h, w, c), dtype=np.float32)
    dy = rng.standard_normal(F.max_pool2d(x[:1], p, s).shape[1:], dtype=np.float32)
    dy = np.broadcast_to(dy, (n, *dy.shape)).copy()

    def ours():
        _, cache = F.max_pool2d_forward(x, p, s)
        F.max_pool2d_backward(dy, cache)

    xt = torch.tensor(x.transpose(0, 3, 1, 2).copy(), requires_grad=True)
    dyt = torch.tensor(dy.transpose(0, 3, 1, 2).copy())

    def theirs():
        torch.nn.functional.max_pool2d(xt, p, s).backward(dyt)

    return _median_ms(ours, repeats), _median_ms(theirs, repeats)


def _training_step_case(rng, repeats):
    """One training step of seed 002's SimpleConvNet on 100 MNIST-sized images: all layers, loss, Adam."""
    from numcnn.losses import SparseCategoricalCrossentropy
    from numcnn.models.zoo import simple_convnet

    x = rng.random((100, 28, 28, 1), dtype=np.float32)
    labels = rng.integers(0, 10, 100)
    model = simple_convnet((28, 28, 1), 10, seed=0)
    model.compile("adam", SparseCategoricalCrossentropy(from_logits=True))

    def ours():
        model.train_on_batch(x, labels)

    net = torch.nn.Sequential(torch.nn.Conv2d(1, 30, 5), torch.nn.ReLU(), torch.nn.MaxPool2d(2), torch.nn.Flatten(),
                              torch.nn.Linear(30 * 12 * 12, 100), torch.nn.ReLU(), torch.nn.Linear(100, 10))
    optimizer = torch.optim.Adam(net.parameters(), lr=0.001)
    xt, yt = torch.tensor(x.transpose(0, 3, 1, 2).copy()), torch.tensor(labels)

    def theirs():
        optimizer.zero_grad()
        torch.nn.functional.cross_entropy(net(xt), yt).backward()
        optimizer.step()

    return _median_ms(ours, repeats), _median_ms(theirs, repeats)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7, help="timed runs per case (median reported)")
    parser.add_argument("--threads", type=int, default=os.cpu_count(), help="torch threads (match NumPy's BLAS)")
    parser.add_argument("--json", help="also write the results to this JSON file")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    rng = np.random.default_rng(0)
    rows = []
    print(f"{'case':<32}{'numcnn ms':>11}{'torch ms':>10}{'ratio':>8}")
    for case in CONV_CASES:
        ours, theirs = _conv_case(case, rng, args.repeats)
        rows.append({"case": case[0], "kind": "conv", "numcnn_ms": ours, "torch_ms": theirs, "ratio": ours / theirs})
    for case in POOL_CASES:
        ours, theirs = _pool_case(case, rng, args.repeats)
        rows.append({"case": case[0], "kind": "pool", "numcnn_ms": ours, "torch_ms": theirs, "ratio": ours / theirs})
    ours, theirs = _training_step_case(rng, args.repeats)
    rows.append({"case": "SimpleConvNet step, N=100", "kind": "step", "numcnn_ms": ours, "torch_ms": theirs,
                 "ratio": ours / theirs})
    for row in rows:
        print(f"{row['case']:<32}{row['numcnn_ms']:>11.2f}{row['torch_ms']:>10.2f}{row['ratio']:>8.2f}")
    conv = [r["ratio"] for r in rows if r["kind"] == "conv"]
    geomean = math.exp(sum(math.log(r) for r in conv) / len(conv))
    print(f"geometric mean of conv ratios (numcnn / torch): {geomean:.2f}")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump({"threads": args.threads, "rows": rows, "conv_geomean": geomean}, f, indent=2)


if __name__ == "__main__":
    main()
