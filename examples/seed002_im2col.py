"""Seed 002: convolution as im2col + one matrix multiply, col2im, and max pooling forward and backward.

The note follows Deep Learning from Scratch (``common/util.py``): NCHW images, filters
``(FN, C, FH, FW)``. ``numcnn.functional.im2col`` / ``col2im`` are exactly the book's
functions; ``F.conv2d`` and the pooling ops take ``data_format="channels_first"`` for
NCHW input and a Keras-layout kernel ``(FH, FW, C, FN)``.

Where this script differs from the note:

* no ``sys.path.append(os.pardir)`` / ``from common.layers import *``: everything is
  imported from numcnn;
* the note's ``MyPooling`` computes ``out_h = 1 + (H - pool_h) / stride`` and forgets
  ``2 * pad`` although it passes ``pad`` to im2col; numcnn's pooling uses the one
  output-size formula ``(H + 2P - FH) // S + 1`` (``F.conv_output_size``);
* the cell "2 images, 2 channels, 3 filters" drops the bias ``+ b`` of the cells before it;
  here it is left out too (and said so), so the numbers are what that cell computed;
* ``my_im2col(np.random.randn(1, 3, 448, 640), 5, 5)`` allocates a 170 MB matrix to print
  its shape; here the shape comes from ``F.conv_output_size``.

Run: python examples/seed002_im2col.py
"""

import numpy as np

from numcnn import functional as F

np.set_printoptions(precision=8, suppress=True, linewidth=100)
rng = np.random.default_rng(0)


def heading(title):
    print(f"\n== {title} ==")


def dlfs_to_keras(W):
    """A DLFS filter bank (FN, C, FH, FW) in numcnn's (Keras) layout (FH, FW, C, FN)."""
    return W.transpose(2, 3, 1, 0)


heading("Convolution test: 4x4 image, 2x2 filter of ones, bias 3")
image = np.arange(16).reshape(1, 1, 4, 4)
W = np.ones((1, 1, 2, 2))
b = np.full((1,), 3.0)
out = F.conv2d(image, dlfs_to_keras(W), b, data_format="channels_first")
print(out.shape)
print(out)

heading("im2col shapes")
# One row per output position (N * OH * OW), one column per filter tap (C * FH * FW).
x1 = rng.random((1, 3, 7, 7))
print("x1 (1, 3, 7, 7), 5x5:", F.im2col(x1, 5, 5).shape)  # 3x3 positions, 3*5*5 taps
x2 = rng.random((10, 3, 7, 7))
print("x2 (10, 3, 7, 7), 5x5:", F.im2col(x2, 5, 5).shape)
x3 = rng.random((2, 4, 5, 5))
print("x3 (2, 4, 5, 5), 2x2:", F.im2col(x3, 2, 2).shape)

heading("np.pad: what pad=1 does before im2col")
input_data = np.arange(9).reshape(1, 1, 3, 3)
print(np.pad(input_data, [(0, 0), (0, 0), (1, 1), (1, 1)], "constant"))
print("im2col with pad=1:", F.im2col(input_data, 2, 2, pad=1).shape)

heading("One channel: im2col, then col @ W + b")
col = F.im2col(np.arange(9).reshape(1, 1, 3, 3), 2, 2)
print(col.shape)
print(col)
col_W = np.ones((1, 1, 2, 2)).reshape(1, -1).T
print(col_W.shape)
out = (col @ col_W + 3).reshape(1, 2, 2, -1).transpose(0, 3, 1, 2)
print(out)

heading("Two channels")
input_data = np.arange(18).reshape(1, 2, 3, 3)
col = F.im2col(input_data, 2, 2)
print(col.shape)
print(col)
col_W = np.ones((1, 2, 2, 2)).reshape(1, -1).T
print(col_W.shape)
print((col @ col_W + 3).reshape(1, 2, 2, -1).transpose(0, 3, 1, 2))

heading("One image, two channels, three filters")
W = np.ones((3, 2, 2, 2))
col_W = W.reshape(3, -1).T
out = col @ col_W + 3
print(col.shape)
print(col_W.shape)
print(out.shape)
out = out.reshape(1, 2, 2, -1).transpose(0, 3, 1, 2)
print(out.shape)
print(out)
same = F.conv2d(input_data, dlfs_to_keras(W), np.full(3, 3.0), data_format="channels_first")
print("F.conv2d gives the same:", np.array_equal(same, out))

