"""The ``numcnn`` command: its parser, and the error handling every command shares.

The commands themselves are in :mod:`numcnn.app.commands`.
"""

from __future__ import annotations

import argparse
import os
import sys
import warnings

import numpy as np

from .._version import __version__
from ..data import DATASET_NAMES, DataError
from ..filters import KERNELS, NORMALIZE
from ..io.onnx_export import DEFAULT_OPSET, MIN_OPSET
from ..models import zoo
from ..training.mpi import DEFAULT_TIMEOUT, RankFailed
from ..training.optimizers import OPTIMIZERS
from ..utils.arrays import FileFormatError
from ..utils.memory import keep_freed_memory
from . import commands
from .augment import parse_augment
from .runs import TrainingDiverged
from .settings import SCHEDULE_NAMES, RunError, RunSettings

EXIT_ERROR = 2  # bad input, like argparse's own errors
EXIT_DIVERGED = 3


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
_finite_float = _number_type(float, np.isfinite, "a finite number")
_non_zero_float = _number_type(float, lambda v: np.isfinite(v) and v != 0, "a finite non-zero number")
_test_fraction = _number_type(float, lambda v: 0 < v < 0.5, "a number in (0, 0.5)")


def _augment(value: str):
    """``--augment``: an int (pixels of shift, as before) or a list checked by :func:`parse_augment`."""
    try:
        parse_augment(value)
    except RunError as e:
        raise argparse.ArgumentTypeError(str(e).removeprefix("argument --augment: ")) from None
    return int(value) if value.strip().isdigit() else value


def _dataset(value: str) -> str:
    """A built-in data set's name or a folder of class subfolders."""
    if value in DATASET_NAMES or os.path.isdir(value):
        return value
    raise argparse.ArgumentTypeError(f"must be one of {list(DATASET_NAMES)} or a folder with one subfolder of "
                                     f"images per class. Received: {value!r}")


def _schedule_words(s: RunSettings) -> str:
    if s.schedule == "step":
        return f"x{s.decay_rate} every {s.decay_epochs} epochs"
    return "cosine to 0" if s.schedule == "cosine" else "constant"


