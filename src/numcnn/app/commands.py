"""What each ``numcnn`` command does, given its parsed arguments; :mod:`numcnn.app.cli` parses them."""

from __future__ import annotations

import dataclasses
import json
import os
import sys
import time

import numpy as np

from .._version import __version__
from .. import functional as F
from .. import viz
from ..data import DATASET_NAMES, load_dataset
from ..data.images import load_image
from ..filters import apply_kernel, get_kernel, load_kernel, to_display
from ..io.onnx_export import export_onnx
from ..models import zoo
from ..training.metrics import classification_report, confusion_matrix, format_classification_report
from ..training.mpi import Communicator
from ..training.strategy import MPIStrategy, OneProcess
from ..utils.files import atomic_path, check_suffix, write_text_atomic
from .runs import (
    data_dir_of,
    default_out_dir,
    base_input_shape,
    import_run,
    is_imported,
    load_run,
    load_run_dataset,
    preprocessing_of,
    read_history_csv,
    read_settings,
    train_run,
)
from .settings import RunError, RunSettings

def demo(args) -> int:
    rng = np.random.default_rng(args.seed)
    model = zoo.simple_convnet(seed=args.seed)
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


SETTING_FLAGS = tuple(field.name for field in dataclasses.fields(RunSettings))


def _settings_and_out(args):
    given = {k: getattr(args, k) for k in SETTING_FLAGS}
    if (args.base is not None and args.dataset not in (None, *DATASET_NAMES) and args.resume is None
            and (args.image_size is None or args.color_mode is None)):  # a folder takes the base's image size
        try:
            height, width, channels = base_input_shape(args.base)
        except (OSError, ValueError, KeyError) as e:
            raise RunError(f"--from {args.base}: not a run directory or ONNX file numcnn can read ({e}). "
                           f"Received: --from {args.base}") from None
        given["image_size"] = given["image_size"] or [height, width]
        given["color_mode"] = given["color_mode"] or ("grayscale" if channels == 1 else "rgb")
    if args.resume is not None:
        if args.out is not None and os.path.abspath(args.out) != os.path.abspath(args.resume):
            raise RunError(f"--resume writes into the run it continues; drop --out. Received: --out {args.out}")
        return RunSettings.resolve(given, read_settings(args.resume)), args.resume
    settings = RunSettings.resolve(given)
    out = args.out
    if out is None:
        try:
            out = default_out_dir(settings)
        except OSError as e:
            raise RunError(f"cannot create the run directory under runs/ ({e.strerror}); pass --out DIR. "
                           "Received: --out not given") from None
    return settings, out


def train(args) -> int:
    if getattr(args, "explain", False):
        return _train_explained(args)
    if not args.distributed:
        return _train_with(args, OneProcess())
    try:
        communicator = Communicator(timeout=args.mpi_timeout)
    except ImportError as e:
        raise RunError(f"--distributed: {e}") from None
    try:
        return _train_with(args, MPIStrategy(communicator), communicator.share_cores())
    except BaseException as e:
        if e is communicator.shared_error:  # every rank raises it: they all stop cleanly
            args.quiet_error = not communicator.should_report(e)
        else:  # the other ranks may be waiting for this one
            communicator.abort_at_exit()
        raise


def _explain_server():
    """numcnn.explain's server module; a clear error when its web framework is missing."""
    try:
        from ..explain import server
        import starlette  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError as e:
        raise RunError(f"numcnn explain needs Starlette and uvicorn: pip install starlette uvicorn ({e}). "
                       "Received: a Python without them") from None
    return server


def _train_explained(args) -> int:
    """``train --explain``: the explain server on the run directory while it trains, and after, until Ctrl+C."""
    if args.distributed:
        raise RunError("--explain watches a run of one process; drop --distributed. Received: --explain --distributed")
    server = _explain_server()
    if args.out is None and args.resume is None:
        args.out = _settings_and_out(args)[1]  # the directory the server watches; training then claims it
    out = args.resume or args.out  # the server waits for it to hold a trained epoch
    url, stop, thread = server.serve_in_thread(out, open_browser=not args.no_browser, port=args.explain_port,
                                               data_dir=args.data_dir, wait=True)
    code, error = 1, None
    try:
        code = _train_with(args, OneProcess())
    except KeyboardInterrupt:
        stop.set()
        raise
    except Exception as e:  # noqa: BLE001 - raised again once the page is closed, or now if nothing was trained
        if not any(os.path.exists(os.path.join(out, name)) for name in ("model.safetensors", "checkpoint.safetensors")):
            stop.set()
            raise
        error = e
        print(f"numcnn train: error: {e}", file=sys.stderr)
    print(f"training ended; numcnn explain keeps serving {url} - press Ctrl+C to stop", flush=True)
    try:
        while thread.is_alive():
            thread.join(0.5)
    except KeyboardInterrupt:
        stop.set()
        thread.join(5)
    if error is not None:
        raise error
    return code


