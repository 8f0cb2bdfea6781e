"""Gammapy Makers for LAT observations.

`LATMapDatasetMaker` turns a `~gammapy_lat.observations.LATObservation` into a Gammapy
`~gammapy.datasets.MapDataset` (counts, exposure, PSF and energy-dispersion maps from the
observation's livetime cube and CALDB IRFs); `LATSafeMaskMaker` sets the safe data mask;
`LATComponentsMaker` makes one dataset per event-type component and `LATDatasetsMaker` reduces
many observations (time chunks), serially or in parallel. All are registered in Gammapy's
``MAKER_REGISTRY``, so that ``MAKER_REGISTRY.get_cls("LATMapDatasetMaker")`` works as for
Gammapy's own makers.
"""
from gammapy.makers import MAKER_REGISTRY

from ..utils.deprecation import moved_names
from .components import EVTYPE_PARTITIONS, LATComponent, LATComponentsMaker
from .map import LATMapDatasetMaker, create_lat_map_dataset
from .reduce import LATDatasetsMaker
from .safe import LATSafeMaskMaker
from .unbinned import UnbinnedLATDatasetMaker
from .utils import check_geom_in_cone, make_energy_axis_true

__all__ = [
    "LATMapDatasetMaker",
    "create_lat_map_dataset",
    "LATSafeMaskMaker",
    "LATComponent",
    "LATComponentsMaker",
    "EVTYPE_PARTITIONS",
    "LATDatasetsMaker",
    "UnbinnedLATDatasetMaker",
    "make_energy_axis_true",
    "check_geom_in_cone",
]

for _cls in (LATMapDatasetMaker, LATSafeMaskMaker, LATComponentsMaker, LATDatasetsMaker, UnbinnedLATDatasetMaker):
    if _cls not in MAKER_REGISTRY:
        MAKER_REGISTRY.append(_cls)

# Deprecated aliases: diffuse-model construction belongs to the models layer.
__getattr__ = moved_names(
    __name__,
    ("read_isotropic_spectrum", "create_isotropic_model", "read_galactic_diffuse_cube", "create_galactic_diffuse_model"),
    "gammapy_lat.models",
)
