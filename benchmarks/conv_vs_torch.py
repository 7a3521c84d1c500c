"""Forward + backward time of numcnn's conv2d and max_pool2d against PyTorch CPU, in one process.

Run (needs the test extra for torch):

    python benchmarks/conv_vs_torch.py [--repeats 5] [--json results.json] [--no-memory]

Cases: the convolution and pooling layers below, and one whole training step of seed
002's SimpleConvNet (100 images, all layers + loss + Adam update). Same float32 data,
same thread count (torch.set_num_threads = BLAS threads = numcnn's element-wise threads,
default the number of cores), each timed in blocks of back-to-back runs after a pause and
a warm-up run, two blocks each in alternating order; medians reported. Prints one row per case and the geometric
mean of the ratios numcnn / torch over the convolution cases. Peak memory of each
convolution case (RSS added by one forward + backward, each framework in a fresh
process) is reported beside it on Linux. numcnn's timings run with the allocator settings of the
``numcnn`` command (:func:`numcnn.utils.memory.keep_freed_memory`). Never run as a timed test.
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import os
import statistics
import subprocess
import sys
import time

import numpy as np
import torch

from numcnn import functional as F

try:
    from numcnn import set_num_threads
except ImportError:  # an older numcnn (before its element-wise threads), to compare runs across versions
    set_num_threads = None
try:
    from numcnn.utils.memory import keep_freed_memory
except ImportError:  # an older numcnn, before its allocator settings
    keep_freed_memory = None

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


def _blocked_ms(ours, theirs, repeats):
    """Median ms of each over two rounds of ``repeats`` back-to-back runs, ours first then theirs first.

    Each block starts after a pause and one untimed run. Alternating single runs would be unfair:
    OpenBLAS and OpenMP worker threads keep spinning for up to ~0.1 s after a call, so whichever
    library ran last steals a core from the next one. Two rounds in opposite order spread slow
    drifts of the machine's speed over both.

    Returns ``(ours_ms, theirs_ms, ours_ms / theirs_ms)``.
    """
    times = {ours: [], theirs: []}
    for order in ((ours, theirs), (theirs, ours)):
        for fn in order:
            time.sleep(0.25)  # let the other library's worker threads stop spinning
            fn()
            for _ in range(repeats):
                start = time.perf_counter()
                fn()
                times[fn].append((time.perf_counter() - start) * 1000)
    ours_ms, theirs_ms = statistics.median(times[ours]), statistics.median(times[theirs])
    return ours_ms, theirs_ms, ours_ms / theirs_ms


def _conv_case(case, rng):
    """The two callables of a convolution case: numcnn's and torch's forward + backward."""
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

    return ours, theirs


def _pool_case(case, rng):
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

    return ours, theirs


def _training_step_case(rng):
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

    return ours, theirs


def _rss_kib(field):
    """VmRSS or VmHWM of this process in KiB, from /proc (Linux)."""
    with open("/proc/self/status", encoding="ascii") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise OSError(f"{field} not in /proc/self/status")


def _peak_mib(index, framework):
    """Run in a fresh process: peak RSS added by one forward + backward of conv case ``index``.

    Inputs, kernels and dy for both frameworks exist before the peak is reset (Linux
    ``/proc/self/clear_refs``), so the number is what the pass itself allocates: the
    output, what is kept for the backward, the temporaries and the gradients.
    """
    ours, theirs = _conv_case(CONV_CASES[index], np.random.default_rng(0))
    fn = ours if framework == "numcnn" else theirs
    fn()  # first call: thread pools, library initialisation
    gc.collect()
    with open("/proc/self/clear_refs", "w", encoding="ascii") as f:
        f.write("5")  # reset VmHWM to the current RSS
    base = _rss_kib("VmRSS")
    fn()
    return (_rss_kib("VmHWM") - base) / 1024


def _peak_in_subprocess(index, framework, threads):
    command = [sys.executable, __file__, "--threads", str(threads), "--peak-of", str(index), framework]
    # every allocation above 128 KiB gets its own mapping, returned to the system when freed, so
    # RSS follows what is alive and neither framework hides behind memory freed by an earlier call
    env = dict(os.environ, MALLOC_MMAP_THRESHOLD_="131072")
    result = subprocess.run(command, capture_output=True, text=True, check=False, env=env)
    if result.returncode != 0:
        return None
    return float(result.stdout.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5,
                        help="timed runs per block; two blocks per framework and case (medians reported)")
    parser.add_argument("--threads", type=int, default=os.cpu_count(),
                        help="threads for torch, OpenBLAS and numcnn's element-wise kernels")
    parser.add_argument("--json", help="also write the results to this JSON file")
    parser.add_argument("--no-memory", action="store_true", help="skip the peak-memory runs (one process each)")
    parser.add_argument("--peak-of", nargs=2, metavar=("CASE", "FRAMEWORK"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if set_num_threads is not None:
        set_num_threads(args.threads)
    if args.peak_of:
        print(_peak_mib(int(args.peak_of[0]), args.peak_of[1]))
        return
    if keep_freed_memory is not None:  # the timings run as the numcnn command does (not the memory runs above)
        keep_freed_memory()
    rng = np.random.default_rng(0)
    rows = []
    cases = ([("conv", case[0], _conv_case(case, rng)) for case in CONV_CASES]
             + [("pool", case[0], _pool_case(case, rng)) for case in POOL_CASES]
             + [("step", "SimpleConvNet step, N=100", _training_step_case(rng))])
    for kind, name, (ours, theirs) in cases:
        ours_ms, theirs_ms, ratio = _blocked_ms(ours, theirs, args.repeats)
        rows.append({"case": name, "kind": kind, "numcnn_ms": ours_ms, "torch_ms": theirs_ms, "ratio": ratio})
    measure_memory = not args.no_memory and os.path.exists("/proc/self/clear_refs")
    for index, row in enumerate(rows[:len(CONV_CASES)]):
        if measure_memory:
            row["numcnn_peak_mib"] = _peak_in_subprocess(index, "numcnn", args.threads)
            row["torch_peak_mib"] = _peak_in_subprocess(index, "torch", args.threads)

    print(f"{'case':<32}{'numcnn ms':>11}{'torch ms':>10}{'ratio':>8}{'numcnn MiB':>12}{'torch MiB':>11}{'ratio':>7}")
    for row in rows:
        line = f"{row['case']:<32}{row['numcnn_ms']:>11.2f}{row['torch_ms']:>10.2f}{row['ratio']:>8.2f}"
        ours_mib, theirs_mib = row.get("numcnn_peak_mib"), row.get("torch_peak_mib")
        if ours_mib is not None and theirs_mib:
            line += f"{ours_mib:>12.1f}{theirs_mib:>11.1f}{ours_mib / theirs_mib:>7.2f}"
        print(line)
    conv = [r["ratio"] for r in rows if r["kind"] == "conv"]
    geomean = math.exp(sum(math.log(r) for r in conv) / len(conv))
    print(f"geometric mean of conv time ratios (numcnn / torch): {geomean:.2f}")
    summary = {"threads": args.threads, "repeats": args.repeats, "rows": rows, "conv_geomean": geomean}
    memory = [r["numcnn_peak_mib"] / r["torch_peak_mib"] for r in rows
              if r.get("numcnn_peak_mib") is not None and r.get("torch_peak_mib")]
    if memory:
        summary["conv_peak_memory_geomean"] = math.exp(sum(math.log(r) for r in memory) / len(memory))
        print(f"geometric mean of conv peak-memory ratios: {summary['conv_peak_memory_geomean']:.2f}")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(summary, f, indent=2)


if __name__ == "__main__":
    main()