def _defaults_table() -> str:
    rows = []
    for dataset in DATASET_NAMES:
        for model in zoo.MODELS:
            if dataset == "digits" and model == "lenet5":
                continue
            s = RunSettings.resolve({"dataset": dataset, "model": model})
            rows.append(f"  {dataset:<13} {model:<7} epochs {s.epochs:<3} batch {s.batch_size:<4} "
                        f"{s.optimizer} lr {s.lr} ({_schedule_words(s)}), "
                        f"shift {s.augment}")
    return "\n".join(rows)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="numcnn", description="Convolutional neural networks in NumPy: train a CNN, evaluate it, "
                                   "predict images, inspect it.")
    parser.add_argument("--version", action="version", version=f"numcnn {__version__}")
    subcommands = parser.add_subparsers(dest="command", metavar="COMMAND")

    train = subcommands.add_parser(
        "train", help="train a CNN on digits, MNIST, Fashion-MNIST or a folder of your images and save the run",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Train a CNN and write a run directory: model.safetensors, config.json, history.csv, "
                    "metrics.json, curves.png and checkpoint.safetensors (after every epoch, for --resume).\n"
                    "With no arguments: the simple CNN on the embedded 8x8 digits, about 98-99% test accuracy "
                    "in well under a minute.",
        epilog="Defaults per data set and model (any flag overrides them):\n" + _defaults_table())
    train.add_argument("--dataset", type=_dataset, metavar="NAME|PATH",
                       help=f"{', '.join(DATASET_NAMES)} (default digits), or a folder with one subfolder of images "
                            "per class (PNG, JPEG, BMP, GIF, WebP, TIFF), optionally split into train/ and test/")
    train.add_argument("--image-size", type=_positive_int, nargs=2, metavar=("HEIGHT", "WIDTH"),
                       help="for a folder: the size every image is resized to (default 64 64)")
    train.add_argument("--color-mode", choices=("rgb", "grayscale"), help="for a folder: colour or grey (default rgb)")
    train.add_argument("--from", dest="base", metavar="RUN_DIR|MODEL.onnx",
                       help="transfer learning: start from this trained network's base (the layers up to its last "
                            "Flatten or global pooling) with a new head for this data set's classes")
    train.add_argument("--freeze", metavar="LAYER",
                       help="with --from: keep every layer up to and including LAYER (a name or an index) as it is")
    train.add_argument("--fine-tune-epochs", type=_non_negative_int,
                       help="with --from: after --epochs, unfreeze the base (batch norm stays in inference mode) "
                            "and train this many more epochs (default 0)")
    train.add_argument("--fine-tune-lr", type=_positive_float,
                       help="the learning rate of the fine-tuning epochs (default 1e-5)")
    train.add_argument("--test-split", type=_test_fraction,
                       help="for a folder without train/ and test/: the fraction of images held out to test, "
                            "drawn with a fixed seed (default 0.2)")
    train.add_argument("--model", choices=sorted(zoo.MODELS),
                       help="simple: conv 30@5x5 - max pool - dense 100 - dense 10, the SimpleConvNet of the book Deep "
                            "Learning from Scratch (ch. 7); lenet5: LeNet-5 with ReLU (not on the 8x8 digits); deep: "
                            "the deep network of Deep Learning from Scratch (ch. 8), six 3x3 convs with batch norm, "
                            "dense 50 and dropout 0.5, 99.4%% on MNIST (default simple)")
    train.add_argument("--epochs", type=_positive_int,
                       help="number of epochs in all; with --resume, the total to reach (default: see the table below)")
    train.add_argument("--batch-size", type=_positive_int, help="samples per update (default: see the table below)")
    train.add_argument("--optimizer", choices=OPTIMIZERS.allowed(),
                       help="sgd, momentum (0.9), nesterov (0.9), adagrad, rmsprop, adam or adamw (update rules of torch.optim)")
    train.add_argument("--lr", type=_positive_float, help="(peak) learning rate (default: see the table below)")
    train.add_argument("--schedule", choices=SCHEDULE_NAMES,
                       help="learning-rate schedule: constant; step (multiply by --decay-rate every --decay-epochs); "
                            "cosine (to 0 over all epochs, after --warmup-epochs of linear warm-up) (default step)")
    train.add_argument("--decay-epochs", type=_positive_int,
                       help="epochs between two decays of the step schedule (default: see the table below)")
    train.add_argument("--decay-rate", type=_positive_float, help="factor of each step decay, in (0, 1] (default 0.5)")
    train.add_argument("--warmup-epochs", type=_non_negative_int, help="linear warm-up epochs of the cosine schedule (default 0)")
    train.add_argument("--weight-decay", type=_non_negative_float,
                       help="L2 weight decay (default 0; for adamw, where it is decoupled, 0.01)")
    train.add_argument("--clipnorm", type=_positive_float, help="clip the global gradient norm to this value (default off)")
    train.add_argument("--augment", type=_augment, metavar="LIST",
                       help="random changes to each training batch: a comma-separated list of flip[:horizontal|"
                            "vertical|both], rotate:DEGREES, zoom:FRACTION, translate:FRACTION, contrast:FRACTION, "
                            "brightness:FRACTION, shift:PIXELS (e.g. flip,rotate:10,zoom:0.1); an int N means "
                            "shift:N, 0 or none nothing (default: see the table below)")
    train.add_argument("--validation-split", type=_fraction,
                       help="fraction of the training set (its last images) held out to validate after each epoch, "
                            "in [0, 0.5) (default 0.1)")
    train.add_argument("--seed", type=_non_negative_int,
                       help="seed of weights, shuffling, dropout and augmentation: the same seed gives the same "
                            "numbers on the same machine (default 0)")
    train.add_argument("--out", help="run directory to create (default runs/<dataset>-<model>-<timestamp>)")
    train.add_argument("--data-dir", help="directory with the MNIST / Fashion-MNIST IDX files or CIFAR-10's "
                                          "cifar-10-binary.tar.gz, as DIR/<dataset>/ or "
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
    train.add_argument("--explain", action="store_true",
                       help="watch it train in the browser: serve numcnn explain on the run directory while it "
                            "trains (127.0.0.1), and keep serving after training ends until Ctrl+C")
    train.add_argument("--explain-port", type=_non_negative_int, default=0, metavar="N",
                       help="with --explain: the port (default 0: a free one; the URL is printed)")
    train.add_argument("--no-browser", action="store_true", help="with --explain: do not open the browser")
    train.set_defaults(run=commands.train)

    evaluate = subcommands.add_parser("evaluate", help="test a trained run: loss, accuracy, confusion matrix",
                                   description="Load a run's model and print its loss, accuracy and confusion "
                                               "matrix on the test set of its data set (or --dataset).")
    evaluate.add_argument("run_dir", metavar="DIR", help="run directory written by numcnn train")
    evaluate.add_argument("--dataset", choices=DATASET_NAMES, help="test on this data set instead of the run's")
    evaluate.add_argument("--data-dir", help="directory with the data set's files; only the test files "
                                             "are read (default: where the run's training found them)")
    evaluate.add_argument("--batch-size", type=_positive_int, default=256, help="images per forward pass (default 256)")
    evaluate.set_defaults(run=commands.evaluate)

    predict = subcommands.add_parser("predict", help="classify image files with a trained run",
                                  description="Load image files (PNG, JPEG, ..., turned as their EXIF says), "
                                              "prepare each as the run's training images were (the preprocessing "
                                              "in its config.json) and print the class and the top-3 "
                                              "probabilities; warn on blank or tiny images and unsure answers.")
    predict.add_argument("run_dir", metavar="DIR", help="run directory written by numcnn train")
    predict.add_argument("images", metavar="IMAGE", nargs="+", help="image files (PNG, JPEG, ...)")
    predict.add_argument("--invert", choices=("auto", "yes", "no"),
                         help="invert the image: auto (when it is mostly light), yes or no (default: as the run's "
                              "preprocessing says; auto for digits, MNIST and Fashion-MNIST)")
    predict.add_argument("--no-preprocess", action="store_true",
                         help="the images are in the model's format already (its size, light ink on dark for the "
                              "built-in data sets): only scale them")
    predict.add_argument("--save-input", metavar="DIR",
                         help="write the picture the model is shown for each image as DIR/<name>.png")
    predict.set_defaults(run=commands.predict)

    summary = subcommands.add_parser("summary", help="print a run's model table, settings and test metrics",
                                  description="Print the layers (output shapes, parameter counts) of a run's model, "
                                              "its training settings and its test metrics.")
    summary.add_argument("run_dir", metavar="DIR", help="run directory written by numcnn train")
    summary.set_defaults(run=commands.summary)

    export = subcommands.add_parser("export", help="export a trained run's model to another format (ONNX)",
                                 description="Write a run's model as an ONNX file (needs pip install "
                                             "\"numcnn[onnx]\"): input 'input' and output 'output' with the model's "
                                             "shapes and layout, batch size free; run it with onnxruntime.")
    export.add_argument("run_dir", metavar="DIR", help="run directory written by numcnn train")
    export.add_argument("--format", choices=("onnx",), default="onnx", help="file format to write (default onnx)")
    export.add_argument("--out", required=True, help="output file, e.g. model.onnx")
    export.add_argument("--opset", type=_number_type(int, lambda v: v >= MIN_OPSET, f"an int >= {MIN_OPSET}"),
                        default=DEFAULT_OPSET, help=f"ONNX opset version (default {DEFAULT_OPSET})")
    export.set_defaults(run=commands.export)

    imp = subcommands.add_parser(
        "import", help="import a network trained elsewhere (ONNX) as a run directory",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Turn an ONNX file into a run directory (model.safetensors and config.json), so that predict, "
                    "summary, show, evaluate and export work on it. Opsets 6 to 21; needs pip install \"numcnn[onnx]\".\n"
                    "An image becomes the network's input as (pixel * --scale - --mean) / --std per channel, pixels "
                    "0..255 after resizing to the network's size, in --channel-order.",
        epilog="PyTorch's ImageNet networks: --scale 0.00392156862745098 --mean 0.485 0.456 0.406 --std 0.229 0.224 0.225\n"
               "Caffe's: --scale 1 --mean 103.94 116.78 123.68 --channel-order bgr")
    imp.add_argument("model", metavar="MODEL.onnx", help="the ONNX file (external data next to it is read)")
    imp.add_argument("--out", required=True, help="run directory to create")
    imp.add_argument("--data-format", choices=("channels_last", "channels_first"), default="channels_last",
                     help="channels_last: NHWC, weights converted once at import; channels_first: NCHW as the file "
                          "(default channels_last)")
    imp.add_argument("--size", type=_positive_int, nargs=2, metavar=("HEIGHT", "WIDTH"),
                     help="image size; needed when the file leaves it free, else it must match the file's")
    imp.add_argument("--scale", type=_finite_float, default=1 / 255,
                     help="factor of the 0..255 pixel values (default 1/255: inputs in [0, 1])")
    imp.add_argument("--mean", type=_finite_float, nargs="+", default=[0.0],
                     help="subtracted after --scale: one number or one per channel (default 0)")
    imp.add_argument("--std", type=_non_zero_float, nargs="+", default=[1.0],
                     help="divides after --mean: one number or one per channel (default 1)")
    imp.add_argument("--channel-order", choices=("rgb", "bgr"), default="rgb", help="colour order (default rgb)")
    imp.add_argument("--labels", metavar="FILE", help="class names, one per line, one per output")
    imp.add_argument("--outputs", choices=("auto", "logits", "probabilities"), default="auto",
                     help="what the network outputs (auto: probabilities when it ends with Softmax)")
    imp.set_defaults(run=commands.import_model)

    filt = subcommands.add_parser(
        "filter", help="filter an image with a kernel (blur, sobel-x, ...) using numcnn's conv2d",
        description="Apply a named or custom kernel to every channel of an image with numcnn's conv2d "
                    "(cross-correlation, as the first study note slides its filter by hand: see "
                    "docs/study-notes.md) and save the result as an image.")
    filt.add_argument("image", metavar="IMAGE", help="PNG, JPEG, ... (grayscale or RGB)")
    filt.add_argument("--kernel", choices=sorted(KERNELS),
                      help="a named kernel (blur: the mean of each 3x3 neighbourhood)")
    filt.add_argument("--kernel-file", help="a kernel of your own: a .npy file or a text file of rows of numbers")
    filt.add_argument("--stride", type=_positive_int, default=1, help="step of the sliding window (default 1)")
    filt.add_argument("--padding", choices=("valid", "same"), default="same",
                      help="valid: no padding, a smaller output; same: zero padding, output size = input size / stride, "
                           "rounded up (default same)")
    filt.add_argument("--mode", choices=("auto", "gray", "rgb"), default="auto",
                      help="filter the gray image or each RGB channel (auto: RGB only for colour images)")
    filt.add_argument("--normalize", choices=NORMALIZE, default="auto",
                      help="how results become pixels: clip to [0, 1], min-max, or |value| / max; auto: abs for "
                           "kernels summing to 0 (edges), clip otherwise")
    filt.add_argument("--out", required=True, help="output image file (.png, .jpg, ...)")
    filt.add_argument("--raw", metavar="FILE.npy", help="also save the unclipped float32 result as a .npy file")
    filt.add_argument("--show-steps", metavar="STEPS.png",
                      help="also draw the kernel sliding over a region of IMAGE (at most 8x8 pixels; its red channel "
                           "if in colour), step by step, with the pixel values and the output cells they make")
    filt.add_argument("--steps-at", type=_non_negative_int, nargs=2, metavar=("ROW", "COL"),
                      help="with --show-steps: the output cell where the steps start (default: where the output "
                           "changes most)")
    filt.set_defaults(run=commands.filter_image)

    show = subcommands.add_parser(
        "show", help="draw a trained run: filters, feature maps, curves, confusion matrix, mistakes, model",
        description="Draw a picture of a run directory written by numcnn train and save it as a PNG file.")
    show.add_argument("run_dir", metavar="DIR", help="run directory written by numcnn train")
    show.add_argument("--what", choices=commands.SHOW_WHAT, required=True,
                      help="filters: the first conv layer's kernels; feature-maps: every conv layer's output for one "
                           "image; curves: loss/accuracy per epoch; confusion: the test confusion matrix; mistakes: "
                           "the surest wrong test predictions; model: the layers with shapes and parameter counts")
    show.add_argument("--image", help="for feature-maps: an image file (default: a test image, see --index)")
    show.add_argument("--index", type=_non_negative_int, default=0,
                      help="for feature-maps without --image: which test image (default 0)")
    show.add_argument("--invert", choices=("auto", "yes", "no"),
                      help="for --image: invert the image (default: as the run's preprocessing says)")
    show.add_argument("--data-dir", help="for feature-maps, confusion and mistakes: directory with the MNIST / "
                                         "Fashion-MNIST test files (default: where the run's training found them)")
    show.add_argument("--layer", action="append", metavar="NAME",
                      help="for feature-maps: only this Conv2D layer (repeat for several; default every one)")
    show.add_argument("--per-page", type=_positive_int, default=64, metavar="N",
                      help="for feature-maps and filters: at most N maps a file; more go to OUT-2.png, OUT-3.png, ... "
                           "(default 64)")
    show.add_argument("--out", required=True, help="output PNG file (the first page)")
    show.set_defaults(run=commands.show)

    explain = subcommands.add_parser(
        "explain", help="see the network think in the browser: maps, unit details, gradients, live training",
        description="Serve a run in the browser (127.0.0.1, a free port unless --port): every layer's feature maps "
                    "for a test image, an upload or a digit you draw; the numbers behind any unit; the gradients "
                    "of the loss; and the training live while the run trains. With --html, write one "
                    "self-contained page instead (no server, no network) for --images test images.")
    explain.add_argument("run_dir", metavar="DIR", help="run directory written by numcnn train (or import)")
    explain.add_argument("--port", type=_non_negative_int, default=0, help="port to listen on (default 0: a free one)")
    explain.add_argument("--host", default="127.0.0.1",
                         help="address to bind (default 127.0.0.1; another one makes the page reachable from the "
                              "network)")
    explain.add_argument("--no-browser", action="store_true", help="print the URL but do not open the browser")
    explain.add_argument("--html", metavar="PAGE.html", help="write a self-contained page to this file and exit")
    explain.add_argument("--images", type=_positive_int, default=20, metavar="N",
                         help="with --html: how many test images the page holds (default 20)")
    explain.add_argument("--data-dir", help="directory with the data set's test files (default: where the run's "
                                            "training found them)")
    explain.set_defaults(run=commands.explain)

    demo = subcommands.add_parser(
        "demo", help="one forward and backward pass of the simple CNN (train --model simple) on a random batch",
        description="Build a small CNN (conv 30@5x5 - relu - maxpool - dense 100 - relu - dense 10), run one forward "
                    "and backward pass on a random batch, print the model summary, the loss, the gradient norms and "
                    "the loss after one SGD step.")
    demo.add_argument("--seed", type=_non_negative_int, default=0, help="seed of the weights and the random batch (default 0)")
    demo.add_argument("--batch-size", type=_positive_int, default=32, help="images in the random batch (default 32)")
    demo.set_defaults(run=commands.demo)
    return parser


def _error(args, message, code) -> int:
    if not getattr(args, "quiet_error", False):  # set on ranks > 0 for an error rank 0 reports
        print(f"numcnn {args.command}: error: {message}", file=sys.stderr)
    return code


def _show_warning(message, category, filename, lineno, file=None, line=None):
    """A warning as one line on stderr, ``warning: ...``, without the library's source line."""
    print(f"warning: {message}", file=sys.stderr, flush=True)


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    keep_freed_memory()  # the command owns its process: each training step reuses the memory the last one freed
    try:
        with warnings.catch_warnings():
            warnings.showwarning = _show_warning
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
