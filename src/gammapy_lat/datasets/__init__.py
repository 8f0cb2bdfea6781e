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
    read_diffuse_responses,
)

__all__ = [
    "UnbinnedLATDataset",
    "UnbinnedLATDatasetMaker",
    "add_diffuse_responses",
    "diffuse_response_label",
    "read_diffuse_responses",
]

if UnbinnedLATDataset not in DATASET_REGISTRY:
    DATASET_REGISTRY.append(UnbinnedLATDataset)
