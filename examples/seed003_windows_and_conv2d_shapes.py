"""Seed 003: sliding a 3x3 window over a 5x5 image, then Conv2D on gray, multi-kernel, RGB and batched input.

The note prints every 3x3 window of a 5x5 image, then checks TensorFlow's ``Conv2D``
against its own window loop for four cases. numcnn's ``Conv2D`` takes the same
arguments; its loop is ``F.conv2d_reference`` (the note's loop, for any batch and
channel count).

Where this script differs from the note:

* the note's random 5x5 ``X`` is typed in as it printed it; the other inputs come from
  ``np.random.default_rng(0)`` (the note used ``tf.random.uniform``), so shapes match
  the note and values are checked layer against loop;
* ``kerenl_size`` (a typo) only worked because ``kernel_size`` was still 3 from an
  earlier cell; the comment ``5 - 3 + 1 = 4`` should read 3;
* ``output_np[i, j] = np.sum(...) + B`` stores a 1-element array into a scalar slot
  (deprecated in NumPy); here ``B[0]``;
* the note's window labels ``W : 03,03`` run the numbers together; here ``rows 0:3, cols 0:3``.

Run: python examples/seed003_windows_and_conv2d_shapes.py
"""

import numpy as np

from numcnn import functional as F
from numcnn.layers import Conv2D

np.set_printoptions(precision=6, suppress=True, linewidth=100)
rng = np.random.default_rng(0)


def heading(title):
    print(f"\n== {title} ==")


heading("Windows of a 5x5 image")
# A 3x3 window takes 5 - 3 + 1 = 3 positions per axis: 9 windows.
height, width = 5, 5
X = np.array([[0, 6, 8, 0, 9],
              [5, 6, 2, 2, 7],
              [1, 1, 3, 0, 7],
              [3, 5, 1, 1, 5],
              [6, 0, 7, 3, 8]])
print(X.shape)
window_height, window_width = 3, 3
for i in range(height - window_height + 1):
    for j in range(width - window_width + 1):
        current_window = X[i:i + window_height, j:j + window_width]
        print(f"rows {i}:{i + window_height}, cols {j}:{j + window_width}\n{current_window}")
# im2col lays the same nine windows out as the rows of one matrix
col = F.im2col(X.reshape(1, 1, 5, 5), 3, 3)
print("im2col rows are these windows:", col.shape,
      all(np.array_equal(col[3 * i + j].reshape(3, 3), X[i:i + 3, j:j + 3]) for i in range(3) for j in range(3)))


def conv_case(title, batch_size, img_channel, filters, kernel_size=3, img_height=5, img_width=5):
    """One cell of the note: the layer's shapes, and the layer against the window loop."""
    heading(title)
    X = rng.uniform(0, 10, (batch_size, img_height, img_width, img_channel)).astype(np.float32)
    print("input:", X.shape)
    conv_layer = Conv2D(filters=filters, kernel_size=kernel_size, bias_initializer="random_normal", seed=0)
    output = conv_layer(X)
    W, B = conv_layer.get_weights()
    print("W, B:", W.shape, B.shape)
    print("output:", output.shape)  # (N, img - kernel + 1, img - kernel + 1, filters)
    loops = F.conv2d_reference(X, W, B)  # numcnn's window loop, float64
    print("loop output, first image:", loops[0].squeeze().shape)
    print("layer == window loop:", np.allclose(output, loops, rtol=1e-5, atol=1e-4))
    return X, W, B, output


X, W, B, output = conv_case("Gray 5x5 image, one 3x3 kernel", batch_size=1, img_channel=1, filters=1)
heading("The same gray image, by the note's loop written out")
# out[i, j] = sum(window * W) + B, one window at a time.
input_np, W_np = X.squeeze(), W.squeeze()
kernel_size = 3
output_np = np.zeros((5 - kernel_size + 1, 5 - kernel_size + 1))
for i in range(5 - kernel_size + 1):  # 5 - 3 + 1 = 3
    for j in range(5 - kernel_size + 1):
        current_window = input_np[i:i + kernel_size, j:j + kernel_size]
        output_np[i, j] = np.sum(current_window * W_np) + B[0]
print("output_np:", output_np.shape, "equals the layer:", np.allclose(output_np, output.squeeze(), rtol=1e-5))

# One kernel gives one output map: 7 kernels give 7.
conv_case("Gray image, 7 kernels", batch_size=1, img_channel=1, filters=7)
# An RGB image needs 3x3x3 kernels: all channels add into one number per position.
conv_case("RGB image, one kernel", batch_size=1, img_channel=3, filters=1)
conv_case("RGB image, 10 kernels", batch_size=1, img_channel=3, filters=10)
# The batch axis just rides along: the weights do not depend on it.
conv_case("A batch of 10 RGB images, 10 kernels", batch_size=10, img_channel=3, filters=10)