def explain(args) -> int:
    server = _explain_server()
    if args.html:
        from ..explain import Explainer

        check_suffix(args.html, (".html", ".htm"), "--html")
        explainer = Explainer(args.run_dir, data_dir=args.data_dir)
        size = server.write_html(explainer, args.html, args.images)
        print(f"wrote {args.html} ({size / 1e6:.1f} MB, {args.images} test images): open it in a browser, "
              "no server or network needed")
        return 0
    try:
        server.serve(args.run_dir, host=args.host, port=args.port, open_browser=not args.no_browser,
                     data_dir=args.data_dir)
    except KeyboardInterrupt:  # uvicorn stops cleanly on Ctrl+C, then raises it again
        pass
    print("numcnn explain: stopped")
    return 0


def _train_with(args, strategy, threads=None) -> int:
    plan = None
    with strategy.together("reading the settings"):
        if strategy.is_root:  # only rank 0 reads --resume's run and creates the run directory
            settings, out = _settings_and_out(args)
            plan = [settings.to_json(), out]
    settings, out = strategy.broadcast_json(plan, "sharing the settings")
    settings = RunSettings(**settings)
    verbose = {None: "auto", "bar": 1, "lines": 2, "quiet": 0}[args.progress]
    say = print if strategy.is_root else (lambda *a, **k: None)
    ranks = f" on {strategy.size} rank{'s' * (strategy.size > 1)}" if args.distributed else ""
    say(f"numcnn {__version__}: training {settings.model} on {settings.dataset}{ranks} -> {out}")
    say("settings: " + ", ".join(f"{k}={v}" for k, v in settings.to_json().items()))
    if threads is not None:
        say(f"each rank uses {threads} thread{'s' * (threads > 1)}: its share of its host's cores (set "
            "OMP_NUM_THREADS and NUMCNN_NUM_THREADS to choose)")
    metrics = train_run(settings, out, args.data_dir, verbose=verbose, resume=args.resume is not None, log=say,
                        strategy=strategy)
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


def _test_set(config, args, name=None):
    """The test images of the run's data set (or ``name``), from ``--data-dir`` or where training read them."""
    name = name or config["dataset"]["name"]
    if name is None:
        hint = {"evaluate": " Pass --dataset NAME (a data set of the images it takes).",
                "feature-maps": " Pass --image FILE."}.get(getattr(args, "what", args.command), "")
        raise RunError(f"{args.run_dir} is an imported network: it has no test set of its own.{hint} "
                       f"Received: {args.command} without a data set")
    if name == config["dataset"]["name"]:
        settings = RunSettings.from_json(config["training"], os.path.join(args.run_dir, "config.json"))
        return load_run_dataset(settings, data_dir_of(config, args.data_dir), splits=("test",), progress=False)
    return load_dataset(name, args.data_dir, splits=("test",))


def _model_inputs(config, x01):
    """Test images in [0, 1] as the run's model takes them (an imported run's preprocessing applied)."""
    preprocessing = preprocessing_of(config)
    return x01 if preprocessing is None else preprocessing.normalize(x01)


def _probabilities(config, outputs):
    return outputs if config.get("outputs") == "probabilities" else F.softmax(outputs)


def _image_shape(config):
    """(height, width, channels) of the images the run's model takes."""
    preprocessing = _image_preprocessing(config)
    return (*preprocessing.size, preprocessing.channels)


def _image_preprocessing(config, invert=None):
    """The run's preprocessing (``invert`` overriding its polarity), refused for a network without images."""
    preprocessing = preprocessing_of(config)
    if preprocessing is None:
        raise RunError(f"The imported network takes inputs of shape {tuple(config['dataset']['input_shape'])}, "
                       "not images. Received: a run without image preprocessing")
    return preprocessing if invert is None else dataclasses.replace(preprocessing, invert=invert)


