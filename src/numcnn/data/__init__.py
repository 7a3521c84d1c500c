"""Data sets (embedded digits, MNIST / Fashion-MNIST IDX files, folders of your images), batching and augmentation."""

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
from .folders import FolderError, ImageFiles, image_dataset_from_directory, load_folder_dataset
from .idx import read_idx, read_idx_bytes
from .preprocessing import Preprocessing

__all__ = [
    "DATASET_NAMES", "DataError", "Dataset", "FolderError", "ImageFiles", "Preprocessing", "RandomShift",
    "batch_indices", "dataset_files", "download", "image_dataset_from_directory", "load_dataset", "load_digits",
    "load_folder_dataset", "load_idx_dataset", "random_shift", "read_idx", "read_idx_bytes", "verify_file",
]
