"""numcnn.explain.units and windows: each unit's numbers end in the number of its map; im2col's product is the
layer's output. Known values first (note 002), then every unit of every layer of the tiny models against
slow loops over the layer's own input."""

import json

import numpy as np
import pytest
from explain_models import MODELS, build

from numcnn import Sequential
from numcnn import functional as F
from numcnn.explain import im2col_page, sliding_window, trace, unit_detail
from numcnn.layers import AveragePooling2D, Conv2D, Dense, Flatten, MaxPooling2D

U32 = 2.0 ** -24  # float32's unit roundoff


def _note_002():
    """conv2d of arange(16) (4x4) with a 2x2 kernel of ones and bias 3 (note 002): [[13, 17, 21], ...]."""
    model = Sequential([Conv2D(1, 2, input_shape=(4, 4, 1))])
    model.build()
    model.layers[0].params["kernel"][...] = 1
    model.layers[0].params["bias"][...] = 3
    return trace(model, np.arange(16, dtype=np.float32).reshape(4, 4, 1))


def test_note_002_unit_known_values():
    t = _note_002()
    u = unit_detail(t, "conv2d", 0, 0, 0)
    assert u["window"] == [[[0.0, 1.0], [4.0, 5.0]]] and u["kernel"] == [[[1.0, 1.0], [1.0, 1.0]]]
    assert u["products"] == [[[0.0, 1.0], [4.0, 5.0]]]
    assert (u["sum"], u["bias"], u["pre_activation"], u["value"], u["output"]) == (10.0, 3.0, 13.0, 13.0, 13.0)
    assert u["rows"] == [0, 1] and u["cols"] == [0, 1] and u["padding"] == [[False, False], [False, False]]
    # (n + 1) u (sum |products| + |bias|) + 4 u |output|: 4 products summing to 10, bias 3, output 13
    assert u["tolerance"] == pytest.approx(5 * U32 * 13 + 4 * U32 * 13, rel=1e-12)
    last = unit_detail(t, "conv2d", 0, 2, 2)
    assert last["window"] == [[[10.0, 11.0], [14.0, 15.0]]] and last["output"] == 53.0
    steps = sliding_window(t, "conv2d", channel=0)
    assert steps["total"] == 9 and steps["steps"][4] == [1, 1, 1, 1]
    assert steps["values"] == [13.0, 17.0, 21.0, 29.0, 33.0, 37.0, 45.0, 49.0, 53.0]
    page = im2col_page(t, "conv2d")
    np.testing.assert_array_equal(page["patches"], F.im2col(np.arange(16.0).reshape(1, 1, 4, 4), 2, 2))
    np.testing.assert_array_equal(page["product"][:, 0], [13, 17, 21, 29, 33, 37, 45, 49, 53])


def _reference_window(record, channel, i, j):
    """The conv unit's window by a slow loop over the layer's input, padded by hand: (Cg, kh, kw), and the
    padding mask."""
    layer = record.layer
    x = record.node.inputs[0][0]
    x = x if record.channels_last else np.moveaxis(x, 0, -1)
    h, w, c = x.shape
    kh, kw = layer.kernel_size
    groups = getattr(layer, "groups", None) or c  # a depthwise layer: one group per input channel
    cg = c // groups
    f = record.channel_count
    group = channel // (f // groups)
    pads = F.resolve_padding(layer.padding, (h, w), (kh, kw), layer.strides, layer.dilation_rate)
    window, mask = np.zeros((cg, kh, kw)), np.zeros((kh, kw), bool)
    for a in range(kh):
        for b in range(kw):
            r = i * layer.strides[0] + a * layer.dilation_rate[0] - pads[0][0]
            q = j * layer.strides[1] + b * layer.dilation_rate[1] - pads[1][0]
            if 0 <= r < h and 0 <= q < w:
                window[:, a, b] = x[r, q, group * cg:(group + 1) * cg]
            else:
                mask[a, b] = True
    return window, mask


