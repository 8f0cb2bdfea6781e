"""Reduction of a ``lat`` datasets block with ``likelihood: unbinned``.

One `~gammapy_lat.datasets.UnbinnedLATDataset` per event-type component: the events of the
block's acceptance cone (``selection.roi``) and energy range, the energy bins of
``geom.axes.energy``, energy dispersion as ``edisp.enabled``. The block's observation is the one
of the binned path (`~gammapy_lat.analysis._lat.lat_observation`: the same data store, cuts and
response settings); the components share its livetime cube.
"""
import logging

import numpy as np
from gammapy.datasets import Datasets
from gammapy.maps import RegionNDMap
from gammapy.modeling.models import Models

from ..datasets import UnbinnedLATDataset
from ..makers import UnbinnedLATDatasetMaker
from ..models import create_isotropic_model

__all__ = ["run_unbinned_lat_block"]

log = logging.getLogger(__name__)


def _energy_mask(axis, emin, emax):
    """Bins of the axis inside the selected energy range (edges compared with a tolerance)."""
    edges = axis.edges
    inside = np.ones(axis.nbin, dtype=bool)
    if emin is not None:
        inside &= edges[:-1] >= emin * (1 - 1e-6)
    if emax is not None:
        inside &= edges[1:] <= emax * (1 + 1e-6)
    return inside


def run_unbinned_lat_block(block, config, observation):
    """Unbinned datasets of a ``lat`` block (see the module docstring)."""
    roi = block.selection.roi
    center = roi.to_skycoord()
    energy_axis = block.geom.axes.energy.to_axis("energy")
    inside = _energy_mask(energy_axis, block.selection.energy.min, block.selection.energy.max)
    datasets, models = Datasets(), Models()
    for comp in block.components or [None]:
        evtype = block.selection.evtype if comp is None else comp.evtype
        name = block.name if comp is None else f"{block.name}-{comp.name or f'evtype{comp.evtype}'}"
        maker = UnbinnedLATDatasetMaker(evtype=evtype, apply_edisp=block.edisp.enabled)
        reference = UnbinnedLATDataset.create(energy_axis, center, roi.radius, name=name)
        log.info(f"{block.name}: making unbinned dataset {name} (evtype {evtype})")
        dataset = maker.run(reference, observation)
        geom = dataset.counts.geom
        dataset.mask_safe = RegionNDMap.from_geom(geom, data=inside.reshape(geom.data_shape), dtype=bool)
        datasets.append(dataset)
        if comp is not None and comp.isodiff:
            models.append(
                create_isotropic_model(
                    config.resolve_path(comp.isodiff), name=f"{name}-isotropic", datasets_names=[name],
                    apply_edisp=block.edisp.enabled,
                )
            )
    datasets.models = models
    return datasets