heading("Two images, two channels, three filters (no bias, as in the note)")
input_data = np.arange(36).reshape(2, 2, 3, 3)
col = F.im2col(input_data, 2, 2)
print(col)
out = (col @ W.reshape(3, -1).T).reshape(2, 2, 2, -1).transpose(0, 3, 1, 2)
print(out.shape)
print("image 0, filter 0:", out[0, 0].tolist(), " image 1, filter 0:", out[1, 0].tolist())
same = F.conv2d(input_data, dlfs_to_keras(W), data_format="channels_first")
print("F.conv2d gives the same:", np.array_equal(same, out))

heading("The windows of a 4x4 image: one im2col row per 2x2 window")
# The note's (1, 1, 3, 3, 2, 2) array of windows, flattened: window (y, x) is row 3*y + x.
print(F.im2col(np.arange(16).reshape(1, 1, 4, 4), 2, 2))

heading("A 448x640 RGB image with a 5x5 filter")
out_h, out_w = F.conv_output_size(448, 5), F.conv_output_size(640, 5)
print("im2col shape:", (out_h * out_w, 3 * 5 * 5))

heading("Convolution test: 3x3 image, then 4x4, then 3x3 with pad=1")
kernel, bias = np.ones((2, 2, 1, 1)), np.full((1,), 3.0)
print(F.conv2d(np.arange(9).reshape(1, 1, 3, 3), kernel, bias, data_format="channels_first"))
print(F.conv2d(np.arange(16).reshape(1, 1, 4, 4), kernel, bias, data_format="channels_first"))
# (3 + 2*1 - 2) // 1 + 1 = 4
print(F.conv2d(np.arange(9).reshape(1, 1, 3, 3), kernel, bias, padding=1, data_format="channels_first"))

heading("col2im(im2col(x)) adds the overlaps: it is not an inverse")
# Every pixel comes back multiplied by the number of windows that saw it; that sum
# is what the backward pass needs (the gradient of a pixel adds over its windows).
x1 = np.arange(16).reshape(1, 1, 4, 4)
print(x1)
x2 = F.col2im(F.im2col(x1, 2, 2), x1.shape, 2, 2)
print(x2)
counts = F.col2im(F.im2col(np.ones(x1.shape), 2, 2), x1.shape, 2, 2)
print("windows per pixel:", counts[0, 0].tolist())
print("x2 / counts == x1:", np.array_equal(x2 / counts, x1))

heading("Max pooling by im2col: one channel")
# Each row of im2col (pool 2, stride 2) is one window; the max of the row is the output.
x = np.array([[[[7, 11, 13, 15],
                [3, 4, 2, 3],
                [1, 2, 15, 9],
                [1, 8, 3, 10]]]])
col = F.im2col(x, 2, 2, stride=2).reshape(-1, 2 * 2)
print("col", col)
arg_max = np.argmax(col, axis=1)
print("arg_max", arg_max)
print("out", np.max(col, axis=1))
y, cache = F.max_pool2d_forward(x, 2, 2, data_format="channels_first")
print("max_pool2d_forward:", y)

heading("Max pooling backward: the gradient goes to the max of each window")
dout = np.array([[[[1, 2],
                   [3, 4]]]])
dmax = np.zeros((dout.size, 2 * 2))
dmax[np.arange(arg_max.size), arg_max] = dout.transpose(0, 2, 3, 1).flatten()
print("dmax", dmax)
print("col2im(dmax):", F.col2im(dmax, x.shape, 2, 2, stride=2))
print("max_pool2d_backward:", F.max_pool2d_backward(dout.astype(float), cache))

heading("Max pooling, two channels: forward")
x = np.array([[[[7, 11, 13, 15],
                [3, 4, 2, 3],
                [1, 2, 15, 9],
                [1, 8, 3, 10]],
               [[5, 8, 6, 7],
                [10, 4, 11, 13],
                [8, 3, 10, 4],
                [1, 2, 5, 15]]]])
col = F.im2col(x, 2, 2, stride=2)
print("col", col)
col = col.reshape(-1, 2 * 2)  # rows alternate channels: window 0 of channel 0, of channel 1, ...
print("col", col)
arg_max = np.argmax(col, axis=1)
print("arg_max", arg_max)
print("out", np.max(col, axis=1))
y, cache = F.max_pool2d_forward(x, 2, 2, data_format="channels_first")
print(y.shape)
print(y)

heading("Max pooling, two channels: backward")
dout = np.array([[[[1, 1],
                   [1, 1]],
                  [[2, 2],
                   [2, 2]]]], dtype=float)
dx = F.max_pool2d_backward(dout, cache)
print(dx.shape)
print(dx)
