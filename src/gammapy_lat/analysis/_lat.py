"""Reduction of a ``lat`` datasets block with `gammapy_lat.data` and `gammapy_lat.makers`.

Events are read with the gtselect-like selection of the block, their good-time intervals are
intersected with the spacecraft good time (gtmktime filter), and one
`~gammapy.datasets.MapDataset` per event-type component is made by
`~gammapy_lat.makers.LATMapDatasetMaker` (counts, exposure, PSF, energy dispersion from the
livetime cube and the CALDB IRFs). An isotropic spectrum given for a component becomes that
dataset's own background model.
"""
import logging

import astropy.units as u
from astropy.time import Time

from ..errors import ConfigError

__all__ = ["run_lat_block", "lat_geom"]

log = logging.getLogger(__name__)

#: Fermi mission reference time (MET 0) in TT.
_MET_REF = Time(51910 + 7.428703703703703e-4, format="mjd", scale="tt")


def _met(time):
    return float((time.tt - _MET_REF).to_value("s"))


def lat_geom(block):
    """Counts geometry of a ``lat`` block."""
    from gammapy.maps import WcsGeom

    wcs = block.geom.wcs
    center = wcs.skydir if wcs.skydir.is_set else block.selection.roi
    skydir = center.to_skycoord()
    energy = block.geom.axes.energy.to_axis("energy")
    return WcsGeom.create(
        skydir=skydir,
        binsz=wcs.binsize.to_value("deg"),
        width=(wcs.width.width.to_value("deg"), wcs.width.height.to_value("deg")),
        frame=center.frame,
        proj=wcs.proj,
        axes=[energy],
    )


def _rad_axis(max_radius):
    """PSF separation axis: 0, then 300 log-spaced nodes from 1e-3 deg to ``max_radius``."""
    import numpy as np
    from gammapy.maps import MapAxis

    nodes = np.concatenate([[0.0], np.geomspace(1e-3, max_radius.to_value("deg"), 300)])
    return MapAxis.from_nodes(nodes, unit="deg", name="rad", interp="lin")


def _nside_for(binsz):
    """Smallest power-of-two NSIDE whose pixels are at most ``binsz`` across (gtltcube binsz)."""
    import numpy as np

    nside = 1
    while np.degrees(np.sqrt(4 * np.pi / (12 * nside**2))) > binsz.to_value("deg") and nside < 8192:
        nside *= 2
    return nside


def _selection(block):
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
        kwargs.update(tmin=_met(sel.time.start), tmax=_met(sel.time.stop))
    elif sel.tmin is not None or sel.tmax is not None:
        kwargs.update(tmin=sel.tmin, tmax=sel.tmax)
    return kwargs


def read_lat_observation(block, config):
    """Selected events and spacecraft data of a ``lat`` block as a `~gammapy_lat.data.LATObservation`."""
    from ..data import LATObservation, mktime, read_events, read_spacecraft

    events_paths = [str(p) for p in config.resolve_paths(block.events)]
    sc_paths = [str(p) for p in config.resolve_paths(block.spacecraft)]
    if not events_paths or not sc_paths:
        raise ConfigError(f"datasets '{block.name}': no events or spacecraft file found")
    events_arg = events_paths[0] if len(events_paths) == 1 else events_paths
    sc_arg = sc_paths[0] if len(sc_paths) == 1 else sc_paths
    events = read_events(events_arg, selection=_selection(block))
    # only the spacecraft rows of the events' time span (a small part of a mission-long FT2)
    span = (events.gti_start[0], events.gti_stop[-1]) if len(events.gti_start) else None
    spacecraft = read_spacecraft(sc_arg, time_range=span)
    mk = block.gtmktime
    events = mktime(events, spacecraft, filter=mk.filter, roicut=mk.roicut)
    if len(events.gti_start):
        spacecraft = spacecraft.select_time(events.gti_start[0], events.gti_stop[-1])
    return LATObservation(events, spacecraft, obs_id=0, irf_name=block.irf, evtype=block.selection.evtype)


def run_lat_block(block, config, maker_cls):
    """Datasets of a ``lat`` block: one per event-type component."""
    from gammapy.datasets import Datasets
    from gammapy.modeling.models import Models

    from ..makers import LATSafeMaskMaker, create_isotropic_model, create_lat_map_dataset

    observation = read_lat_observation(block, config)
    if block.likelihood == "unbinned":
        from ._unbinned import run_unbinned_lat_block

        return run_unbinned_lat_block(block, config, observation)
    geom = lat_geom(block)
    energy_true = block.geom.axes.energy_true.to_axis("energy_true")
    selection = ["counts", "exposure", "psf"] + (["edisp"] if block.edisp.enabled else [])
    caldb = str(config.resolve_path(block.caldb)) if block.caldb else None
    ltcube = str(config.resolve_path(block.ltcube.file)) if block.ltcube.file else None
    ltcube_kwargs = {
        "nside": block.ltcube.nside or _nside_for(block.ltcube.binsz),
        "nbins": max(int(round(1.0 / block.ltcube.dcostheta)), 1),
        "n_jobs": config.general.n_jobs,
        "parallel_backend": config.general.parallel_backend,
    }
    rad_axis = _rad_axis(block.psf.max_radius)
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
    components = block.components or [None]
    datasets, models = Datasets(), Models()
    # the components share the geometry and the zenith cut, hence one livetime cube
    shared_ltcube = ltcube
    for comp in components:
        evtype = block.selection.evtype if comp is None else comp.evtype
        cname = None if comp is None else (comp.name or f"evtype{comp.evtype}")
        name = block.name if cname is None else f"{block.name}-{cname}"
        reference = create_lat_map_dataset(
            geom,
            energy_axis_true=energy_true,
            binsz_irf=block.geom.wcs.binsize_irf,
            name=name,
            edisp_bins=block.edisp.edisp_bins,
            rad_axis=rad_axis,
        )
        maker = maker_cls(
            selection=selection,
            irf_name=block.irf,
            evtype=evtype,
            caldb=caldb,
            zmax=block.ltcube.zmax or block.selection.zmax,
            ltcube=shared_ltcube,
            ltcube_kwargs=ltcube_kwargs,
        )
        log.info(f"{block.name}: making dataset {name} (evtype {evtype})")
        try:
            dataset = maker.run(reference, observation)
            # computed, or read from the block's file, once (the maker keeps it)
            shared_ltcube = maker.get_livetime_cube(observation, reference.counts.geom)
            dataset = safe_mask_maker.run(dataset, observation)
        except (ValueError, KeyError) as exc:
            raise ConfigError(f"datasets '{block.name}': LAT reduction of {name} failed: {exc}") from exc
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
