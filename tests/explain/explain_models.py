"""Tiny models of every kind numcnn holds, for the explain tests: a Sequential, a subclassed model with a
nested model and a layer called twice, a functional DAG with a branch and an Add, a channels-first stack."""

from __future__ import annotations

import numpy as np

from numcnn import Input, Model, Sequential
from numcnn.layers import (
    Add,
    AveragePooling2D,
    BatchNormalization,
    Conv2D,
    Dense,
    DepthwiseConv2D,
    Flatten,
    GlobalAveragePooling2D,
    GlobalMaxPooling2D,
    MaxPooling2D,
    ReLU,
    Softmax,
)


def sequential(dtype="float32", seed=0):
    """conv 3x3 same relu - max pool - conv 3x3 stride 2 same tanh - flatten - dense relu - dense (logits)."""
    return Sequential([
        Conv2D(4, 3, padding="same", activation="relu", input_shape=(8, 8, 2), dtype=dtype),
        MaxPooling2D(2, dtype=dtype),
        Conv2D(6, 3, strides=2, padding="same", activation="tanh", dtype=dtype),
        Flatten(dtype=dtype),
        Dense(7, activation="relu", dtype=dtype),
        Dense(5, dtype=dtype),
    ], seed=seed)


class Twice(Model):
    """A stem, a nested Sequential block, one 1x1 conv called on both paths, their sum, global pooling, a head."""

    def __init__(self, dtype="float32"):
        super().__init__(seed=1)
        self.stem = Conv2D(3, 3, padding="same", activation="relu", dtype=dtype)
        self.block = Sequential([Conv2D(3, 3, padding="same", dtype=dtype), ReLU(dtype=dtype)], name="block")
        self.shared = Conv2D(3, 1, name="shared", dtype=dtype)
        self.add = Add(dtype=dtype)
        self.pool = GlobalAveragePooling2D(dtype=dtype)
        self.head = Dense(4, dtype=dtype)

    def call(self, x):
        h = self.stem(x)
        h = self.add([self.shared(h), self.shared(self.block(h))])
        return self.head(self.pool(h))


def functional(dtype="float32", seed=2):
    """Two branches from the input (a grouped conv; a depthwise conv and batch norm), their sum, average
    pooling with same padding, flatten, a softmax Dense (probabilities)."""
    x = Input((9, 9, 4), dtype=dtype)
    a = Conv2D(4, 3, padding="same", groups=2, activation="relu", dtype=dtype, name="grouped")(x)
    b = DepthwiseConv2D(3, padding="same", depth_multiplier=1, dtype=dtype, name="depthwise")(x)
    b = BatchNormalization(dtype=dtype, name="bn")(b)
    s = Add(dtype=dtype, name="sum")([a, b])
    p = AveragePooling2D(2, padding="same", dtype=dtype, name="avg")(s)
    f = Flatten(dtype=dtype)(p)
    out = Dense(3, activation="softmax", dtype=dtype, name="probs")(f)
    model = Model(x, out, seed=seed)
    bn = model.get_layer("bn")
    rng = np.random.default_rng(seed)
    bn.state["moving_mean"][...] = rng.normal(0, 0.3, 4)
    bn.state["moving_variance"][...] = rng.uniform(0.5, 2, 4)
    bn.params["gamma"][...] = rng.uniform(0.5, 1.5, 4)
    bn.params["beta"][...] = rng.normal(0, 0.2, 4)
    return model


def channels_first(dtype="float32", seed=3):
    """A channels-first stack: dilated conv with explicit padding, depthwise conv stride 2 with a multiplier,
    global max pooling, a Dense, a Softmax layer."""
    return Sequential([
        Conv2D(3, 3, padding=((1, 2), (2, 1)), dilation_rate=2, data_format="channels_first", activation="relu",
               input_shape=(2, 10, 9), dtype=dtype),
        DepthwiseConv2D(3, strides=2, depth_multiplier=2, data_format="channels_first", dtype=dtype),
        GlobalMaxPooling2D(data_format="channels_first", dtype=dtype),
        Dense(4, dtype=dtype),
        Softmax(dtype=dtype),
    ], seed=seed)


MODELS = {"sequential": sequential, "subclassed": Twice, "functional": functional, "channels_first": channels_first}
SHAPES = {"sequential": (8, 8, 2), "subclassed": (7, 6, 2), "functional": (9, 9, 4), "channels_first": (2, 10, 9)}


def build(kind, rng, dtype="float32"):
    """``(model, sample)``: the tiny model ``kind`` and one random sample for it (built by a first call)."""
    model = MODELS[kind](dtype=dtype)
    sample = rng.standard_normal(SHAPES[kind]).astype(dtype)
    model(sample[None])
    return model, sample