def _conv_records(t):
    return [r for r in t.records if r.class_name in ("Conv2D", "DepthwiseConv2D")]


@pytest.mark.parametrize("kind", sorted(MODELS))
def test_every_conv_unit_ends_in_its_map_number(kind, rng):
    """Grouped, depthwise (with a multiplier), dilated, strided, same and explicit padding, both layouts."""
    model, x = build(kind, rng)
    t = trace(model, x)
    records = _conv_records(t)
    assert records
    for record in records:
        layer = record.layer
        kernel = layer.params["kernel"]
        kernel = kernel.reshape(*kernel.shape[:2], 1, -1) if record.class_name == "DepthwiseConv2D" else kernel
        out = record.output if record.channels_last else np.moveaxis(record.output, 0, -1)
        for (i, j, f) in np.ndindex(*out.shape):
            u = unit_detail(t, record.name, f, i, j)
            window, mask = _reference_window(record, f, i, j)
            np.testing.assert_array_equal(u["window"], window)
            np.testing.assert_array_equal(u["padding"], mask)
            np.testing.assert_array_equal(u["kernel"], np.moveaxis(kernel[..., f], -1, 0))
            np.testing.assert_array_equal(u["products"], window * np.moveaxis(kernel[..., f], -1, 0))
            assert u["sum"] == pytest.approx(float(np.sum(u["products"])), rel=1e-12, abs=1e-12)
            assert u["pre_activation"] == u["sum"] + u["bias"]
            assert u["output"] == float(out[i, j, f])
            assert u["tolerance"] < 1e-4  # a bound with teeth: a wrong product or a missed tap is far larger
            assert abs(u["value"] - u["output"]) <= u["tolerance"], (record.name, f, i, j)


def test_conv_unit_input_channel_page_and_json(rng):
    model, x = build("sequential", rng)
    t = trace(model, x)
    whole = unit_detail(t, "conv2d_1", 5, 1, 0)
    part = unit_detail(t, "conv2d_1", 5, 1, 0, channel_start=1, channel_count=2)
    assert whole["input_channels"] == [0, 1, 2, 3] and part["channel_start"] == 1
    assert part["window"] == whole["window"][1:3] and part["products"] == whole["products"][1:3]
    assert part["sum"] == whole["sum"] and len(part["channel_sums"]) == 4
    assert whole["sum"] == pytest.approx(sum(whole["channel_sums"]))
    json.dumps(whole)


def test_max_pooling_winner_is_the_first_maximum_and_its_value_the_map_number():
    model = Sequential([MaxPooling2D(2, strides=1, padding="same", input_shape=(3, 3, 1))])
    x = np.array([[1, 5, 5], [5, 2, 0], [7, 7, 3]], np.float32)[..., None]
    t = trace(model, x)
    u = unit_detail(t, "max_pooling2d", 0, 0, 0)  # window [[1, 5], [5, 2]]: three 5s... the first wins
    assert u["window"] == [[1.0, 5.0], [5.0, 2.0]] and u["winner"] == [0, 1] and u["value"] == 5.0 == u["output"]
    corner = unit_detail(t, "max_pooling2d", 0, 2, 2)  # same padding puts the window over the bottom-right edge
    assert corner["rows"] == [2, 3] and corner["window"] == [[3.0, None], [None, None]]
    assert corner["winner"] == [0, 0] and corner["output"] == 3.0


def test_average_pooling_means_the_real_pixels_of_its_window(rng):
    model, x = build("functional", rng)
    t = trace(model, x)
    record = t["avg"]
    for (i, j, c) in np.ndindex(*record.output.shape):
        u = unit_detail(t, "avg", c, i, j)
        real = [v for row in u["window"] for v in row if v is not None]
        assert u["count"] == len(real) == (1 if i == j == 4 else 2 if 4 in (i, j) else 4)
        assert u["value"] == pytest.approx(np.mean(real), rel=1e-12)
        assert abs(u["value"] - u["output"]) <= u["tolerance"]


