"""numcnn.explain.saliency: the gradients of the cross-entropy against a chosen class, for the input and for
every layer, against model.backward, float64 numerical gradients and PyTorch autograd."""

import json

import numpy as np
import pytest
from explain_models import MODELS, build
from helpers import import_torch, numerical_grad

from numcnn import functional as F
from numcnn.explain import saliency, trace
from numcnn.io import to_torch

OUTPUTS = {"sequential": "logits", "subclassed": "logits", "functional": "probabilities",
           "channels_first": "probabilities"}


def _loss_gradient(model, x, label, outputs):
    scores = model(x[None])
    if outputs == "logits":
        return F.softmax_cross_entropy_backward(F.softmax_cross_entropy_forward(np.array([label]), scores)[1])
    return F.categorical_cross_entropy_backward(F.categorical_cross_entropy_forward(np.array([label]), scores)[1])


@pytest.mark.parametrize("kind", sorted(MODELS))
def test_input_gradient_is_model_backwards_and_weight_gradients_are_left_alone(kind, rng):
    model, x = build(kind, rng, "float64")
    dx = model.backward(_loss_gradient(model, x, 2, OUTPUTS[kind]))[0]
    before = {k: v.copy() for k, v in model.grads.items()}
    s = saliency(trace(model, x), 2, OUTPUTS[kind])
    np.testing.assert_allclose(s.input_gradient, dx, rtol=1e-12, atol=1e-15)
    assert np.abs(dx).max() > 1e-6  # the gradient reached the input
    assert model.grads.keys() == before.keys()
    for k, v in model.grads.items():
        np.testing.assert_array_equal(v, before[k])
    info = json.loads(json.dumps(s.info()))
    assert info["class_index"] == 2 and [row["name"] for row in info["layers"]][0] == "input"


@pytest.mark.parametrize("kind", ["functional", "subclassed"])
def test_input_gradient_is_the_numerical_gradient_of_the_loss_in_float64(kind, rng):
    model, x = build(kind, rng, "float64")
    outputs = OUTPUTS[kind]
    s = saliency(trace(model, x), 1, outputs)

    def loss(v):
        scores = model(v[None])
        if outputs == "logits":
            return F.softmax_cross_entropy(np.array([1]), scores)
        return F.categorical_cross_entropy(np.array([1]), scores)

    assert s.loss == pytest.approx(loss(x), rel=1e-12)
    np.testing.assert_allclose(s.input_gradient, numerical_grad(loss, x), rtol=1e-5, atol=1e-8)


def test_a_merge_passes_its_gradient_to_both_branches_and_a_shared_layer_gets_one_per_call(rng):
    model, x = build("subclassed", rng, "float64")
    s = saliency(trace(model, x), 0)
    np.testing.assert_array_equal(s.gradients["shared"], s.gradients["add"])
    np.testing.assert_array_equal(s.gradients["shared@2"], s.gradients["add"])
    assert "block/re_lu" in s.gradients and s.gradients["block/re_lu"].shape == (7, 6, 3)
    dense = model.head.params["kernel"]  # d loss / d pooled = W @ (p - onehot)
    logits = model(x[None])[0]
    p = np.exp(logits - logits.max())
    p /= p.sum()
    np.testing.assert_allclose(s.gradients["global_average_pooling2d"], dense @ (p - np.eye(4)[0]), rtol=1e-10)


def test_gradients_equal_pytorch_autograd_for_every_layer(rng):
    torch = import_torch()
    nn = torch.nn
    model, x = build("sequential", rng, "float64")
    net = nn.Sequential(nn.Conv2d(2, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.ZeroPad2d((0, 1, 0, 1)),
                        nn.Conv2d(4, 6, 3, stride=2), nn.Tanh(), nn.Flatten(), nn.Linear(24, 7), nn.ReLU(),
                        nn.Linear(7, 5)).double()
    to_torch(model, net)
    t = trace(model, x)
    s = saliency(t, 3)
    xt = torch.tensor(np.moveaxis(x, -1, 0)[None], requires_grad=True)
    kept, h = {}, xt
    for k, module in enumerate(net):
        h = module(h)
        if k in (1, 2, 5, 8, 9):
            h.retain_grad()
            kept[k] = h
    loss = torch.nn.functional.cross_entropy(h, torch.tensor([3]))
    loss.backward()
    assert s.loss == pytest.approx(loss.item(), rel=1e-12)
    np.testing.assert_allclose(t.output, kept[9].detach().numpy()[0], rtol=1e-10)

    def nhwc(tensor):
        return np.moveaxis(tensor.grad.numpy()[0], 0, -1)

    np.testing.assert_allclose(s.input_gradient, nhwc(xt), rtol=1e-9, atol=1e-14)
    np.testing.assert_allclose(s.gradients["conv2d"], nhwc(kept[1]), rtol=1e-9, atol=1e-14)
    np.testing.assert_allclose(s.gradients["max_pooling2d"], nhwc(kept[2]), rtol=1e-9, atol=1e-14)
    np.testing.assert_allclose(s.gradients["conv2d_1"], nhwc(kept[5]), rtol=1e-9, atol=1e-14)
    np.testing.assert_allclose(s.gradients["flatten"], nhwc(kept[5]).reshape(-1), rtol=1e-9, atol=1e-14)
    np.testing.assert_allclose(s.gradients["dense"], kept[8].grad.numpy()[0], rtol=1e-9, atol=1e-14)
    np.testing.assert_allclose(s.gradients["dense_1"], kept[9].grad.numpy()[0], rtol=1e-9, atol=1e-14)


def test_saliency_map_and_gradient_pages(rng):
    model, x = build("channels_first", rng, "float64")
    s = saliency(trace(model, x), 1, "probabilities")
    np.testing.assert_array_equal(s.saliency_map(), np.abs(s.input_gradient).max(axis=0))
    assert s.saliency_map().shape == (10, 9)
    np.testing.assert_array_equal(s.channels("depthwise_conv2d", 4), s.gradients["depthwise_conv2d"][4:])
    summary = s.channel_summary("conv2d")
    np.testing.assert_allclose(summary["mean_abs"], np.abs(s.gradients["conv2d"]).mean(axis=(1, 2)))
    with pytest.raises(ValueError, match="not maps"):
        s.channels("dense")


def test_bad_class_and_outputs_are_refused(rng):
    model, x = build("sequential", rng)
    t = trace(model, x)
    with pytest.raises(ValueError, match=r"\[0, 5\).*Received: class_index=5"):
        saliency(t, 5)
    with pytest.raises(ValueError, match="Received: outputs='softmax'"):
        saliency(t, 0, "softmax")
