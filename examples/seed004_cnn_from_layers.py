"""Seed 004: a CNN built from ConvLayer, PoolingLayer and dense layers, trained by backpropagation on digits.

The note writes each layer as a class with ``forward`` and ``backward`` (conv through
im2col, max pooling through im2col and the index of each maximum, a ReLU middle layer,
a softmax output layer whose backward is ``y - t``). numcnn's layers have the same two
methods; this script wires them together by hand, as the note does, and trains the
network on the 8x8 digits for a few seconds.

The note stops at the layer classes. The network and the training settings here are
those of the chapter the note summarises (sections 7.3-7.5, as found in public copies
of its code): conv 10@3x3, stride 1, pad 1 -> max pool 2 -> dense 100 (ReLU) -> dense 10
(softmax), weights ``wb_width * randn`` with ``wb_width = 0.1``, AdaGrad with
``eta = 0.01``, batches of 8. It trained 50 epochs; here 10, about two seconds.

Where this script differs from the note:

* ``self.w = wb_width + np.random.randn(...)`` adds 0.1 to every weight; the intent is
  ``wb_width * randn`` (a normal with standard deviation 0.1): ``RandomNormal(stddev=0.1)``;
* ``self.y_h = (x_h - fit_h) // stride + 1`` forgets the padding (``y_w`` has it):
  with pad 1 the 8x8 input gives 8x8, not 6x6; numcnn uses ``(H + 2P - FH) // S + 1``
  for both axes (``F.conv_output_size``);
* ``__init__`` takes no ``x_w`` but stores it, and ``forward`` unpacks 7 names from the
  8 stored parameters; ``n_fit`` / ``n_flt``, ``grade_y``, ``np.where(self, u <= 0, ...)``
  (for ``self.u``), ``forwaed``, ``np.zeos``, ``self.X`` (for ``self.x``) are typos;
* the pooling backward transposes ``grad_cols`` with six axes without first reshaping it
  to ``(pool, pool, n_bt, y_h, y_w, y_ch)``; numcnn's ``F.max_pool2d_backward`` does the
  same routing (each window's gradient to its maximum) in one call;
* numcnn is channels-last: images are ``(N, H, W, C)``, not the note's ``(N, C, H, W)``;
* the loss averages over the batch, so its gradient is ``(y - t) / N`` where the note's is
  ``y - t``; AdaGrad divides by the root of the summed squared gradients, so the scale
  cancels (up to epsilon) and the steps are the same.

Run: python examples/seed004_cnn_from_layers.py
"""

import time

import numpy as np

import numcnn
from numcnn import functional as F
from numcnn.data import load_digits
from numcnn.initializers import RandomNormal
from numcnn.layers import Conv2D, Dense, Flatten, MaxPooling2D
from numcnn.losses import SparseCategoricalCrossentropy
from numcnn.models.zoo import simple_convnet
from numcnn.optimizers import Adagrad, Adam

rng = np.random.default_rng(0)
wb_width = 0.1
eta = 0.01
epochs = 10
batch_size = 8


def heading(title):
    print(f"\n== {title} ==")


heading("Data: scikit-learn's 8x8 digits")
data = load_digits()
print("train:", data.x_train.shape, "test:", data.x_test.shape)
img_h, img_w, img_ch = data.input_shape
print(f"images: {img_h}x{img_w}, {img_ch} channel, pixels in [0, 1]")

heading("Layers")
# ConvLayer(x_ch=1, 8, 8, n_flt=10, 3, 3, stride=1, pad=1): ReLU is part of the note's conv layer.
init = RandomNormal(stddev=wb_width)
cl_1 = Conv2D(10, 3, strides=1, padding=1, activation="relu", kernel_initializer=init, bias_initializer=init,
              name="cl_1", seed=1)
# PoolingLayer(pool=2, pad=0): the note's y_h = ceil(x_h / pool); 8 is even, so valid pooling gives 4.
pl_1 = MaxPooling2D(2, name="pl_1")
flatten = Flatten(name="flatten")  # the note's pl_1.y.reshape(n_bt, -1)
ml_1 = Dense(100, activation="relu", kernel_initializer=init, bias_initializer=init, name="ml_1", seed=2)
# OutputLayer: the softmax goes into the loss, which is where its y - t gradient comes from.
ol_1 = Dense(10, kernel_initializer=init, bias_initializer=init, name="ol_1", seed=3)
layers = [cl_1, pl_1, flatten, ml_1, ol_1]

