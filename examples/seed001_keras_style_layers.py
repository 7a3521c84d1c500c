"""Seed 001: Keras Conv2D shapes, the correlation by hand, Sequential and a subclassed Model.

The note runs TensorFlow's ``Conv2D``; numcnn's ``Conv2D`` has the same arguments and
the same kernel layout ``(kh, kw, in_channels, filters)``, so its shapes are the note's.

Where this script differs from the note:

* the note's images come from ``tf.random.uniform`` / ``tf.random.normal``; here from
  ``np.random.default_rng(0)``, so the random values differ but the shapes and the
  "layer == loop" checks are the note's;
* typos that stop the note's code: ``N, n_H, n_W, n_C 32, ...`` (no ``=``),
  ``np.transopose``, ``c_w`` for ``c_W``, a missing ``)`` in ``np.zeros``,
  ``mddel.add``, ``mode.trainable_variables``;
* ``"W/B: {}".format(W.shape, B.shape)`` printed only W; here both;
* in Code 5-2-2 the note's "manual" numbers differ from its TensorFlow numbers (two
  different runs); here both come from one layer and agree.

Run: python examples/seed001_keras_style_layers.py
"""

import numpy as np

import numcnn
from numcnn.layers import Conv2D

np.set_printoptions(precision=6, suppress=True, linewidth=100)
rng = np.random.default_rng(0)


def heading(title):
    print(f"\n== {title} ==")


heading("Code 5-1-1: shapes of a Conv2D layer")
# Input (N, H, W, C); kernel (f, f, C, filters); bias (filters,); output (N, H-f+1, W-f+1, filters).
N, n_H, n_W, n_C = 1, 28, 28, 3
n_filter, f_size = 10, 3
images = rng.uniform(0, 1, (N, n_H, n_W, n_C)).astype(np.float32)
conv = Conv2D(filters=n_filter, kernel_size=f_size, seed=0)
y = conv(images)
W, B = conv.get_weights()
print(images.shape)
print(W.shape)
print(B.shape)
print(y.shape)

heading("Code 5-1-2: the correlation by hand equals the layer")
# Each output pixel is sum(window * W) + B over a 3x3x3 window (all channels at once).
N, n_H, n_W, n_C = 1, 5, 5, 3
n_filter, f_size = 1, 3
images = rng.uniform(0, 1, (N, n_H, n_W, n_C)).astype(np.float32)
# a random bias (Keras starts at zero) so that the "+ B" of the loop is checked too
conv = Conv2D(filters=n_filter, kernel_size=f_size, bias_initializer="random_normal", seed=1)
y_layer = conv(images)
print("y(numcnn):\n", y_layer.squeeze())
W, B = conv.get_weights()
image, W = images.squeeze(), W.squeeze()
y_man = np.zeros((n_H - f_size + 1, n_W - f_size + 1))
for i in range(n_H - f_size + 1):
    for j in range(n_W - f_size + 1):
        window = image[i:i + f_size, j:j + f_size, :]
        y_man[i, j] = np.sum(window * W) + B[0]  # B[0]: a 1-element array is not a scalar
print("y(manual):\n", y_man)
print("max |numcnn - manual|:", f"{np.abs(y_layer.squeeze() - y_man).max():.1e}")

heading("Code 5-2-1: shapes with several filters")
N, n_H, n_W, n_C = 32, 28, 28, 3
n_filter, k_size = 5, 3
images = rng.uniform(0, 1, (N, n_H, n_W, n_C)).astype(np.float32)
conv = Conv2D(filters=n_filter, kernel_size=k_size, seed=2)
Y = conv(images)
W, B = conv.get_weights()
print("Input Image: {}".format(images.shape))
print("W/B: {} / {}".format(W.shape, B.shape))
print("Output Image: {}".format(Y.shape))

heading("np.transpose: channels to the front, to look at one plane at a time")
# (2, 3, 4) -> axes (2, 0, 1) -> (4, 2, 3): plane c is then images[c] instead of images[:, :, c].
small = rng.integers(0, 10, (2, 3, 4))
moved = np.transpose(small, (2, 0, 1))
print(moved.shape, "same planes:", all(np.array_equal(small[:, :, c], moved[c]) for c in range(4)))

