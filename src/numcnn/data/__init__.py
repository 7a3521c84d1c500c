"""Data sets (embedded digits, MNIST / Fashion-MNIST IDX files), batching and augmentation."""

from .batching import RandomShift, batch_indices, random_shift
from .datasets import (
    DATASET_NAMES,
    DataError,
    Dataset,
    dataset_files,
    download,
    load_dataset,
    load_digits,
    load_idx_dataset,
    verify_file,
)
from .idx import read_idx, read_idx_bytes

__all__ = [
    "DATASET_NAMES", "DataError", "Dataset", "RandomShift", "batch_indices", "dataset_files", "download",
    "load_dataset", "load_digits", "load_idx_dataset", "random_shift", "read_idx", "read_idx_bytes", "verify_file",
]