def _image_sample(preprocessing, path, preprocess=True):
    """One image file as the model takes it: ``(sample, picture in [0, 1] it shows, warnings)``."""
    if preprocess:
        return preprocessing.load(path)  # the one way, shared with numcnn.explain
    image = load_image(path, grayscale=preprocessing.channels == 1)
    picture = preprocessing.colour(image)
    if picture.shape[:2] != preprocessing.size:
        raise RunError(f"--no-preprocess takes images of the model's size, {preprocessing.size[0]}x"
                       f"{preprocessing.size[1]}. Received: {path}, {picture.shape[0]}x{picture.shape[1]}")
    return preprocessing.normalize(picture), picture, preprocessing.warnings(image)


def evaluate(args) -> int:
    model, config = load_run(args.run_dir)
    name = args.dataset or config["dataset"]["name"]
    dataset = _test_set(config, args, name)
    if tuple(dataset.input_shape) != _image_shape(config):
        raise RunError(f"The run's model takes {_image_shape(config)} images; {name} has "
                       f"{dataset.input_shape}. Received: --dataset {name}")
    outputs = model.predict(_model_inputs(config, dataset.x_test), batch_size=args.batch_size)
    if config.get("outputs") == "probabilities":
        loss = float(-np.mean(np.log(np.clip(outputs[np.arange(len(outputs)), dataset.y_test], 1e-12, None))))
    else:
        loss = F.softmax_cross_entropy(dataset.y_test, outputs)
    predicted = outputs.argmax(axis=1)
    accuracy = float(np.mean(predicted == dataset.y_test))
    names = list(config["dataset"]["class_names"] or dataset.class_names)
    matrix = confusion_matrix(dataset.y_test, predicted, len(names))
    report = classification_report(matrix, names)
    print(f"{name} test set, {len(dataset.y_test)} images: loss {loss:.4f}, accuracy {accuracy:.4f}")
    print("confusion matrix (rows: true class, columns: predicted class):")
    print(_format_confusion(matrix, names))
    print()
    print(format_classification_report(report), end="")
    _record_evaluation(args.run_dir, name, {"images": len(dataset.y_test), "loss": float(loss), "accuracy": accuracy,
                                           "report": report, "confusion_matrix": matrix.tolist()})
    return 0


def _record_evaluation(run_dir, dataset_name, results) -> None:
    """``metrics.json``'s ``evaluation`` section gains (or replaces) this data set's results; the rest is kept."""
    path = os.path.join(run_dir, "metrics.json")
    metrics = {}
    if os.path.exists(path):
        with open(path, encoding="utf-8") as f:
            metrics = json.load(f)
    metrics.setdefault("evaluation", {})[dataset_name] = results
    write_text_atomic(path, json.dumps(metrics, indent=2) + "\n")


#: below this top probability, predict says the model is unsure
UNSURE = 0.5


def predict(args) -> int:
    model, config = load_run(args.run_dir)
    names = config["dataset"]["class_names"]
    preprocessing = _image_preprocessing(config, args.invert)
    samples = [_image_sample(preprocessing, path, not args.no_preprocess) for path in args.images]
    if args.save_input:
        _save_inputs(args.save_input, args.images, [picture for _, picture, _ in samples])
    probs = _probabilities(config, model.predict(np.stack([sample for sample, _, _ in samples])))
    for path, p, (_, _, warnings) in zip(args.images, probs, samples):
        top = np.argsort(-p)[:3]
        ranked = ", ".join(f"{names[k]} {p[k]:.3f}" for k in top)
        print(f"{path}: {names[top[0]]}  (top 3: {ranked})")
        if p[top[0]] < UNSURE:
            warnings = [*warnings, f"the model is unsure: its top probability is {p[top[0]]:.2f}"]
        for warning in warnings:
            print(f"warning: {path}: {warning}", file=sys.stderr)
    return 0


