"""Gammapy Makers for LAT observations.

`LATMapDatasetMaker` turns a `~gammapy_lat.data.LATObservation` into a Gammapy
`~gammapy.datasets.MapDataset` (counts, exposure, PSF and energy-dispersion maps from the
livetime cube and the CALDB IRFs); `LATSafeMaskMaker` sets the safe data mask. Both are registered
in Gammapy's ``MAKER_REGISTRY``, so that ``MAKER_REGISTRY.get_cls("LATMapDatasetMaker")`` works as
for Gammapy's own makers.
"""
from gammapy.makers import MAKER_REGISTRY

from .diffuse import (
    create_galactic_diffuse_model,
    create_isotropic_model,
    read_galactic_diffuse_cube,
    read_isotropic_spectrum,
)
from .safe import LATSafeMaskMaker
from .utils import check_geom_in_cone, make_energy_axis_true

__all__ = [
    "LATSafeMaskMaker",
    "make_energy_axis_true",
    "check_geom_in_cone",
    "read_isotropic_spectrum",
    "create_isotropic_model",
    "read_galactic_diffuse_cube",
    "create_galactic_diffuse_model",
]


def _register(*classes):
    for cls in classes:
        if cls not in MAKER_REGISTRY:
            MAKER_REGISTRY.append(cls)


_register(LATSafeMaskMaker)

from .map import LATMapDatasetMaker, create_lat_map_dataset  # noqa: E402

__all__ += ["LATMapDatasetMaker", "create_lat_map_dataset"]
_register(LATMapDatasetMaker)

from .components import EVTYPE_PARTITIONS, LATComponent, LATComponentsMaker  # noqa: E402
from .reduce import LATDatasetsMaker  # noqa: E402

__all__ += ["LATComponent", "LATComponentsMaker", "EVTYPE_PARTITIONS", "LATDatasetsMaker"]
_register(LATComponentsMaker, LATDatasetsMaker)
