"""Transfer learning: a base with a new head, frozen layers that neither change nor are gone back
through, fine-tuning with batch norm kept in inference mode, and `numcnn train --from`."""

import json

import numpy as np
import pytest
from PIL import Image

import numcnn
from numcnn.app.cli import main
from numcnn.layers import BatchNormalization, Conv2D, Dense, Flatten, GlobalAveragePooling2D, MaxPooling2D, ReLU
from numcnn.layers.tape import input_gradient
from numcnn.models.transfer import FineTune, base_end, freeze, unfreeze, with_new_head
from numcnn.training import schedules


def sequential_base(seed=0):
    model = numcnn.Sequential([Conv2D(4, 3, padding="same", activation="relu", input_shape=(8, 8, 1)),
                               MaxPooling2D(2), Flatten(), Dense(16, activation="relu"), Dense(10)], seed=seed)
    model.build((None, 8, 8, 1))
    return model


def functional_base(seed=0):
    x = numcnn.Input((8, 8, 3))
    h = ReLU()(BatchNormalization(name="bn")(Conv2D(6, 3, padding="same", name="conv")(x)))
    h = GlobalAveragePooling2D(name="gap")(h)
    model = numcnn.Model(x, Dense(7, name="old_head")(h), seed=seed)
    bn = model.get_layer("bn")
    bn.state["moving_mean"][...] = np.linspace(-1, 1, 6)
    bn.state["moving_variance"][...] = np.linspace(0.5, 2, 6)
    return model


def test_a_new_head_goes_after_the_last_flatten_and_shares_the_base():
    base = sequential_base()
    model = with_new_head(base, 3, seed=1)
    kinds = [type(layer).__name__ for layer in model.layers]
    assert kinds == ["InputLayer", "Conv2D", "MaxPooling2D", "Flatten", "Dense"]
    assert model.layers[1] is base.layers[0] and model.layers[-1].units == 3
    x = np.random.default_rng(0).standard_normal((2, 8, 8, 1)).astype(np.float32)
    features = numcnn.Sequential(base.layers[:3])(x)
    head = model.layers[-1]
    np.testing.assert_allclose(model(x), features @ head.params["kernel"] + head.params["bias"], rtol=1e-5)
    f = functional_base()
    g = with_new_head(f, 4)
    assert base_end(f) == [layer.name for layer in f.layers].index("gap")
    assert g.get_layer("conv") is f.get_layer("conv") and g.output_shape == (None, 4)


@pytest.mark.parametrize("model, message", [
    (numcnn.Sequential([Dense(3, input_shape=(4,))], seed=0), "no Flatten or global pooling"),
])
def test_a_model_without_a_base_end_is_refused(model, message):
    model.build((None, 4))
    with pytest.raises(ValueError, match=message):
        with_new_head(model, 3)
    with pytest.raises(ValueError, match="classes"):
        with_new_head(sequential_base(), 1)


def test_freeze_by_name_index_and_negative_index_and_never_the_head():
    model = with_new_head(sequential_base(), 3)
    assert freeze(model, "max_pooling2d") == ["input_layer", "conv2d", "max_pooling2d"]
    assert [layer.trainable for layer in model.layers] == [False, False, False, True, True]
    assert freeze(with_new_head(sequential_base(), 3), 1) == ["input_layer", "conv2d"]
    assert freeze(with_new_head(sequential_base(), 3), -2)[-1] == "flatten"
    for bad in ("new_head", 4, -1, "nope", 2.5):
        with pytest.raises(ValueError, match="freeze") as info:
            freeze(with_new_head(sequential_base(), 3), bad)
        assert "Received" in str(info.value)


def test_frozen_layers_stay_as_they_are_and_are_not_gone_back_through():
    model = with_new_head(functional_base(), 3, seed=2)
    freeze(model, "gap")
    conv, bn = model.get_layer("conv"), model.get_layer("bn")
    before = {k: v.copy() for k, v in model.named_weights().items()}
    calls = []
    original = type(conv)._backward
    conv._backward = lambda dy, cache: calls.append(1) or original(conv, dy, cache)
    model.compile("adam", numcnn.losses.SparseCategoricalCrossentropy(from_logits=True))
    rng = np.random.default_rng(3)
    model.fit(rng.standard_normal((20, 8, 8, 3)).astype(np.float32), rng.integers(0, 3, 20), epochs=2,
              batch_size=5, verbose=0)
    after = model.named_weights()
    for key, value in before.items():
        if key.startswith("new_head"):
            assert not np.array_equal(after[key], value), key
        else:
            np.testing.assert_array_equal(after[key], value)  # weights and batch-norm statistics alike
    assert calls == []  # nothing trainable lies behind the frozen base: no backward through it
    model(rng.standard_normal((2, 8, 8, 3)).astype(np.float32), training=True)
    dx = model.backward(np.ones((2, 3), np.float32))  # asked for the input's gradient: it goes through
    assert calls == [1] and dx.shape == (2, 8, 8, 3)
    assert list(model.grads) == ["new_head/kernel", "new_head/bias"] and not bn.grads


