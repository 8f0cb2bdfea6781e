"""LAT datasets: Gammapy datasets with a likelihood built for LAT regions of interest.

`LATMapDataset` is a `~gammapy.datasets.MapDataset` whose predicted counts are updated
incrementally (fixed sources summed once, only changed sources recomputed, PSF kernels shared per
PSF-map pixel). Importing this package also installs a local fix of Gammapy's
`~gammapy.datasets.Datasets.stat_sum` (`gammapy_lat.datasets.fixes`).
"""
from . import fixes
from .map import LATMapDataset, as_lat_dataset

fixes.install()

__all__ = ["LATMapDataset", "as_lat_dataset"]