y_h = F.conv_output_size(img_h, 3, 1, 1, 1)
print(f"conv output height (8 + 2*1 - 3) // 1 + 1 = {y_h} "
      f"(the note's y_h, without the padding: {F.conv_output_size(img_h, 3, 1)})")
x = data.x_train[:batch_size]
for layer in layers:
    x = layer.forward(x)
    print(f"{layer.name}: {x.shape}")
print("n_fc_in:", pl_1.output_shape[1] * pl_1.output_shape[2] * pl_1.output_shape[3])


def forward_propagation(x, training):
    for layer in layers:
        x = layer.forward(x, training=training)
    return x


def backpropagation(grad_y):
    for layer in reversed(layers):
        grad_y = layer.backward(grad_y)


heading("The output layer's backward is y - t")
logits = forward_propagation(data.x_train[:batch_size], training=True)
loss, cache = F.softmax_cross_entropy_forward(data.y_train[:batch_size], logits)
delta = F.softmax_cross_entropy_backward(cache)
t = np.eye(10)[data.y_train[:batch_size]]
print("batch size * dloss/dlogits == softmax(u) - t:",
      np.allclose(batch_size * delta, F.softmax(logits) - t, atol=1e-6))

heading("Training: forward, backward, AdaGrad update")
# One dict of every parameter, keyed "layer/kernel", so that one optimizer updates them all.
params = {f"{layer.name}/{name}": value for layer in layers for name, value in layer.params.items()}
optimizer = Adagrad(eta)
start = time.perf_counter()
n_train = len(data.y_train)
for epoch in range(epochs):
    order = rng.permutation(n_train)
    losses = []
    for j in range(n_train // batch_size):
        index = order[j * batch_size:(j + 1) * batch_size]
        logits = forward_propagation(data.x_train[index], training=True)
        loss, cache = F.softmax_cross_entropy_forward(data.y_train[index], logits)
        backpropagation(F.softmax_cross_entropy_backward(cache))
        grads = {f"{layer.name}/{name}": value for layer in layers for name, value in layer.grads.items()}
        optimizer.apply(grads, params)
        losses.append(loss)
    print(f"epoch {epoch + 1}/{epochs}: train loss {np.mean(losses):.4f}")
print(f"training took {time.perf_counter() - start:.1f} s")

heading("Accuracy")
for split, x_split, y_split in (("train", data.x_train, data.y_train), ("test", data.x_test, data.y_test)):
    predicted = np.argmax(forward_propagation(x_split, training=False), axis=1)
    print(f"{split} accuracy: {np.mean(predicted == y_split):.4f}")

heading("The same layers as a numcnn.Sequential")
# A Sequential is these layers in order; its fit() runs the loop above (forward, loss,
# backward, optimizer.apply) and evaluate() the accuracy.
model = numcnn.Sequential(layers, name="seed004")
model.compile(Adagrad(eta), SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
model.summary()
test_loss, test_accuracy = model.evaluate(data.x_test, data.y_test)
print(f"Sequential test accuracy: {test_accuracy:.4f}")

heading("A ready-made model from numcnn.models.zoo, trained with fit")
# `numcnn train`'s default model, DLFS's SimpleConvNet: conv 30@5x5 ("same" on 8x8) -> pool 2
# -> dense 100 -> dense 10; Adam and 3 epochs keep it to about a second.
zoo_model = simple_convnet(data.input_shape, classes=10, seed=0)
zoo_model.compile(Adam(0.003), SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
zoo_model.fit(data.x_train, data.y_train, batch_size=32, epochs=3, seed=0, verbose=0)
print(f"simple_convnet parameters: {zoo_model.count_params()}")
print(f"simple_convnet test accuracy: {zoo_model.evaluate(data.x_test, data.y_test)[1]:.4f}")