@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
def test_dense_unit_contributions_sum_to_its_output_and_name_their_map_position(rng, data_format):
    shape = (3, 4, 5) if data_format == "channels_last" else (5, 3, 4)
    model = Sequential([Flatten(data_format=data_format, input_shape=shape), Dense(6, activation="relu")], seed=0)
    x = rng.standard_normal(shape).astype(np.float32)
    model(x[None])
    t = trace(model, x)
    kernel, bias = model.layers[1].params["kernel"], model.layers[1].params["bias"]
    for unit in range(6):
        u = unit_detail(t, "dense", unit, top=60)
        contributions = t["flatten"].output.astype(np.float64) * kernel[:, unit]
        assert [c["product"] for c in u["top"]] == sorted(contributions, key=lambda v: -abs(v))
        assert u["sum"] == pytest.approx(contributions.sum(), rel=1e-12)
        assert u["positive_sum"] + u["negative_sum"] == pytest.approx(u["sum"], rel=1e-12)
        assert u["bias"] == float(bias[unit]) and u["value"] == max(u["pre_activation"], 0.0)
        assert abs(u["value"] - u["output"]) <= u["tolerance"] < 1e-4
        for entry in u["top"]:  # each x_i is the number at the map position named
            s = entry["source"]
            value = x[s["y"], s["x"], s["channel"]] if data_format == "channels_last" else x[s["channel"], s["y"], s["x"]]
            assert entry["x"] == float(value)
    assert len(unit_detail(t, "dense", 0)["top"]) == 10
    f = unit_detail(t, "flatten", 7)
    assert f["value"] == f["output"] == float(t["flatten"].output[7])


def test_softmax_units_fused_and_as_a_layer(rng):
    model, x = build("functional", rng)
    t = trace(model, x)
    probs = model.get_layer("probs")
    logits = t["flatten"].output.astype(np.float64) @ probs.params["kernel"] + probs.params["bias"]
    for unit in range(3):
        u = unit_detail(t, "probs", unit)
        np.testing.assert_allclose(u["logits"], logits, rtol=1e-12)
        assert u["value"] == pytest.approx(np.exp(logits[unit]) / np.exp(logits).sum(), rel=1e-12)
        assert abs(u["value"] - u["output"]) <= u["tolerance"] < 1e-4
    model, x = build("channels_first", rng)
    t = trace(model, x)
    for unit in range(4):
        u = unit_detail(t, "softmax", unit)
        assert u["logits"] == t["dense"].output.astype(np.float64).tolist()
        assert abs(u["value"] - u["output"]) <= u["tolerance"] < 1e-5


def test_batch_norm_add_relu_and_global_pooling_units(rng):
    model, x = build("functional", rng)
    t = trace(model, x)
    bn = unit_detail(t, "bn", 2, 3, 4)
    assert bn["inputs"][0]["value"] == float(t["depthwise"].output[3, 4, 2])
    assert bn["normalization"]["channel"] == 2
    assert bn["value"] == pytest.approx(bn["output"], rel=1e-5, abs=1e-6)
    s = unit_detail(t, "sum", 1, 0, 8)
    assert [v["layer"] for v in s["inputs"]] == ["grouped", "bn"]
    assert s["value"] == pytest.approx(s["output"], rel=1e-6, abs=1e-7)
    model, x = build("subclassed", rng)
    t = trace(model, x)
    r = unit_detail(t, "block/re_lu", 0, 1, 1)
    assert r["value"] == max(r["inputs"][0]["value"], 0.0) == r["output"]
    g = unit_detail(t, "global_average_pooling2d", 2)
    assert g["value"] == pytest.approx(np.mean(t["add"].output[..., 2].astype(np.float64)), rel=1e-12)
    assert abs(g["value"] - g["output"]) <= g["tolerance"]
    model, x = build("channels_first", rng)
    t = trace(model, x)
    m = unit_detail(t, "global_max_pooling2d", 5)
    assert m["value"] == m["output"] == float(t["depthwise_conv2d"].output[5].max())
    y, xx = m["winner"]
    assert t["depthwise_conv2d"].output[5, y, xx] == m["output"]


