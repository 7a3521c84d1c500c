"""Inference time and peak memory of whole imported networks: numcnn against onnxruntime and PyTorch.

Run (needs the test extra: torch, onnx, onnxruntime):

    python benchmarks/onnx_zoo_vs_ort.py [--nets resnet50 vgg16] [--batches 1 8] [--size 224]
                                         [--repeats 5] [--json results.json] [--no-memory]

Each network is the PyTorch twin of numcnn's zoo builder (tests/io/torch_zoo.py), with random
weights and non-trivial batch-norm statistics, exported with ``torch.onnx.export`` (opset 17, batch
axis free) and imported with ``numcnn.io.onnx_import.from_onnx`` (channels_last: NHWC, weights
converted once). The three frameworks get the same float32 input and the same thread count
(torch.set_num_threads, onnxruntime's intra_op_num_threads, numcnn's element-wise threads; OpenBLAS
uses every core, so keep the default, the number of cores); each is timed in blocks of back-to-back ``predict`` calls after
a pause and a warm-up call, two blocks each in alternating order; medians reported. Peak memory:
the VmHWM of a fresh process that loads one framework's model and runs one inference (weights
included), on Linux. Never run as a timed test.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "io"))


def _torch_net(net_name, size):
    """The PyTorch twin with its random weights (the same every call)."""
    import torch_zoo

    return torch_zoo.randomize(torch_zoo.TWINS[net_name](size=size), np.random.default_rng(0)).eval()


def _export(net_name, size, directory):
    """The twin's .onnx file, exported once per directory."""
    path = os.path.join(directory, f"{net_name}-{size}.onnx")
    if not os.path.exists(path):
        import torch

        torch.onnx.export(_torch_net(net_name, size), torch.zeros(1, 3, size, size), path, dynamo=False,
                          opset_version=17, input_names=["input"], dynamic_axes={"input": {0: "batch"}})
    return path


def _runners(net_name, size, batch, directory, threads, frameworks=("numcnn", "onnxruntime", "torch")):
    """``{framework: callable}`` running one inference of the same input. Only the frameworks asked
    for are imported and built (a peak-memory process holds one framework's model alone)."""
    path = _export(net_name, size, directory)
    x = np.random.default_rng(1).standard_normal((batch, 3, size, size)).astype(np.float32)
    runners = {}
    if "numcnn" in frameworks:
        from numcnn import set_num_threads
        from numcnn.io.onnx_import import from_onnx
        from numcnn.utils.memory import keep_freed_memory

        set_num_threads(threads)
        keep_freed_memory()  # as the numcnn command runs
        model = from_onnx(path)
        x_last = np.ascontiguousarray(x.transpose(0, 2, 3, 1))
        runners["numcnn"] = lambda: model.predict(x_last, batch_size=batch)
    if "onnxruntime" in frameworks:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        session = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
        runners["onnxruntime"] = lambda: session.run(None, {"input": x})[0]
    if "torch" in frameworks:
        import torch

        torch.set_num_threads(threads)
        net, xt = _torch_net(net_name, size), torch.from_numpy(x)

        def run_torch():
            with torch.inference_mode():
                return net(xt).numpy()
        runners["torch"] = run_torch
    return runners


def _blocked_ms(runners, repeats):
    """Median ms of each runner over two rounds of ``repeats`` back-to-back calls, in opposite orders."""
    times = {name: [] for name in runners}
    names = list(runners)
    for order in (names, names[::-1]):
        for name in order:
            time.sleep(0.25)  # let the previous library's worker threads stop spinning
            runners[name]()
            for _ in range(repeats):
                start = time.perf_counter()
                runners[name]()
                times[name].append((time.perf_counter() - start) * 1000)
    return {name: statistics.median(t) for name, t in times.items()}


def _peak_mib(net_name, size, batch, directory, threads, framework):
    """In a fresh process: VmHWM after loading ``framework``'s model and two inferences."""
    run = _runners(net_name, size, batch, directory, threads, (framework,))[framework]
    run()
    run()
    with open("/proc/self/status", encoding="ascii") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmHWM:")) / 1024


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nets", nargs="+", default=["resnet50", "vgg16"])
    parser.add_argument("--batches", nargs="+", type=int, default=[1, 8])
    parser.add_argument("--size", type=int, default=224, help="input height and width (default 224)")
    parser.add_argument("--repeats", type=int, default=5, help="timed calls per block (two blocks each)")
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--json", help="also write the results to this JSON file")
    parser.add_argument("--no-memory", action="store_true", help="skip the peak-memory processes")
    parser.add_argument("--dir", help="where the exported .onnx files are kept (default: a temporary directory)")
    parser.add_argument("--peak-of", nargs=3, metavar=("NET", "BATCH", "FRAMEWORK"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    directory = args.dir or tempfile.mkdtemp(prefix="numcnn-zoo-")
    os.makedirs(directory, exist_ok=True)
    if args.peak_of:  # a child process: the parent exported the file already
        net, batch, framework = args.peak_of
        print(_peak_mib(net, args.size, int(batch), directory, args.threads, framework))
        return

    rows = []
    for net in args.nets:
        for batch in args.batches:
            runners = _runners(net, args.size, batch, directory, args.threads)
            outputs = {name: run() for name, run in runners.items()}
            ms = _blocked_ms(runners, args.repeats)
            row = {"net": net, "batch": batch, **{f"{k}_ms": v for k, v in ms.items()},
                   "ratio_to_onnxruntime": ms["numcnn"] / ms["onnxruntime"], "ratio_to_torch": ms["numcnn"] / ms["torch"],
                   "max_abs_diff_to_onnxruntime": float(np.abs(outputs["numcnn"] - outputs["onnxruntime"]).max())}
            if not args.no_memory and os.path.exists("/proc/self/status"):
                for framework in runners:
                    command = [sys.executable, __file__, "--size", str(args.size), "--threads", str(args.threads),
                               "--dir", directory, "--peak-of", net, str(batch), framework]
                    result = subprocess.run(command, capture_output=True, text=True, check=False)
                    row[f"{framework}_peak_mib"] = (float(result.stdout.strip().splitlines()[-1])
                                                    if result.returncode == 0 else None)
            rows.append(row)
            print(json.dumps(row), flush=True)

    header = (f"{'network':<10}{'batch':>6}{'numcnn ms':>11}{'ort ms':>9}{'torch ms':>10}{'/ort':>7}{'/torch':>8}"
              f"{'numcnn MiB':>12}{'ort MiB':>9}{'torch MiB':>11}")
    print(header)
    for r in rows:
        line = (f"{r['net']:<10}{r['batch']:>6}{r['numcnn_ms']:>11.1f}{r['onnxruntime_ms']:>9.1f}{r['torch_ms']:>10.1f}"
                f"{r['ratio_to_onnxruntime']:>7.2f}{r['ratio_to_torch']:>8.2f}")
        if r.get("numcnn_peak_mib") is not None:
            line += "".join(f"{r.get(f + '_peak_mib') or float('nan'):>{w}.0f}"
                            for f, w in (("numcnn", 12), ("onnxruntime", 9), ("torch", 11)))
        print(line)
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump({"threads": args.threads, "size": args.size, "repeats": args.repeats, "rows": rows}, f, indent=2)


if __name__ == "__main__":
    main()
