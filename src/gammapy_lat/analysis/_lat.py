"""Reduction of a ``lat`` datasets block, through the same classes as the Python API.

The block's FT1/FT2 files are indexed by a `~gammapy_lat.observations.LATDataStore` that applies
the block's gtselect cuts and gtmktime filter; the block's observation carries its response
settings (IRF name, zenith cut, CALDB, livetime-cube file or binning); a
`~gammapy_lat.makers.LATComponentsMaker` (a `~gammapy_lat.makers.LATMapDatasetMaker` and a
`~gammapy_lat.makers.LATSafeMaskMaker` per event-type component) makes one
`~gammapy.datasets.MapDataset` per component. An isotropic spectrum given for a component becomes
that dataset's own background model.
"""
import logging

import numpy as np
from gammapy.maps import MapAxis, WcsGeom

from ..data.gti import time_to_met
from ..errors import ConfigError
from ..makers import (
    LATComponent,
    LATComponentsMaker,
    LATSafeMaskMaker,
    create_lat_map_dataset,
)
from ..observations import LATDataStore
from ._unbinned import run_unbinned_lat_block

__all__ = [
    "run_lat_block",
    "lat_geom",
    "lat_selection",
    "lat_data_store",
    "lat_observation",
    "lat_components_maker",
    "lat_reference_dataset",
]

log = logging.getLogger(__name__)


def lat_geom(block):
    """Counts geometry of a ``lat`` block."""
    wcs = block.geom.wcs
    center = wcs.skydir if wcs.skydir.is_set else block.selection.roi
    energy = block.geom.axes.energy.to_axis("energy")
    return WcsGeom.create(
        skydir=center.to_skycoord(),
        binsz=wcs.binsize.to_value("deg"),
        width=(wcs.width.width.to_value("deg"), wcs.width.height.to_value("deg")),
        frame=center.frame,
        proj=wcs.proj,
        axes=[energy],
    )


def _rad_axis(max_radius):
    """PSF separation axis: 0, then 300 log-spaced nodes from 1e-3 deg to ``max_radius``."""
    nodes = np.concatenate([[0.0], np.geomspace(1e-3, max_radius.to_value("deg"), 300)])
    return MapAxis.from_nodes(nodes, unit="deg", name="rad", interp="lin")


def _nside_for(binsz):
    """Smallest power-of-two NSIDE whose pixels are at most ``binsz`` across (gtltcube binsz)."""
    nside = 1
    while np.degrees(np.sqrt(4 * np.pi / (12 * nside**2))) > binsz.to_value("deg") and nside < 8192:
        nside *= 2
    return nside


def lat_selection(block):
    """gtselect cuts of a block, as arguments of `~gammapy_lat.data.LATEventList.select`."""
    sel = block.selection
    kwargs = dict(evclass=sel.evclass, evtype=sel.evtype, zmax=sel.zmax)
    if sel.energy.min is not None:
        kwargs["emin"] = sel.energy.min.to("MeV")
    if sel.energy.max is not None:
        kwargs["emax"] = sel.energy.max.to("MeV")
    if sel.roi.is_set:
        roi = sel.roi.to_skycoord().icrs
        kwargs.update(ra=roi.ra.deg, dec=roi.dec.deg, rad=sel.roi.radius.to_value("deg"))
    if sel.time.is_set:
        kwargs.update(tmin=time_to_met(sel.time.start), tmax=time_to_met(sel.time.stop))
    elif sel.tmin is not None or sel.tmax is not None:
        kwargs.update(tmin=sel.tmin, tmax=sel.tmax)
    return kwargs


def _ltcube_kwargs(block, config):
    return {
        "nside": block.ltcube.nside or _nside_for(block.ltcube.binsz),
        "nbins": max(int(round(1.0 / block.ltcube.dcostheta)), 1),
        "n_jobs": config.general.n_jobs,
        "parallel_backend": config.general.parallel_backend,
    }


def lat_data_store(block, config):
    """`~gammapy_lat.observations.LATDataStore` of a block's files, cuts and response settings."""
    events = [str(p) for p in config.resolve_paths(block.events)]
    spacecraft = [str(p) for p in config.resolve_paths(block.spacecraft)]
    if not events or not spacecraft:
        raise ConfigError(f"datasets '{block.name}': no events or spacecraft file found")
    return LATDataStore(
        events,
        spacecraft,
        irf_name=block.irf_name,
        evtype=block.selection.evtype,
        selection=lat_selection(block),
        gtmktime={"filter": block.gtmktime.filter, "roicut": block.gtmktime.roicut},
        zmax=block.ltcube.zmax,
        caldb=str(config.resolve_path(block.caldb)) if block.caldb else None,
        ltcube=str(config.resolve_path(block.ltcube.file)) if block.ltcube.file else None,
        ltcube_kwargs=_ltcube_kwargs(block, config),
    )


def lat_observation(block, config):
    """The block's `~gammapy_lat.observations.LATObservation`: all its selected events."""
    return lat_data_store(block, config).get_observation(obs_id=0)


def lat_components_maker(block):
    """`~gammapy_lat.makers.LATComponentsMaker` of a block (one component per ``components``
    entry; without entries, one dataset of the whole event selection named after the block)."""
    sm = block.safe_mask
    safe_mask_maker = LATSafeMaskMaker(
        methods=list(sm.methods),
        energy_min=block.selection.energy.min,
        energy_max=block.selection.energy.max,
        edge_width=sm.edge_width,
        psf_containment=sm.psf_containment,
        exposure_min_fraction=sm.exposure_min_fraction,
        offset_max=sm.offset_max,
        aeff_percent=sm.aeff_percent,
    )
    if block.components:
        components = [
            LATComponent(name=comp.name or f"evtype{comp.evtype}", evtype=comp.evtype, isodiff=comp.isodiff)
            for comp in block.components
        ]
    else:
        components = [LATComponent(name=None, evtype=block.selection.evtype)]
    selection = ["counts", "exposure", "psf"] + (["edisp"] if block.edisp.enabled else [])
    return LATComponentsMaker(components, selection=selection, safe_mask_maker=safe_mask_maker)


def lat_reference_dataset(block):
    """Empty reference dataset of a block (geometry, true-energy and PSF axes, IRF pixels)."""
    return create_lat_map_dataset(
        lat_geom(block),
        energy_axis_true=block.geom.axes.energy_true.to_axis("energy_true"),
        binsz_irf=block.geom.wcs.binsize_irf,
        name=block.name,
        edisp_bins=block.edisp.edisp_bins,
        rad_axis=_rad_axis(block.psf.max_radius),
    )


def run_lat_block(block, config):
    """Datasets of a ``lat`` block: one per event-type component.

    Parameters
    ----------
    block : `~gammapy_lat.analysis.config.LATDatasetsConfig`
        Block settings.
    config : `~gammapy_lat.analysis.AnalysisConfig`
        Full config (data root, parallel settings).

    Returns
    -------
    datasets : `~gammapy.datasets.Datasets`
        With the components' isotropic models.
    """
    observation = lat_observation(block, config)
    if block.likelihood == "unbinned":
        return run_unbinned_lat_block(block, config, observation)
    maker = lat_components_maker(block)
    for component in maker.components:
        if component.isodiff is not None:
            component.isodiff = config.resolve_path(component.isodiff)
    log.info(f"{block.name}: {len(observation.lat_events)} events, {len(maker.components)} component(s)")
    return maker.run(lat_reference_dataset(block), observation)
