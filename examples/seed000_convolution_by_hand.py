"""Seed 000: a dense layer against a convolution on a 7x7 image, padding, a blur, max pooling by loops.

The note builds every output pixel by hand with ``np.sum(window * filter) + bias``.
Here each step is one numcnn call, next to the note's loop where the loop is the lesson.

Where this script differs from the note:

* ``np.float`` / ``np.int`` (removed from NumPy) become ``float`` / ``int``;
* the note's dense loop raised ``NameError`` (its cells ran out of order); here it runs;
* the note's random ``cv_filter`` and pooling input ``X`` are typed in as it printed them,
  so the outputs are the note's numbers; other random arrays come from
  ``np.random.default_rng(0)``, never the global RNG.

Run: python examples/seed000_convolution_by_hand.py
"""

import numpy as np

from numcnn import functional as F
from numcnn.layers import Conv2D, Dense

np.set_printoptions(precision=8, suppress=True, linewidth=100)
rng = np.random.default_rng(0)


def heading(title):
    print(f"\n== {title} ==")


img = np.arange(49, dtype=float).reshape(7, 7)

heading("dense: one 7x7 filter per output pixel")
# A dense layer from a 7x7 image to a 7x7 output needs a full 7x7 filter for every
# output pixel: 7*7*7*7 weights + 7*7 biases.
fc_filter = rng.standard_normal((7, 7, 7, 7))
fc_bias = rng.standard_normal((7, 7))
fc_out = np.zeros_like(img)
for i in range(7):
    for j in range(7):
        fc_out[i, j] = np.sum(img * fc_filter[i, j]) + fc_bias[i, j]
dense = Dense(49, input_shape=(49,), dtype="float64")
# the loop's filter for output pixel (i, j) is column i*7+j of the Dense kernel
dense.set_weights([fc_filter.reshape(49, 49).T, fc_bias.reshape(49)])
print("fc_out.shape:", fc_out.shape)
print("Dense(49) equals the loop:", np.allclose(dense(img.reshape(1, 49)).reshape(7, 7), fc_out))
print("dense parameters:", dense.count_params())

heading("convolution: one shared 3x3 filter")
# One 3x3 filter slides over the image and is reused at every position: 3*3 + 1 parameters.
conv = Conv2D(1, 3, input_shape=(7, 7, 1))
print("conv parameters:", conv.count_params())

heading("no padding: 7x7 image, 3x3 filter -> 5x5")
# out[i, j] = sum(img[i:i+3, j:j+3] * F) + b; (7 - 3) // 1 + 1 = 5 positions per axis.
# The note's cv_filter = np.random.randn(3, 3), as it printed it (8 decimals).
cv_filter = np.array([[2.36566373, 1.93692724, 0.01336884],
                      [0.89723602, 0.37494582, 0.9497417],
                      [0.20884162, -0.60924503, -0.00647824]])
cv_bias = 0.1
x = img.reshape(1, 7, 7, 1)  # numcnn is channels-last: (N, H, W, C)
kernel = cv_filter.reshape(3, 3, 1, 1)  # Keras layout (kh, kw, in, out)
print("output size:", F.conv_output_size(7, 3))
cv_nopadding_out = F.conv2d(x, kernel, np.array([cv_bias]), padding="valid")[0, :, :, 0]
print("cv_nopadding_out:")
print(cv_nopadding_out)
loops = F.conv2d_reference(x, kernel, np.array([cv_bias]))[0, :, :, 0]
print("same as the loops (conv2d_reference):", np.allclose(cv_nopadding_out, loops, rtol=1e-12))

heading("padding 1: 7x7 image, 3x3 filter -> 7x7")
# The note copies img into a 9x9 array of zeros; padding=1 does that.
# (7 + 2*1 - 3) // 1 + 1 = 7: padding keeps the size and lets the edge pixels count.
print("output size:", F.conv_output_size(7, 3, 1, 1, 1))
cv_padding_out = F.conv2d(x, kernel, np.array([cv_bias]), padding=1)[0, :, :, 0]
print("cv_padding_out:")
print(cv_padding_out)
print("its inner 5x5 is the unpadded output:", np.allclose(cv_padding_out[1:-1, 1:-1], cv_nopadding_out))

heading("blur: the 3x3 mean filter")
# Every output pixel is the mean of its 3x3 neighbourhood: a filter of 1/9 everywhere.
fsize = 3
blur_kernel = np.full((fsize, fsize, 1, 1), 1 / (fsize * fsize))  # `filter` in the note shadows a builtin
blurred = F.conv2d(np.arange(49).reshape(1, 7, 7, 1), blur_kernel, np.array([0.0]))
print("blur:")
print(np.round(blurred[0, :, :, 0], 8))  # float32 for integer input: round away 1e-6 noise

heading("max pooling by loops: 3 channels of 6x6 -> 3x3")
# The note's X = np.random.randint(0, 256, (3, 6, 6)), as it printed it.
X = np.array([
    [[219, 239, 206, 154, 187, 72], [133, 90, 230, 239, 37, 151], [21, 196, 37, 75, 85, 191],
     [169, 211, 153, 241, 97, 172], [141, 109, 202, 96, 98, 184], [125, 208, 205, 217, 118, 242]],
    [[102, 212, 232, 104, 101, 130], [89, 222, 180, 169, 99, 245], [188, 20, 250, 70, 207, 227],
     [247, 174, 38, 31, 220, 159], [2, 184, 120, 145, 54, 118], [122, 112, 174, 234, 142, 71]],
    [[50, 70, 232, 23, 140, 103], [73, 105, 11, 143, 184, 17], [253, 217, 248, 115, 39, 60],
     [139, 47, 246, 250, 219, 117], [168, 126, 109, 19, 143, 53], [163, 208, 222, 194, 135, 56]],
])
print("window of output (0, 1, 2):", X[0, 2:4, 4:6].tolist())
output = np.zeros((3, 3, 3), int)
for i in range(output.shape[0]):
    for j in range(output.shape[1]):
        for k in range(output.shape[2]):
            output[i, j, k] = np.max(X[i, 2 * j:2 * (j + 1), 2 * k:2 * (k + 1)])
print("pooled by loops:")
print(output)

heading("max pooling with numcnn")
# The note's planes are channels-first (C, H, W): add a batch axis and say so.
pooled = F.max_pool2d(X[None], pool_size=2, data_format="channels_first")[0]
print("max_pool2d:", pooled.shape, "equals the loops:", np.array_equal(pooled, output))
# pool2d_reference is numcnn's own loop (channels-last, float64)
reference = F.pool2d_reference(X.transpose(1, 2, 0)[None], (2, 2), (2, 2))[0].transpose(2, 0, 1)
print("pool2d_reference equals the loops:", np.array_equal(reference, output))