def _save_inputs(directory, paths, pictures) -> None:
    """Each picture the model was shown as ``DIRECTORY/<image name>.png`` (``-2``, ``-3``... on a repeated name)."""
    os.makedirs(directory, exist_ok=True)
    used = set()
    for path, picture in zip(paths, pictures):
        stem = os.path.splitext(os.path.basename(path))[0] or "image"
        name, k = stem, 1
        while name in used:
            k += 1
            name = f"{stem}-{k}"
        used.add(name)
        _save_image(os.path.join(directory, name + ".png"), picture[..., 0] if picture.shape[-1] == 1 else picture)


def summary(args) -> int:
    model, config = load_run(args.run_dir)
    model.summary()
    if is_imported(config):
        source = config["source"]
        print(f"imported from {source['file']} (ONNX opset {source['opset']}, made by {source['producer'] or '?'}); "
              f"its outputs are {config.get('outputs', 'logits')}")
        _print_preprocessing(config)
        return 0
    training = config["training"]
    print("training: " + ", ".join(f"{k}={v}" for k, v in training.items()))
    _print_preprocessing(config)
    metrics_path = os.path.join(args.run_dir, "metrics.json")
    if os.path.exists(metrics_path):
        with open(metrics_path, encoding="utf-8") as f:
            metrics = json.load(f)
        print(f"test accuracy {metrics.get('test_accuracy', float('nan')):.4f}, test loss "
              f"{metrics.get('test_loss', float('nan')):.4f}, {metrics.get('epochs')} epochs, "
              f"{metrics.get('seconds', 0):.1f} s")
    return 0


def _print_preprocessing(config) -> None:
    preprocessing = preprocessing_of(config)
    if preprocessing is not None:
        print("preprocessing: " + ", ".join(f"{k}={v}" for k, v in preprocessing.to_json().items()))


def export(args) -> int:
    check_suffix(args.out, (".onnx",), "--out")
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


#: the image files ``filter --out`` writes, by suffix (Pillow's format names)
IMAGE_FORMATS = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".bmp": "BMP", ".gif": "GIF", ".tif": "TIFF",
                 ".tiff": "TIFF", ".webp": "WEBP"}


def _save_image(path, pixels) -> None:
    from PIL import Image

    data = (np.clip(pixels, 0, 1) * 255 + 0.5).astype(np.uint8)
    fmt = IMAGE_FORMATS[os.path.splitext(path)[1].lower()]
    with atomic_path(path) as tmp:
        Image.fromarray(data).save(tmp, format=fmt)


def filter_image(args) -> int:
    check_suffix(args.out, tuple(IMAGE_FORMATS), "--out")
    if args.raw:
        check_suffix(args.raw, (".npy",), "--raw")
    if args.show_steps:
        check_suffix(args.show_steps, (".png",), "--show-steps")
    elif args.steps_at is not None:
        raise ValueError("--steps-at says where --show-steps starts; give --show-steps STEPS.png too. "
                         f"Received: --steps-at {args.steps_at[0]} {args.steps_at[1]} without --show-steps")
    if (args.kernel is None) == (args.kernel_file is None):
        raise ValueError("Give exactly one of --kernel NAME and --kernel-file FILE. "
                         f"Received: --kernel {args.kernel}, --kernel-file {args.kernel_file}")
    kernel = get_kernel(args.kernel) if args.kernel else load_kernel(args.kernel_file)
    image = load_image(args.image, grayscale=args.mode == "gray")
    if args.mode == "auto" and image.ndim == 3 and np.allclose(image, image[..., :1], atol=1 / 255):
        image = image[..., 0]  # a gray picture stored as RGB stays one channel
    filtered = apply_kernel(image, kernel, args.stride, args.padding)
    if args.steps_at is not None and not all(0 <= v < n for v, n in zip(args.steps_at, filtered.shape)):
        raise ValueError(f"--steps-at must be an output cell ROW COL of the {filtered.shape[0]}x{filtered.shape[1]} "
                         f"output (from 0). Received: --steps-at {args.steps_at[0]} {args.steps_at[1]}")
    _save_image(args.out, to_display(filtered, kernel, args.normalize))
    print(f"{args.image}: {image.shape} -> {filtered.shape} with a {kernel.shape[0]}x{kernel.shape[1]} kernel, "
          f"stride {args.stride}, padding {args.padding}; values {filtered.min():.4g}..{filtered.max():.4g}; "
          f"saved {args.out}")
    if args.raw:
        with atomic_path(args.raw) as tmp, open(tmp, "wb") as f:
            np.save(f, filtered, allow_pickle=False)
        print(f"raw float32 result saved to {args.raw}")
    if args.show_steps:
        _show_steps(args, image, kernel)
    return 0


