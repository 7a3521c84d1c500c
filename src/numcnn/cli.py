"""The ``numcnn`` command: train, evaluate, predict, summary (and demo)."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

import numpy as np

from . import __version__
from . import functional as F
from .data import DATASET_NAMES, DataError, load_dataset
from .data.images import load_image, to_model_input
from .distributed import DEFAULT_TIMEOUT, RankFailed, together
from .filters import KERNELS, NORMALIZE
from .io import FileFormatError
from .io.onnx_export import DEFAULT_OPSET, MIN_OPSET, export_onnx  # onnx itself is imported by the export
from .models import zoo
from .optimizers import NAMED as OPTIMIZER_NAMES
from .runs import SCHEDULE_NAMES, RunError, TrainingDiverged, default_out_dir, default_settings, load_run, resolve_settings, train_run
from .training.metrics import confusion_matrix

simple_convnet = zoo.simple_convnet  # the demo's network, importable from here since the first release

EXIT_ERROR = 2  # bad input, like argparse's own errors
EXIT_DIVERGED = 3


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


_SETTING_FLAGS = ("dataset", "model", "epochs", "batch_size", "optimizer", "lr", "schedule", "decay_epochs",
                  "decay_rate", "warmup_epochs", "weight_decay", "clipnorm", "augment", "validation_split", "seed")


def _settings_and_out(args):
    given = {k: getattr(args, k) for k in _SETTING_FLAGS}
    if args.resume is not None:
        if args.out is not None and os.path.abspath(args.out) != os.path.abspath(args.resume):
            raise RunError(f"--resume writes into the run it continues; drop --out. Received: --out {args.out}")
        out = args.resume
    settings = resolve_settings(given, args.resume)
    if args.resume is None:
        out = args.out
        if out is None:
            try:
                out = default_out_dir(settings)
            except OSError as e:
                raise RunError(f"cannot create the run directory under runs/ ({e.strerror}); pass --out DIR. "
                               "Received: --out not given") from None
    return settings, out


def _train(args) -> int:
    if not args.distributed:
        return _train_on(args, None)
    from .distributed import Communicator

    try:
        communicator = Communicator(timeout=args.mpi_timeout)
    except ImportError as e:
        raise RunError(f"--distributed: {e}") from None
    try:
        return _train_on(args, communicator, communicator.share_cores())
    except BaseException as e:
        if e is communicator.shared_error:  # every rank raises it: they all stop cleanly
            args.quiet_error = not communicator.should_report(e)
        else:  # the other ranks may be waiting for this one
            communicator.abort_at_exit()
        raise


def _train_on(args, communicator, threads=None) -> int:
    root = communicator is None or communicator.rank == 0
    plan = None
    with together(communicator, "reading the settings"):
        if root:  # only rank 0 reads --resume's run and creates the run directory
            plan = _settings_and_out(args)
    if communicator is not None:
        plan = communicator.broadcast_json(plan, "sharing the settings")
    settings, out = plan
    verbose = {None: "auto", "bar": 1, "lines": 2, "quiet": 0}[args.progress]
    say = print if root else (lambda *a, **k: None)
    ranks = f" on {communicator.size} rank{'s' * (communicator.size > 1)}" if communicator is not None else ""
    say(f"numcnn {__version__}: training {settings['model']} on {settings['dataset']}{ranks} -> {out}")
    say("settings: " + ", ".join(f"{k}={settings[k]}" for k in _SETTING_FLAGS if k in settings))
    if threads is not None:
        say(f"each rank uses {threads} thread{'s' * (threads > 1)}: its share of its host's cores (set "
            "OMP_NUM_THREADS and NUMCNN_NUM_THREADS to choose)")
    metrics = train_run(settings, out, args.data_dir, verbose=verbose, resume=args.resume is not None, log=say,
                        communicator=communicator)
    say(f"test accuracy {metrics['test_accuracy']:.4f}, test loss {metrics['test_loss']:.4f} after "
        f"{metrics['epochs']} epochs ({metrics['seconds']:.1f} s of training)")
    say(f"saved {out}: model.safetensors, config.json, history.csv, metrics.json, curves.png, checkpoint.safetensors")
    return 0


def _format_confusion(matrix, names) -> str:
    width = max(5, len(str(matrix.max())) + 1)
    short = [str(i) for i in range(len(names))]
    lines = ["true \\ predicted".ljust(18) + "".join(s.rjust(width) for s in short)]
    for i, row in enumerate(matrix):
        label = (str(i) if names[i] == str(i) else f"{i} {names[i]}")[:16].ljust(18)
        lines.append(label + "".join(str(v).rjust(width) for v in row))
    return "\n".join(lines)


def _evaluate(args) -> int:
    model, config = load_run(args.run_dir)
    name = args.dataset or config["dataset"]["name"]
    dataset = load_dataset(name, args.data_dir)
    if tuple(dataset.input_shape) != tuple(config["dataset"]["input_shape"]):
        raise RunError(f"The run's model takes {tuple(config['dataset']['input_shape'])} images; {name} has "
                       f"{dataset.input_shape}. Received: --dataset {name}")
    logits = model.predict(dataset.x_test, batch_size=args.batch_size)
    loss = F.softmax_cross_entropy(dataset.y_test, logits)
    predicted = logits.argmax(axis=1)
    accuracy = float(np.mean(predicted == dataset.y_test))
    print(f"{name} test set, {len(dataset.y_test)} images: loss {loss:.4f}, accuracy {accuracy:.4f}")
    print("confusion matrix (rows: true class, columns: predicted class):")
    print(_format_confusion(confusion_matrix(dataset.y_test, predicted, dataset.classes), dataset.class_names))
    return 0


def _predict(args) -> int:
    model, config = load_run(args.run_dir)
    input_shape = tuple(config["dataset"]["input_shape"])
    names = config["dataset"]["class_names"]
    batch = np.stack([to_model_input(load_image(path), input_shape, args.invert) for path in args.images])
    probs = F.softmax(model.predict(batch))
    for path, p in zip(args.images, probs):
        top = np.argsort(-p)[:3]
        ranked = ", ".join(f"{names[k]} {p[k]:.3f}" for k in top)
        print(f"{path}: {names[top[0]]}  (top 3: {ranked})")
    return 0


def _summary(args) -> int:
    model, config = load_run(args.run_dir)
    model.summary()
    training = config["training"]
    print("training: " + ", ".join(f"{k}={v}" for k, v in training.items()))
    metrics_path = os.path.join(args.run_dir, "metrics.json")
    if os.path.exists(metrics_path):
        with open(metrics_path, encoding="utf-8") as f:
            metrics = json.load(f)
        print(f"test accuracy {metrics.get('test_accuracy', float('nan')):.4f}, test loss "
              f"{metrics.get('test_loss', float('nan')):.4f}, {metrics.get('epochs')} epochs, "
              f"{metrics.get('seconds', 0):.1f} s")
    return 0


def _export(args) -> int:
    if os.path.isdir(args.out):
        raise RunError(f"--out must name a file to write, not a directory. Received: --out {args.out}")
    model, _ = load_run(args.run_dir)
    try:
        proto = export_onnx(model, args.out, opset=args.opset)
    except ImportError as e:  # the message says what to install
        raise RunError(str(e)) from None
    dims = {v.name: tuple(d.dim_param or d.dim_value for d in v.type.tensor_type.shape.dim)
            for v in [*proto.graph.input, *proto.graph.output]}
    print(f"exported {args.run_dir} to {args.out}: ONNX opset {args.opset}, {len(proto.graph.node)} nodes, "
          + ", ".join(f"{name} {shape}" for name, shape in dims.items()))
    return 0


def _save_image(path, pixels) -> None:
    from PIL import Image

    from .io import atomic_path

    data = (np.clip(pixels, 0, 1) * 255 + 0.5).astype(np.uint8)
    extension = os.path.splitext(path)[1].lower()
    with atomic_path(path) as tmp:
        Image.fromarray(data).save(tmp, format=Image.registered_extensions().get(extension, "PNG"))


def _filter(args) -> int:
    from .filters import apply_kernel, get_kernel, load_kernel, to_display
    from .io import atomic_path
    from .viz import plot_sliding_window

    if (args.kernel is None) == (args.kernel_file is None):
        raise ValueError("Give exactly one of --kernel NAME and --kernel-file FILE. "
                         f"Received: --kernel {args.kernel}, --kernel-file {args.kernel_file}")
    kernel = get_kernel(args.kernel) if args.kernel else load_kernel(args.kernel_file)
    image = load_image(args.image, grayscale=args.mode == "gray")
    if args.mode == "auto" and image.ndim == 3 and np.allclose(image, image[..., :1], atol=1 / 255):
        image = image[..., 0]  # a gray picture stored as RGB stays one channel
    filtered = apply_kernel(image, kernel, args.stride, args.padding)
    _save_image(args.out, to_display(filtered, kernel, args.normalize))
    print(f"{args.image}: {image.shape} -> {filtered.shape} with a {kernel.shape[0]}x{kernel.shape[1]} kernel, "
          f"stride {args.stride}, padding {args.padding}; values {filtered.min():.4g}..{filtered.max():.4g}; "
          f"saved {args.out}")
    if args.raw:
        with atomic_path(args.raw) as tmp, open(tmp, "wb") as f:
            np.save(f, filtered, allow_pickle=False)
        print(f"raw float32 result saved to {args.raw}")
    if args.show_steps:
        small = np.arange(49, dtype=np.float32).reshape(7, 7)  # seed 000's 7x7 example
        plot_sliding_window(small, kernel, args.show_steps, args.stride, args.padding)
        print(f"the sliding window over seed 000's 7x7 image saved to {args.show_steps}")
    return 0


SHOW_WHAT = ("filters", "feature-maps", "curves", "confusion", "mistakes", "model")


def _show(args) -> int:
    from . import viz
    from .runs import read_history_csv

    model, config = load_run(args.run_dir)
    names = config["dataset"]["class_names"]
    if args.what == "filters":
        viz.plot_filters(model, args.out)
    elif args.what == "feature-maps":
        if args.image is not None:
            image = to_model_input(load_image(args.image), tuple(config["dataset"]["input_shape"]), args.invert)
        else:
            test = load_dataset(config["dataset"]["name"], args.data_dir).x_test
            if args.index >= len(test):
                raise ValueError(f"--index must be below the {len(test)} test images. Received: --index {args.index}")
            image = test[args.index]
        viz.plot_feature_maps(model, image, args.out)
    elif args.what == "curves":
        history = read_history_csv(os.path.join(args.run_dir, "history.csv"))
        history.pop("epoch", None)
        viz.plot_history(history, args.out, f"{config['training']['model']} on {config['training']['dataset']}")
    elif args.what == "model":
        viz.plot_model(model, args.out)
    else:
        dataset = load_dataset(config["dataset"]["name"], args.data_dir)
        probs = F.softmax(model.predict(dataset.x_test, batch_size=256))
        if args.what == "confusion":
            viz.plot_confusion(confusion_matrix(dataset.y_test, probs.argmax(1), dataset.classes), names, args.out)
        else:
            viz.plot_mistakes(dataset.x_test, dataset.y_test, probs, names, args.out)
    print(f"{args.what} of {args.run_dir} saved to {args.out}")
    return 0


def _number_type(convert, ok, allowed):
    """An argparse type: ``convert`` the text, then require ``ok(value)``; the error says what is allowed."""
    def parse(text):
        try:
            value = convert(text)
        except ValueError:
            value = None
        if value is None or not ok(value):
            raise argparse.ArgumentTypeError(f"must be {allowed}. Received: {text!r}")
        return value
    return parse


_positive_int = _number_type(int, lambda v: v >= 1, "a positive int")
_non_negative_int = _number_type(int, lambda v: v >= 0, "a non-negative int")
_positive_float = _number_type(float, lambda v: np.isfinite(v) and v > 0, "a positive number")
_fraction = _number_type(float, lambda v: 0 <= v < 0.5, "a number in [0, 0.5)")
_non_negative_float = _number_type(float, lambda v: np.isfinite(v) and v >= 0, "a non-negative number")


def _defaults_table() -> str:
    rows = []
    for dataset in DATASET_NAMES:
        for model in zoo.MODELS:
            if dataset == "digits" and model == "lenet5":
                continue
            s = default_settings(dataset, model)
            rows.append(f"  {dataset:<13} {model:<7} epochs {s['epochs']:<3} batch {s['batch_size']:<4} "
                        f"{s['optimizer']} lr {s['lr']} (x{s['decay_rate']} every {s['decay_epochs']} epochs), "
                        f"shift {s['augment']}")
    return "\n".join(rows)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="numcnn", description="Convolutional neural networks in NumPy: train a CNN, evaluate it, "
                                   "predict images, inspect it.")
    parser.add_argument("--version", action="version", version=f"numcnn {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    train = commands.add_parser(
        "train", help="train a CNN on digits, MNIST or Fashion-MNIST and save the run",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Train a CNN and write a run directory: model.safetensors, config.json, history.csv, "
                    "metrics.json, curves.png and checkpoint.safetensors (after every epoch, for --resume).\n"
                    "With no arguments: the simple CNN on the embedded 8x8 digits, about 98-99%% test accuracy "
                    "in well under a minute.",
        epilog="Defaults per data set and model (any flag overrides them):\n" + _defaults_table())
    train.add_argument("--dataset", choices=DATASET_NAMES, help="data set (default digits)")
    train.add_argument("--model", choices=sorted(zoo.MODELS),
                       help="simple: conv 30x5x5 - pool - dense 100 (the seeds' network); lenet5; deep: DLFS's 6 conv "
                            "3x3 with batch norm + dropout, 99.4%% on MNIST (default simple)")
    train.add_argument("--epochs", type=_positive_int, help="number of epochs in all (with --resume: train up to this many)")
    train.add_argument("--batch-size", type=_positive_int, help="samples per update")
    train.add_argument("--optimizer", choices=sorted(OPTIMIZER_NAMES),
                       help="sgd, momentum (0.9), nesterov (0.9), adagrad, rmsprop, adam or adamw (update rules of torch.optim)")
    train.add_argument("--lr", type=_positive_float, help="(peak) learning rate")
    train.add_argument("--schedule", choices=SCHEDULE_NAMES,
                       help="learning-rate schedule: constant; step (multiply by --decay-rate every --decay-epochs); "
                            "cosine (to 0 over all epochs, after --warmup-epochs of linear warm-up) (default step)")
    train.add_argument("--decay-epochs", type=_positive_int, help="epochs between two decays of the step schedule")
    train.add_argument("--decay-rate", type=_positive_float, help="factor of each step decay, in (0, 1] (default 0.5)")
    train.add_argument("--warmup-epochs", type=_non_negative_int, help="linear warm-up epochs of the cosine schedule (default 0)")
    train.add_argument("--weight-decay", type=_non_negative_float, help="L2 weight decay (decoupled for adamw, default 0.01 there; else 0)")
    train.add_argument("--clipnorm", type=_positive_float, help="clip the global gradient norm to this value (default off)")
    train.add_argument("--augment", type=_non_negative_int,
                       help="random shifts of up to this many pixels on training images, 0 = off")
    train.add_argument("--validation-split", type=_fraction,
                       help="fraction of the training set (its last images) held out to validate after each epoch, "
                            "in [0, 0.5) (default 0.1)")
    train.add_argument("--seed", type=_non_negative_int,
                       help="seed of weights, shuffling, dropout and augmentation: the same seed gives the same "
                            "numbers on the same machine (default 0)")
    train.add_argument("--out", help="run directory to create (default runs/<dataset>-<model>-<timestamp>)")
    train.add_argument("--data-dir", help="directory with the MNIST / Fashion-MNIST IDX files, as DIR/<dataset>/ or "
                                          "DIR/; then NUMCNN_DATA_DIR, then the user cache dir are searched; missing "
                                          "files are downloaded into --data-dir, else NUMCNN_DATA_DIR, else the cache")
    train.add_argument("--resume", metavar="DIR",
                       help="continue the run in DIR from its last checkpoint, with its settings (only --epochs may change)")
    train.add_argument("--progress", choices=("bar", "lines", "quiet"),
                       help="bar: a progress bar per epoch and a line per epoch; lines: a line per epoch; quiet: "
                            "nothing (default bar on a terminal, lines otherwise or when CI is set)")
    train.add_argument("--distributed", action="store_true",
                       help="data-parallel training on all ranks of mpirun (mpirun -n K numcnn train --distributed): "
                            "--batch-size is the global batch, split between the ranks; rank 0 writes the run "
                            'directory. Needs pip install "numcnn[mpi]"')
    train.add_argument("--mpi-timeout", type=_positive_float, default=DEFAULT_TIMEOUT, metavar="SECONDS",
                       help="with --distributed: how long a rank waits for the others before it stops the whole "
                            f"job, e.g. when a rank died (default {DEFAULT_TIMEOUT:g})")
    train.set_defaults(run=_train)

    evaluate = commands.add_parser("evaluate", help="test a trained run: loss, accuracy, confusion matrix",
                                   description="Load a run's model and print its loss, accuracy and confusion "
                                               "matrix on the test set of its data set (or --dataset).")
    evaluate.add_argument("run_dir", metavar="DIR", help="run directory written by numcnn train")
    evaluate.add_argument("--dataset", choices=DATASET_NAMES, help="test on this data set instead of the run's")
    evaluate.add_argument("--data-dir", help="directory with the MNIST / Fashion-MNIST IDX files")
    evaluate.add_argument("--batch-size", type=_positive_int, default=256, help="images per forward pass (default 256)")
    evaluate.set_defaults(run=_evaluate)

    predict = commands.add_parser("predict", help="classify image files with a trained run",
                                  description="Load PNG/JPEG images, turn them into the model's input (grayscale, "
                                              "light-on-dark, digit centred and resized) and print the class and "
                                              "the top-3 probabilities.")
    predict.add_argument("run_dir", metavar="DIR", help="run directory written by numcnn train")
    predict.add_argument("images", metavar="IMAGE", nargs="+", help="image files (PNG, JPEG, ...)")
    predict.add_argument("--invert", choices=("auto", "yes", "no"), default="auto",
                         help="invert dark-on-light images: auto (when the image is mostly light), yes or no")
    predict.set_defaults(run=_predict)

    summary = commands.add_parser("summary", help="print a run's model table, settings and test metrics",
                                  description="Print the layers (output shapes, parameter counts) of a run's model, "
                                              "its training settings and its test metrics.")
    summary.add_argument("run_dir", metavar="DIR", help="run directory written by numcnn train")
    summary.set_defaults(run=_summary)

    export = commands.add_parser("export", help="export a trained run's model to another format (ONNX)",
                                 description="Write a run's model as an ONNX file (needs pip install "
                                             "\"numcnn[onnx]\"): input 'input' and output 'output' with the model's "
                                             "shapes and layout, batch size free; run it with onnxruntime.")
    export.add_argument("run_dir", metavar="DIR", help="run directory written by numcnn train")
    export.add_argument("--format", choices=("onnx",), default="onnx", help="file format to write (default onnx)")
    export.add_argument("--out", required=True, help="output file, e.g. model.onnx")
    export.add_argument("--opset", type=_number_type(int, lambda v: v >= MIN_OPSET, f"an int >= {MIN_OPSET}"),
                        default=DEFAULT_OPSET, help=f"ONNX opset version (default {DEFAULT_OPSET})")
    export.set_defaults(run=_export)

    filt = commands.add_parser(
        "filter", help="filter an image with a kernel (blur, sobel-x, ...) using numcnn's conv2d",
        description="Apply a named or custom kernel to every channel of an image with conv2d (cross-correlation, "
                    "as seed 000 slides its filter) and save the result as an image.")
    filt.add_argument("image", metavar="IMAGE", help="PNG, JPEG, ... (grayscale or RGB)")
    filt.add_argument("--kernel", choices=sorted(KERNELS), help="a named kernel (blur is seed 000's 3x3 mean)")
    filt.add_argument("--kernel-file", help="a kernel of your own: a .npy file or a text file of rows of numbers")
    filt.add_argument("--stride", type=_positive_int, default=1, help="step of the sliding window (default 1)")
    filt.add_argument("--padding", choices=("valid", "same"), default="same",
                      help="valid: no padding, a smaller output; same: zero padding, output size = input size / stride "
                           "(default same)")
    filt.add_argument("--mode", choices=("auto", "gray", "rgb"), default="auto",
                      help="filter the gray image or each RGB channel (auto: RGB only for colour images)")
    filt.add_argument("--normalize", choices=NORMALIZE, default="auto",
                      help="how results become pixels: clip to [0, 1], min-max, or |value| / max; auto: abs for "
                           "kernels summing to 0 (edges), clip otherwise")
    filt.add_argument("--out", required=True, help="output image file (.png, .jpg, ...)")
    filt.add_argument("--raw", metavar="FILE.npy", help="also save the unclipped float32 result as a .npy file")
    filt.add_argument("--show-steps", metavar="STEPS.png",
                      help="also draw the kernel sliding over seed 000's 7x7 image, step by step")
    filt.set_defaults(run=_filter)

    show = commands.add_parser(
        "show", help="draw a trained run: filters, feature maps, curves, confusion matrix, mistakes, model",
        description="Draw a picture of a run directory written by numcnn train and save it as a PNG file.")
    show.add_argument("run_dir", metavar="DIR", help="run directory written by numcnn train")
    show.add_argument("--what", choices=SHOW_WHAT, required=True,
                      help="filters: the first conv layer's kernels; feature-maps: every conv layer's output for one "
                           "image; curves: loss/accuracy per epoch; confusion: the test confusion matrix; mistakes: "
                           "the surest wrong test predictions; model: the layers with shapes and parameter counts")
    show.add_argument("--image", help="for feature-maps: an image file (default: a test image, see --index)")
    show.add_argument("--index", type=_non_negative_int, default=0,
                      help="for feature-maps without --image: which test image (default 0)")
    show.add_argument("--invert", choices=("auto", "yes", "no"), default="auto",
                      help="for --image: invert dark-on-light images (default auto)")
    show.add_argument("--data-dir", help="directory with the MNIST / Fashion-MNIST IDX files")
    show.add_argument("--out", required=True, help="output PNG file")
    show.set_defaults(run=_show)

    demo = commands.add_parser(
        "demo", help="one forward and backward pass of seed 002's SimpleConvNet on a random batch",
        description="Build a small CNN (conv 30x5x5 - relu - maxpool - dense 100 - relu - dense 10), run one forward "
                    "and backward pass on a random batch, print the model summary, the loss, the gradient norms and "
                    "the loss after one SGD step.")
    demo.add_argument("--seed", type=_non_negative_int, default=0, help="seed of the weights and the random batch (default 0)")
    demo.add_argument("--batch-size", type=_positive_int, default=32, help="images in the random batch (default 32)")
    demo.set_defaults(run=_demo)
    return parser


def _error(args, message, code) -> int:
    if not getattr(args, "quiet_error", False):  # set on ranks > 0 for an error rank 0 reports
        print(f"numcnn {args.command}: error: {message}", file=sys.stderr)
    return code


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    try:
        return args.run(args)
    except TrainingDiverged as e:
        return _error(args, f"{e}", EXIT_DIVERGED)
    except (RunError, DataError, FileFormatError, ValueError, RankFailed) as e:
        message = str(e)
        if "Received" not in message:  # e.g. Python's "embedded null byte" for a path: say what was given
            given = sys.argv[1:] if argv is None else list(argv)
            message += f". Received: {' '.join(repr(a) if not a.isprintable() else a for a in map(str, given))}"
        return _error(args, message, EXIT_ERROR)
    except BrokenPipeError:  # e.g. `numcnn evaluate RUN | head`
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - keeps the interpreter's final flush quiet
        return 0
    except OSError as e:
        return _error(args, f"{e.filename or ''}: {e.strerror}. Received: {e!r}", EXIT_ERROR)
    except KeyboardInterrupt:
        print(f"numcnn {args.command}: interrupted; a run continues with --resume from its last checkpoint",
              file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
