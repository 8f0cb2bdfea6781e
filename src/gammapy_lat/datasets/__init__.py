"""LAT datasets for Gammapy's `~gammapy.modeling.Fit` and estimators.

`UnbinnedLATDataset` (made by `UnbinnedLATDatasetMaker`) holds LAT events with their unbinned
likelihood (gtlike ``UNBINNED``); it is registered in Gammapy's ``DATASET_REGISTRY``.
"""
from gammapy.datasets import DATASET_REGISTRY

from .unbinned import (
    UnbinnedLATDataset,
    UnbinnedLATDatasetMaker,
    add_diffuse_responses,
    diffuse_response_label,
    compute_diffuse_responses,
    read_diffuse_responses,
    split_diffuse_response_label,
)

__all__ = [
    "UnbinnedLATDataset",
    "UnbinnedLATDatasetMaker",
    "add_diffuse_responses",
    "diffuse_response_label",
    "read_diffuse_responses",
    "compute_diffuse_responses",
    "split_diffuse_response_label",
]

if UnbinnedLATDataset not in DATASET_REGISTRY:
    DATASET_REGISTRY.append(UnbinnedLATDataset)