@pytest.mark.parametrize("kind", sorted(MODELS))
def test_im2col_product_is_the_layer_output(kind, rng):
    model, x = build(kind, rng)
    t = trace(model, x)
    for record in _conv_records(t):
        groups = record.layer.groups if record.class_name == "Conv2D" else record.node.inputs[0].shape[
            -1 if record.channels_last else 1]
        for group in range(groups):
            page = im2col_page(t, record.name, group=group)
            act = F.get_activation(record.layer.activation)[0]
            made = act(page["product"], check=False)[0]
            np.testing.assert_allclose(made, page["output"], rtol=1e-5, atol=1e-6)
            assert page["product"].shape == (page["rows"], len(page["filters"]))
            half = im2col_page(t, record.name, start=1, count=2, group=group)  # a page of rows is the same rows
            np.testing.assert_array_equal(half["patches"], page["patches"][1:3])
            np.testing.assert_array_equal(half["positions"], page["positions"][1:3])


def test_im2col_matches_the_notes_im2col_with_stride_and_padding(rng):
    model = Sequential([Conv2D(3, 3, strides=2, padding=1, input_shape=(7, 6, 2))], seed=0)
    x = rng.standard_normal((7, 6, 2)).astype(np.float32)
    model(x[None])
    page = im2col_page(trace(model, x), "conv2d")
    notes = F.im2col(np.moveaxis(x, -1, 0)[None], 3, 3, stride=2, pad=1)
    np.testing.assert_array_equal(page["patches"], notes)
    w = np.moveaxis(model.layers[0].params["kernel"], -1, 0).transpose(0, 3, 1, 2).reshape(3, -1)  # (FN, C*kh*kw)
    np.testing.assert_array_equal(page["kernel_matrix"], w.T)
    assert page["columns"][:3].tolist() == [[0, 0, 0], [0, 0, 1], [0, 0, 2]] and page["columns"][9].tolist() == [1, 0, 0]


def test_pooling_sliding_window_and_refusals(rng):
    model, x = build("sequential", rng)
    t = trace(model, x)
    steps = sliding_window(t, "max_pooling2d", channel=1, start=3, count=2)
    assert steps["kernel_size"] == [2, 2] and steps["total"] == 16
    assert steps["steps"] == [[0, 3, 0, 6], [1, 0, 2, 0]]
    assert steps["values"] == [float(t["max_pooling2d"].output[0, 3, 1]), float(t["max_pooling2d"].output[1, 0, 1])]
    with pytest.raises(ValueError, match="not a convolution"):
        im2col_page(t, "dense")
    with pytest.raises(ValueError, match=r"Received: channel=4"):
        unit_detail(t, "conv2d", 4, 0, 0)
    with pytest.raises(ValueError, match=r"Received: y=8"):
        unit_detail(t, "conv2d", 0, 8, 0)
    with pytest.raises(ValueError, match=r"Received: unit=7"):
        unit_detail(t, "dense", 7)
    with pytest.raises(ValueError, match="model input"):
        unit_detail(t, "input", 0, 0, 0)
    with pytest.raises(ValueError, match="Received: group=1"):
        im2col_page(t, "conv2d", group=1)


def test_average_pooling_without_padding_known_values():
    model = Sequential([AveragePooling2D(2, input_shape=(2, 2, 1))])
    t = trace(model, np.array([[1, 2], [3, 6]], np.float32)[..., None])
    u = unit_detail(t, "average_pooling2d", 0, 0, 0)
    assert (u["kind"], u["count"], u["sum"], u["value"], u["output"]) == ("average", 4, 12.0, 3.0, 3.0)