heading("Code 5-2-2: three 4x4 filters, by the layer and by hand")
N, n_H, n_W, n_C = 1, 5, 5, 3
n_filter, k_size = 3, 4
images = rng.uniform(0, 1, (N, n_H, n_W, n_C)).astype(np.float32)
conv = Conv2D(filters=n_filter, kernel_size=k_size, bias_initializer="random_normal", seed=3)
Y = conv(images)
print("Y.shape:", Y.shape)
print("Y(numcnn):\n", np.transpose(Y.squeeze(), (2, 0, 1)))
W, B = conv.get_weights()
image = images.squeeze()
Y_man = np.zeros((n_H - k_size + 1, n_W - k_size + 1, n_filter))
for c in range(n_filter):
    c_W, c_b = W[:, :, :, c], B[c]
    for h in range(n_H - k_size + 1):
        for w in range(n_W - k_size + 1):
            window = image[h:h + k_size, w:w + k_size, :]
            Y_man[h, w, c] = np.sum(window * c_W) + c_b
print("Y(manual):\n", np.transpose(Y_man, (2, 0, 1)))
print("max |numcnn - manual|:", f"{np.abs(Y.squeeze() - Y_man).max():.1e}")

heading("Code 5-4-1: a Sequential of three Conv2D layers")
# Each valid 3x3 conv takes 2 pixels off each axis: 28 -> 26 -> 24 -> 22.
n_neurons = [10, 20, 30]
model = numcnn.Sequential(seed=0)
for n_neuron in n_neurons:
    model.add(Conv2D(filters=n_neuron, kernel_size=3, activation="relu"))
x = rng.standard_normal((32, 28, 28, 3)).astype(np.float32)
predictions = model(x)
print("Input: {}".format(x.shape))
print("Output: {}".format(predictions.shape))
for layer in model.layers:
    W, B = layer.get_weights()
    print("Weights: {}, Biases: {}".format(W.shape, B.shape))
print("============================")
for train_var in model.trainable_variables:
    print("Shape: {}".format(train_var.shape))


heading("Code 5-4-2: a subclassed Model (layers in a list, __call__ as in the note)")


class TestModel(numcnn.Model):
    """The note's model: it overrides ``__call__``; numcnn uses it as ``call``."""

    def __init__(self, n_neurons):
        super().__init__(seed=0)  # the note's `global n_neurons` becomes an argument
        self.conv_layers = [Conv2D(filters=n, kernel_size=3, activation="relu") for n in n_neurons]

    def __call__(self, x):
        print("Input ", x.shape)
        print("\n===== Conv Layers =====\n")
        for conv_layer in self.conv_layers:
            x = conv_layer(x)
            W, B = conv_layer.get_weights()
            print("W/B: {}/{}".format(W.shape, B.shape))
            print("X: {}\n".format(x.shape))
        return x


model = TestModel(n_neurons)
predictions = model(x)
print("Input: {}".format(x.shape))
print("Output: {}".format(predictions.shape))
for layer in model.layers:
    W, B = layer.get_weights()
    print("Weights: {}, Biases: {}".format(W.shape, B.shape))
print("========================")
for train_var in model.trainable_variables:
    print("Shape: {}".format(train_var.shape))


heading("Code 5-4-2, second form: one attribute per layer, call() as in Keras")


class TestModel2(numcnn.Model):
    def __init__(self, n_neurons):
        super().__init__(seed=0)
        self.conv1 = Conv2D(filters=n_neurons[0], kernel_size=3, activation="relu")
        self.conv2 = Conv2D(filters=n_neurons[1], kernel_size=3, activation="relu")
        self.conv3 = Conv2D(filters=n_neurons[2], kernel_size=3, activation="relu")

    def call(self, x):
        return self.conv3(self.conv2(self.conv1(x)))


model2 = TestModel2(n_neurons)
print("Output: {}".format(model2(x).shape))
print("parameters:", model2.count_params())  # 280 + 1820 + 5430
