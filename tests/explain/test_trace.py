"""numcnn.explain.trace: every layer's output for one sample, for each kind of model, and channel paging."""

import json

import numpy as np
import pytest
from explain_models import MODELS, build

from numcnn import Sequential
from numcnn import functional as F
from numcnn.explain import trace
from numcnn.layers import Conv2D, ReLU


@pytest.mark.parametrize("kind", sorted(MODELS))
def test_the_last_record_is_the_models_output_and_the_trace_is_json(kind, rng):
    model, x = build(kind, rng)
    t = trace(model, x)
    np.testing.assert_array_equal(t.output, model.predict(x[None])[0])
    np.testing.assert_array_equal(t.records[-1].output, t.output)
    np.testing.assert_array_equal(t["input"].output, x)
    info = json.loads(json.dumps(t.layers()))
    names = [r["name"] for r in info]
    assert len(names) == len(set(names)) and names[0] == "input"
    for row, record in zip(info, t.records):  # every named input was recorded before the call that read it
        assert all(name in names[:names.index(row["name"])] for name in row["inputs"])
        assert row["min"] == pytest.approx(float(record.output.min())) and row["max"] == pytest.approx(
            float(record.output.max()))


def test_sequential_records_are_each_layer_applied_to_the_previous_one(rng):
    model, x = build("sequential", rng)
    t = trace(model, x)
    assert [(r.name, r.class_name, r.kind, r.inputs) for r in t.records] == [
        ("input", "Input", "maps", []), ("conv2d", "Conv2D", "maps", ["input"]),
        ("max_pooling2d", "MaxPooling2D", "maps", ["conv2d"]), ("conv2d_1", "Conv2D", "maps", ["max_pooling2d"]),
        ("flatten", "Flatten", "vector", ["conv2d_1"]), ("dense", "Dense", "vector", ["flatten"]),
        ("dense_1", "Dense", "vector", ["dense"])]
    conv = model.layers[0]
    expected = np.maximum(F.conv2d(x[None], conv.params["kernel"], conv.params["bias"], padding="same"), 0)[0]
    np.testing.assert_allclose(t["conv2d"].output, expected, rtol=1e-6, atol=1e-6)
    np.testing.assert_array_equal(t["max_pooling2d"].output, F.max_pool2d(t["conv2d"].output[None], 2)[0])
    np.testing.assert_array_equal(t["flatten"].output, t["conv2d_1"].output.reshape(-1))
    info = t["dense"].info()
    assert info["params"] == {"kernel": [24, 7], "bias": [7]} and info["activation"] == "relu"
    assert t["conv2d"].info()["height"] == 8 and t["conv2d"].info()["channels"] == 4


def test_subclassed_nested_model_and_a_layer_called_twice(rng):
    model, x = build("subclassed", rng)
    t = trace(model, x)
    assert [r.name for r in t.records] == ["input", "conv2d", "shared", "block/conv2d", "block/re_lu", "shared@2",
                                           "add", "global_average_pooling2d", "dense"]
    assert t["shared@2"].inputs == ["block/re_lu"] and t["add"].inputs == ["shared", "shared@2"]
    assert t["block/conv2d"].inputs == ["conv2d"]
    # the second call of the shared conv, recomputed from the nested block's recorded output
    again = model.shared(t["block/re_lu"].output[None])[0]
    np.testing.assert_array_equal(t["shared@2"].output, again)
    np.testing.assert_allclose(t["add"].output, t["shared"].output + t["shared@2"].output, rtol=1e-6)


def test_functional_dag_branches_merge_and_input_layers_are_not_records(rng):
    model, x = build("functional", rng)
    t = trace(model, x)
    assert [r.name for r in t.records] == ["input", "grouped", "depthwise", "bn", "sum", "avg", "flatten", "probs"]
    assert t["grouped"].inputs == ["input"] and t["depthwise"].inputs == ["input"]
    assert t["sum"].inputs == ["grouped", "bn"]
    np.testing.assert_allclose(t["sum"].output, t["grouped"].output + t["bn"].output, rtol=1e-6)
    assert t["probs"].output.sum() == pytest.approx(1.0, abs=1e-6)


def test_channels_first_records_keep_their_layout_and_pages_are_channel_major(rng):
    model, x = build("channels_first", rng)
    t = trace(model, x)
    record = t["depthwise_conv2d"]
    assert record.data_format == "channels_first" and t["input"].data_format == "channels_first"
    assert record.output.shape == (6, 4, 3) and record.channel_count == 6  # 10x9 -> 9x8 -> 4x3
    np.testing.assert_array_equal(t.channels("depthwise_conv2d", 2, 3), record.output[2:5])
    assert t.layers()[2]["height"] == 4


@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
def test_a_2048_channel_layer_is_paged_and_summarised_as_a_direct_forward_gives_it(rng, data_format):
    x = rng.standard_normal((8, 3, 3) if data_format == "channels_first" else (3, 3, 8)).astype(np.float32)
    model = Sequential([Conv2D(2048, 1, data_format=data_format, input_shape=x.shape), ReLU()], seed=4)
    model(x[None])
    conv = model.layers[0]
    direct = F.conv2d(x[None], conv.params["kernel"], conv.params["bias"], data_format=data_format)[0]
    hwc = direct if data_format == "channels_last" else np.moveaxis(direct, 0, -1)
    t = trace(model, x)
    page = t.channels("conv2d", 1000, 24)
    assert page.shape == (24, 3, 3)
    np.testing.assert_allclose(page, np.moveaxis(hwc[..., 1000:1024], -1, 0), rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(t.channels("conv2d", 2040), np.moveaxis(hwc[..., 2040:], -1, 0), rtol=1e-6, atol=1e-6)
    summary = t.channel_summary("re_lu")
    relu = np.maximum(hwc, 0).reshape(9, 2048)
    assert summary["channels"] == 2048
    np.testing.assert_allclose(summary["max"], relu.max(axis=0), rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(summary["min"], relu.min(axis=0), rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(summary["mean_abs"], np.abs(relu).mean(axis=0), rtol=1e-5, atol=1e-7)


def test_bad_arguments_are_refused_with_what_was_received(rng):
    model, x = build("sequential", rng)
    with pytest.raises(ValueError, match=r"one sample of shape \(8, 8, 2\).*Received: sample with shape \(1, 8, 8, 2\)"):
        trace(model, x[None])
    with pytest.raises(TypeError, match="numcnn Model"):
        trace(object(), x)
    t = trace(model, x)
    with pytest.raises(ValueError, match="Received: layer='nope'"):
        t["nope"]
    with pytest.raises(ValueError, match="not feature maps"):
        t.channels("dense")
    with pytest.raises(ValueError, match=r"\[0, 4\).*Received: start=4"):
        t.channels("conv2d", 4)
    with pytest.raises(ValueError, match="Received: count=0"):
        t.channels("conv2d", 0, 0)