def test_the_input_gradient_switch_leaves_weight_gradients_unchanged():
    model = with_new_head(sequential_base(), 3)
    x = np.random.default_rng(4).standard_normal((3, 8, 8, 1)).astype(np.float32)
    model(x, training=True)
    full = model.backward(np.ones((3, 3), np.float32))
    grads = {k: v.copy() for k, v in model.grads.items()}
    model(x, training=True)
    with input_gradient(False):
        assert model.backward(np.ones((3, 3), np.float32)) is None
    assert full is not None and grads.keys() == model.grads.keys()
    for key in grads:
        np.testing.assert_array_equal(model.grads[key], grads[key])


def test_unfreeze_keeps_batch_norm_in_inference_mode_and_fine_tune_switches_at_its_epoch():
    model = with_new_head(functional_base(), 3)
    freeze(model, "gap")
    assert set(unfreeze(model)) == {"input_layer", "conv", "re_lu", "gap"}
    assert not model.get_layer("bn").trainable and model.get_layer("conv").trainable
    model = with_new_head(functional_base(), 3)
    freeze(model, "gap")
    rate = schedules.FineTuneSchedule(schedules.StepDecay(0.01, 4, 0.5), 8, 1e-4)
    assert [rate(s) for s in (0, 4, 7, 8, 50)] == [0.01, 0.005, 0.005, 1e-4, 1e-4]
    model.compile(numcnn.optimizers.Adam(rate), numcnn.losses.SparseCategoricalCrossentropy(from_logits=True))
    rng = np.random.default_rng(5)
    x, y = rng.standard_normal((8, 8, 8, 3)).astype(np.float32), rng.integers(0, 3, 8)
    conv = model.get_layer("conv").params["kernel"].copy()
    messages = []
    model.fit(x, y, epochs=2, batch_size=2, verbose=0, callbacks=[FineTune(2, messages.append)])
    np.testing.assert_array_equal(model.get_layer("conv").params["kernel"], conv)  # 2 epochs frozen
    model.fit(x, y, epochs=3, initial_epoch=2, batch_size=2, verbose=0, callbacks=[FineTune(2, messages.append)])
    assert not np.array_equal(model.get_layer("conv").params["kernel"], conv)  # then fine-tuned
    assert messages == ["fine-tuning from epoch 3: 4 layers unfrozen"]


# -- the command line -------------------------------------------------------------------------------

def shapes_folder(root, per_class=8):
    rng = np.random.default_rng(0)
    for k, name in enumerate(("bars", "dots")):
        (root / name).mkdir(parents=True)
        for i in range(per_class):
            image = rng.integers(0, 40, (8, 8)).astype(np.uint8)
            if k == 0:
                image[:, 2::3] = 250
            else:
                image[2::3, 2::3] = 250
            Image.fromarray(image).save(root / name / f"{i}.png")
    return root


def test_numcnn_train_from_a_run_freezes_fine_tunes_resumes_and_predicts(tmp_path, capsys):
    base = tmp_path / "digits"
    assert main(["train", "--epochs", "2", "--out", str(base), "--progress", "quiet"]) == 0
    data = shapes_folder(tmp_path / "shapes")
    run = tmp_path / "transfer"
    assert main(["train", "--dataset", str(data), "--from", str(base), "--freeze", "flatten", "--epochs", "2",
                 "--fine-tune-epochs", "1", "--fine-tune-lr", "0.0001", "--out", str(run), "--progress", "quiet",
                 "--validation-split", "0", "--test-split", "0.25"]) == 0
    out = capsys.readouterr().out
    assert "4 layers frozen (up to flatten), new head of 2 classes" in out and "fine-tuning from epoch 3" in out
    config = json.loads((run / "config.json").read_text())
    assert config["training"]["image_size"] == [8, 8] and config["training"]["color_mode"] == "grayscale"
    assert config["model"]["class_name"] == "Functional"
    assert config["optimizer"]["config"]["learning_rate"]["class_name"] == "FineTuneSchedule"
    base_kernel = numcnn.load(base).layers[0].params["kernel"]
    moved = numcnn.load(run).get_layer("conv2d").params["kernel"]
    assert not np.array_equal(moved, base_kernel)  # fine-tuned in epoch 3
    assert main(["train", "--resume", str(run), "--progress", "quiet"]) == 0  # all 3 done: the total counts both
    assert json.loads((run / "metrics.json").read_text())["epochs"] == 3
    assert main(["train", "--resume", str(run), "--epochs", "3", "--progress", "quiet"]) == 0
    assert json.loads((run / "metrics.json").read_text())["epochs"] == 4
    capsys.readouterr()
    assert main(["predict", str(run), str(data / "dots" / "0.png")]) == 0
    assert capsys.readouterr().out.split(": ")[1].split()[0] in ("bars", "dots")


