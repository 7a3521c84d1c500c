"""Batches too large for memory: a clear error that names the layer and the way out, or chunks."""

import numpy as np
import pytest
from numpy.testing import assert_array_equal

from numcnn import Model, Sequential
from numcnn.utils.validation import ArraySizeError
from numcnn.layers import Add, Conv2D, Dense, Flatten, MaxPooling2D

HUGE = 2**20  # a (HUGE, HUGE) float32 output is 4 TiB: NumPy refuses it at once, nothing is touched


def wide():
    return Sequential([Dense(HUGE, use_bias=False, input_shape=(1,))], seed=0)


def test_a_batch_too_large_for_memory_names_the_layer_and_predict():
    model = wide()
    with pytest.raises(ArraySizeError, match=r"Layer 'dense' \(Dense\) needs more memory than this machine has .*"
                                             r"split the batch, e\.g\. model\.predict\(x, batch_size=\.\.\.\).*"
                                             r"Received: inputs with shape \(1048576, 1\)"):
        model(np.zeros((HUGE, 1), dtype=np.float32))


def test_the_error_is_a_memory_error_raised_once_not_wrapped_per_layer():
    class Twice(Model):
        def __init__(self):
            super().__init__(seed=0)
            self.inner = wide()
            self.add = Add()

        def call(self, x):
            return self.add([self.inner(x), self.inner(x)])

    with pytest.raises(MemoryError) as caught:  # ArraySizeError is both a MemoryError and a ValueError
        Twice()(np.zeros((HUGE, 1), dtype=np.float32))
    assert "Layer 'dense' (Dense)" in str(caught.value)  # the innermost layer, not the model around it


def test_predict_refuses_outputs_that_cannot_fit_before_computing_them():
    model = wide()
    x = np.zeros((HUGE, 1), dtype=np.float32)
    with pytest.raises(ArraySizeError, match=r"predict on 1048576 samples needs more memory than this machine has.*"
                                             r"predict fewer samples per call.*Received: x with shape \(1048576, 1\)"):
        model.predict(x, batch_size=2)


def test_predict_reads_a_memory_mapped_input_in_chunks(tmp_path, rng):
    model = Sequential([Conv2D(3, 3, input_shape=(8, 8, 1)), MaxPooling2D(2), Flatten(), Dense(4)], seed=0)
    data = rng.standard_normal((103, 8, 8, 1)).astype(np.float32)
    mapped = np.lib.format.open_memmap(tmp_path / "x.npy", mode="w+", dtype=np.float32, shape=data.shape)
    mapped[...] = data
    mapped.flush()
    result = model.predict(np.load(tmp_path / "x.npy", mmap_mode="r"), batch_size=10)
    assert result.shape == (103, 4) and type(result) is np.ndarray
    assert_array_equal(result, np.concatenate([model(data[i:i + 10]) for i in range(0, 103, 10)]))