def _show_steps(args, image, kernel) -> None:
    """``--show-steps``: the kernel sliding over a region of the user's image (its red channel if in colour)."""
    channel, which = (image, "") if image.ndim == 2 else (image[..., 0], ", red channel")
    drawn = viz.plot_sliding_window(
        channel, kernel, args.show_steps, args.stride, args.padding,
        start=None if args.steps_at is None else tuple(args.steps_at),
        title=f"{os.path.basename(args.image)} ({image.shape[0]}x{image.shape[1]}{which}): a {kernel.shape[0]}x"
              f"{kernel.shape[1]} kernel, stride {args.stride}, padding {args.padding}; the numbers are the "
              "pixel values (0 to 1) that conv2d reads")
    rows, cols = drawn.region
    print(f"the kernel sliding over output rows {rows.start}-{rows.stop - 1}, columns {cols.start}-{cols.stop - 1} "
          f"of {args.image}{which} saved to {args.show_steps}")


SHOW_WHAT = ("filters", "feature-maps", "curves", "confusion", "mistakes", "model")


def show(args) -> int:
    check_suffix(args.out, (".png",), "--out")
    model, config = load_run(args.run_dir)
    names = config["dataset"]["class_names"]
    paths = [args.out]
    if args.what == "filters":
        drawn = viz.plot_filters(model, args.out, per_page=args.per_page)
        paths, channels = drawn.paths, f"{drawn.values.shape[-1]} filters"
    elif args.what == "feature-maps":
        if args.image is not None:
            image = _image_sample(_image_preprocessing(config, args.invert), args.image)[0]
        else:
            test = _test_set(config, args).x_test
            if args.index >= len(test):
                raise ValueError(f"--index must be below the {len(test)} test images. Received: --index {args.index}")
            image = test[args.index]
        try:
            drawn = viz.plot_feature_maps(model, image, args.out, per_page=args.per_page, layers=args.layer)
        except ValueError as e:
            raise (RunError(f"--layer: {e}") if "`layers`" in str(e) else e) from None
        paths = drawn.paths
        channels = (f"{sum(m.shape[-1] for m in drawn.values.values())} maps of {len(drawn.values)} Conv2D "
                    f"layer{'s' * (len(drawn.values) > 1)}")
    elif args.what == "curves":
        if is_imported(config):
            raise RunError(f"{args.run_dir} is an imported network: it was not trained here, so it has no curves. "
                           "Received: --what curves")
        history = read_history_csv(os.path.join(args.run_dir, "history.csv"))
        history.pop("epoch", None)
        viz.plot_history(history, args.out, f"{config['training']['model']} on {config['training']['dataset']}")
    elif args.what == "model":
        viz.plot_model(model, args.out)
    else:
        dataset = _test_set(config, args)
        probs = _probabilities(config, model.predict(_model_inputs(config, dataset.x_test), batch_size=256))
        if args.what == "confusion":
            viz.plot_confusion(confusion_matrix(dataset.y_test, probs.argmax(1), dataset.classes), names, args.out)
        else:
            viz.plot_mistakes(dataset.x_test, dataset.y_test, probs, names, args.out)
    if len(paths) == 1:
        print(f"{args.what} of {args.run_dir} saved to {args.out}")
    else:  # never silently a part: say that there are more pages, and where
        print(f"{args.what} of {args.run_dir}: {channels} on {len(paths)} pages of up to {args.per_page}, saved to "
              + ", ".join(paths))
    return 0




def import_model(args) -> int:
    config = import_run(args.model, args.out, data_format=args.data_format, size=args.size, scale=args.scale,
                        mean=args.mean, std=args.std, channel_order=args.channel_order, labels=args.labels,
                        outputs=args.outputs)
    model_info = config["model"]["config"]
    layers = len(model_info.get("layers", []))
    print(f"imported {args.model} (ONNX opset {config['source']['opset']}) as {layers} layers, input "
          f"{tuple(config['dataset']['input_shape'])}, {len(config['dataset']['class_names'])} outputs "
          f"({config['outputs']}) -> {args.out}")
    print(f"saved {args.out}: model.safetensors, config.json; try numcnn summary {args.out}")
    return 0