def test_numcnn_train_from_an_onnx_file(tmp_path, capsys):
    base = tmp_path / "digits"
    assert main(["train", "--epochs", "1", "--out", str(base), "--progress", "quiet"]) == 0
    assert main(["export", str(base), "--out", str(tmp_path / "digits.onnx")]) == 0
    run = tmp_path / "from-onnx"
    assert main(["train", "--dataset", str(shapes_folder(tmp_path / "shapes")), "--from", str(tmp_path / "digits.onnx"),
                 "--freeze", "2", "--epochs", "1", "--out", str(run), "--progress", "quiet"]) == 0
    assert json.loads((run / "config.json").read_text())["dataset"]["class_names"] == ["bars", "dots"]


def test_transfer_flags_are_checked(tmp_path, capsys):
    base = tmp_path / "digits"
    assert main(["train", "--epochs", "1", "--out", str(base), "--progress", "quiet"]) == 0
    data = shapes_folder(tmp_path / "shapes")
    cases = [
        (["--freeze", "flatten"], "--freeze: must be a layer name or index, with --from"),
        (["--from", str(tmp_path)], "not a run directory or ONNX file numcnn can read"),
        (["--from", str(base), "--freeze", "new_head"], "at most 'flatten'"),
        (["--from", str(base), "--image-size", "6", "6"], "the network takes samples of shape (8, 8, 1)"),
        (["--fine-tune-epochs", "2"], "--fine-tune-epochs: must be an int >= 0, with --from"),
    ]
    for k, (flags, message) in enumerate(cases):
        code = main(["train", "--dataset", str(data), *flags, "--out", str(tmp_path / f"bad{k}"), "--progress", "quiet"])
        assert code == 2 and message in capsys.readouterr().err, flags


def test_fit_never_computes_the_first_convolutions_input_gradient(monkeypatch):
    from numcnn.functional import conv as conv_module

    calls = []
    original = conv_module._input_gradient_by_taps
    monkeypatch.setattr(conv_module, "_input_gradient_by_taps", lambda *a: calls.append(1) or original(*a))
    model = numcnn.Sequential([Conv2D(3, 3, input_shape=(6, 6, 2)), Conv2D(2, 3), Flatten(), Dense(2)], seed=0)
    model.compile("sgd", numcnn.losses.SparseCategoricalCrossentropy(from_logits=True))
    rng = np.random.default_rng(6)
    x, y = rng.standard_normal((8, 6, 6, 2)).astype(np.float32), rng.integers(0, 2, 8)
    model.fit(x, y, epochs=1, batch_size=4, verbose=0)
    assert len(calls) == 2  # two steps, the second convolution's only
    model(x, training=True)
    dx = model.backward(np.ones((8, 2), np.float32))
    assert len(calls) == 4 and dx.shape == x.shape  # asked for: both
    kernel_grad = model.layers[0].grads["kernel"].copy()
    model(x, training=True)
    with input_gradient(False):
        assert model.backward(np.ones((8, 2), np.float32)) is None
    assert len(calls) == 5
    np.testing.assert_array_equal(model.layers[0].grads["kernel"], kernel_grad)


def test_conv2d_backward_without_the_input_gradient():
    from numcnn.functional import conv2d_backward, conv2d_forward

    rng = np.random.default_rng(7)
    y, cache = conv2d_forward(rng.standard_normal((2, 5, 5, 3)), rng.standard_normal((3, 3, 3, 4)),
                              rng.standard_normal(4), strides=2, padding="same")
    dy = rng.standard_normal(y.shape)
    full, skipped = conv2d_backward(dy, cache), conv2d_backward(dy, cache, input_gradient=False)
    assert skipped[0] is None and full[0].shape == (2, 5, 5, 3)
    np.testing.assert_array_equal(skipped[1], full[1])
    np.testing.assert_array_equal(skipped[2], full[2])
