"""Data: Fashion-MNIST from IDX files, the seeds' synthetic data, and a fast
in-memory batch iterator."""

from .batches import BatchIterator, random_split_indices
from .fashion_mnist import (
    CLASSES,
    FashionMNIST,
    cache_dir,
    download_fashion_mnist,
    find_fashion_mnist,
    load_fashion_mnist,
    search_dirs,
    to_float_images,
)
from .idx import encode_idx, parse_idx, read_idx
from .splits import check_split_settings, validation_split
from .synthetic import synthetic_linear

__all__ = [
    "BatchIterator",
    "random_split_indices",
    "CLASSES",
    "FashionMNIST",
    "cache_dir",
    "download_fashion_mnist",
    "find_fashion_mnist",
    "load_fashion_mnist",
    "search_dirs",
    "to_float_images",
    "encode_idx",
    "parse_idx",
    "read_idx",
    "synthetic_linear",
    "check_split_settings",
    "validation_split",
]
