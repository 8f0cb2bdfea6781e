"""LAT datasets: Gammapy datasets with the likelihoods of LAT analyses.

* `LATMapDataset` is a `~gammapy.datasets.MapDataset` whose predicted counts are updated
  incrementally (fixed sources summed once, only changed sources recomputed, PSF kernels shared
  per PSF-map pixel). Importing this package also installs a local fix of Gammapy's
  `~gammapy.datasets.Datasets.stat_sum` (`gammapy_lat.datasets.fixes`).
* `UnbinnedLATDataset` (made by `gammapy_lat.makers.UnbinnedLATDatasetMaker`) holds LAT events with their unbinned
  likelihood (gtlike ``UNBINNED``); it is registered in Gammapy's ``DATASET_REGISTRY``.
"""
from gammapy.datasets import DATASET_REGISTRY

from . import fixes
from .map import LATMapDataset, as_lat_dataset
from .unbinned import (
    UnbinnedLATDataset,
    add_diffuse_responses,
    compute_diffuse_responses,
    diffuse_response_label,
    read_diffuse_responses,
    split_diffuse_response_label,
)

fixes.install()

__all__ = [
    "LATMapDataset",
    "as_lat_dataset",
    "UnbinnedLATDataset",
    "add_diffuse_responses",
    "diffuse_response_label",
    "read_diffuse_responses",
    "compute_diffuse_responses",
    "split_diffuse_response_label",
]

if UnbinnedLATDataset not in DATASET_REGISTRY:
    DATASET_REGISTRY.append(UnbinnedLATDataset)
