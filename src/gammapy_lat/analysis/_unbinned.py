"""Reduction of a ``lat`` datasets block with ``likelihood: unbinned``.

One `~gammapy_lat.datasets.UnbinnedLATDataset` per event-type component: the events of the
block's acceptance cone (``selection.roi``) and energy range, the energy bins of
``geom.axes.energy``, energy dispersion as ``edisp.enabled``. The components share one livetime
cube (the block's file, or computed around the cone).
"""
import logging

from ..errors import ConfigError

__all__ = ["run_unbinned_lat_block"]

log = logging.getLogger(__name__)


def run_unbinned_lat_block(block, config, observation):
    """Unbinned datasets of a ``lat`` block (see the module docstring)."""
    import numpy as np
    from gammapy.datasets import Datasets
    from gammapy.maps import RegionNDMap
    from gammapy.modeling.models import Models

    from ..datasets import UnbinnedLATDataset, UnbinnedLATDatasetMaker
    from ..makers import create_isotropic_model
    from ._lat import _nside_for

    roi = block.selection.roi
    center = roi.to_skycoord()
    energy_axis = block.geom.axes.energy.to_axis("energy")
    caldb = str(config.resolve_path(block.caldb)) if block.caldb else None
    ltcube = str(config.resolve_path(block.ltcube.file)) if block.ltcube.file else None
    ltcube_kwargs = {
        "nside": block.ltcube.nside or _nside_for(block.ltcube.binsz),
        "nbins": max(int(round(1.0 / block.ltcube.dcostheta)), 1),
        "n_jobs": config.general.n_jobs,
        "parallel_backend": config.general.parallel_backend,
    }
    emin, emax = block.selection.energy.min, block.selection.energy.max
    components = block.components or [None]
    datasets, models = Datasets(), Models()
    shared_ltcube = ltcube
    for comp in components:
        evtype = block.selection.evtype if comp is None else comp.evtype
        cname = None if comp is None else (comp.name or f"evtype{comp.evtype}")
        name = block.name if cname is None else f"{block.name}-{cname}"
        maker = UnbinnedLATDatasetMaker(
            irf_name=block.irf,
            evtype=evtype,
            caldb=caldb,
            zmax=block.ltcube.zmax or block.selection.zmax,
            ltcube=shared_ltcube,
            ltcube_kwargs=ltcube_kwargs,
            apply_edisp=block.edisp.enabled,
        )
        reference = UnbinnedLATDataset.create(energy_axis, center, roi.radius, name=name)
        log.info(f"{block.name}: making unbinned dataset {name} (evtype {evtype})")
        try:
            dataset = maker.run(reference, observation)
        except (ValueError, KeyError) as exc:
            raise ConfigError(f"datasets '{block.name}': unbinned LAT reduction of {name} failed: {exc}") from exc
        shared_ltcube = dataset.ltcube
        # the selected energy range, with a tolerance for the rounding of the axis edges
        edges = energy_axis.edges
        inside = np.ones(energy_axis.nbin, dtype=bool)
        if emin is not None:
            inside &= edges[:-1] >= emin * (1 - 1e-6)
        if emax is not None:
            inside &= edges[1:] <= emax * (1 + 1e-6)
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
