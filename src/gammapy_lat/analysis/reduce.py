"""Reduction of one datasets block of an analysis config into Gammapy datasets.

* ``iact``: DL3 observations from a `~gammapy.data.DataStore`, reduced with Gammapy's
  `~gammapy.makers.MapDatasetMaker` / `~gammapy.makers.SpectrumDatasetMaker`,
  `~gammapy.makers.SafeMaskMaker` and a background maker, in the same way as Gammapy's own
  `~gammapy.analysis.Analysis` (so that results agree).
* ``dl4``: datasets that are already reduced (Gammapy datasets YAML or FITS, OGIP spectra,
  fermipy outputs through `~gammapy.datasets.FermipyDatasetsReader`).
* ``lat``: Fermi-LAT FT1/FT2 files reduced with `gammapy_lat.makers`.
"""
import logging
import re

import numpy as np
from gammapy.data import DataStore
from gammapy.datasets import (
    Datasets,
    FermipyDatasetsReader,
    MapDataset,
    MapDatasetOnOff,
    SpectrumDataset,
    SpectrumDatasetOnOff,
)
from gammapy.makers import (
    DatasetsMaker,
    FoVBackgroundMaker,
    MapDatasetMaker,
    PhaseBackgroundMaker,
    ReflectedRegionsBackgroundMaker,
    ReflectedRegionsFinder,
    SafeMaskMaker,
    SpectrumDatasetMaker,
    WobbleRegionsFinder,
)
from gammapy.maps import Map, RegionGeom, WcsGeom
from gammapy.modeling.models import FoVBackgroundModel, Models
from regions import Regions
from tqdm.auto import tqdm

from ..errors import ConfigError, SelectionError
from ..iact import BackgroundModelMaker, BackgroundModels
from ..iact.ring import AdaptiveRingBackgroundMaker, RingBackgroundMaker
from ..iact.timesplit import split_observations
from ._lat import run_lat_block

__all__ = [
    "reduce_block",
    "reduce_iact",
    "read_dl4",
    "reduce_lat",
    "get_iact_observations",
    "make_exclusion_mask",
    "block_input_files",
    "attach_background_model",
]

log = logging.getLogger(__name__)


def _progress(iterable, desc, enabled=True, total=None):
    return tqdm(iterable, desc=desc, total=total, disable=(None if enabled else True), leave=False)


# --------------------------------------------------------------------------------------------
# IACT
# --------------------------------------------------------------------------------------------
def open_datastore(block, config):
    """`~gammapy.data.DataStore` of an ``iact`` block."""

    path = config.resolve_path(block.datastore)
    if path.is_file():
        return DataStore.from_file(path)
    if path.is_dir():
        return DataStore.from_dir(path)
    raise ConfigError(f"datasets '{block.name}'.datastore: not found: {path}")


def select_obs_ids(block, datastore):
    """Observation ids selected by ``observations.obs_ids`` and ``observations.obs_cone``."""
    sel = block.observations
    table = datastore.obs_table
    if sel.obs_ids:
        missing = sorted(set(sel.obs_ids) - set(np.asarray(table["OBS_ID"]).tolist()))
        if missing:
            raise SelectionError(
                f"datasets '{block.name}'.observations.obs_ids: not in the data store: {missing}"
            )
        table = table.select_obs_id(sel.obs_ids)
    if sel.obs_cone.is_set:
        cone = dict(
            type="sky_circle",
            frame=sel.obs_cone.frame,
            lon=sel.obs_cone.lon,
            lat=sel.obs_cone.lat,
            radius=sel.obs_cone.radius,
            border="0 deg",
        )
        table = table.select_observations(cone)
    ids = np.asarray(table["OBS_ID"]).tolist()
    if not ids:
        raise SelectionError(f"datasets '{block.name}'.observations: the selection is empty")
    return ids


def get_iact_observations(block, config, datastore=None):
    """Selected `~gammapy.data.Observations` of an ``iact`` block."""
    datastore = datastore or open_datastore(block, config)
    ids = select_obs_ids(block, datastore)
    observations = datastore.get_observations(
        ids, skip_missing=True, required_irf=block.observations.required_irf
    )
    if block.observations.obs_time.is_set:
        tr = block.observations.obs_time
        observations = observations.select_time([(tr.start, tr.stop)])
    if len(observations) == 0:
        raise SelectionError(
            f"datasets '{block.name}'.observations: no observation left with the required IRFs "
            f"({block.observations.required_irf}) and time range"
        )
    log.info(f"{block.name}: {len(observations)} observations selected")
    if block.observations.time_bin is not None:

        observations, _ = split_observations(observations, block.observations.time_bin)
        log.info(f"{block.name}: split into {len(observations)} pieces of at most "
                 f"{block.observations.time_bin}")
    return observations


def make_exclusion_mask(exclusion, config, geom):
    """Boolean exclusion mask (True = usable) on ``geom`` from an exclusion config, or None."""

    if not exclusion.is_set:
        return None
    mask = Map.from_geom(geom.to_image(), data=np.ones(geom.to_image().data_shape, dtype=bool))
    if exclusion.mask:
        path = config.resolve_path(exclusion.mask)
        other = Map.read(path)
        values = other.interp_to_geom(geom.to_image(), method="nearest", fill_value=1)
        mask.data &= values.data.astype(bool)
    regions = [r.to_region() for r in exclusion.regions]
    if exclusion.region_file:
        path = config.resolve_path(exclusion.region_file)
        try:
            regions.extend(Regions.read(path))
        except Exception as exc:  # regions raises several parser errors
            raise ConfigError(f"background.exclusion.region_file: cannot read {path}: {exc}") from exc
    if regions:
        mask.data &= ~geom.to_image().region_mask(regions).data
    return mask


def _make_safe_mask_maker(block):
    sm = block.safe_mask
    return SafeMaskMaker(
        methods=list(sm.methods),
        aeff_percent=sm.aeff_percent,
        bias_percent=sm.bias_percent,
        position=sm.position.to_skycoord(),
        fixed_offset=sm.fixed_offset,
        offset_max=sm.offset_max,
    )


def _make_background_maker(block, config, geom):
    bkg = block.background
    if bkg.method is None:
        return None
    if block.type == "1d":
        center = block.on_region.to_skycoord()
        excl_geom = WcsGeom.create(
            skydir=center, width=bkg.exclusion.width, binsz=bkg.exclusion.binsize,
            frame=block.on_region.frame,
        )
    else:
        excl_geom = geom
    exclusion_mask = make_exclusion_mask(bkg.exclusion, config, excl_geom)
    if bkg.method == "fov_background":
        return FoVBackgroundMaker(
            method=bkg.fov_method, spectral_model=bkg.fov_spectral_model, exclusion_mask=exclusion_mask
        )
    if bkg.method == "ring":

        return RingBackgroundMaker(r_in=bkg.ring_r_in, width=bkg.ring_width, exclusion_mask=exclusion_mask)
    if bkg.method == "adaptive_ring":

        ar = bkg.adaptive_ring
        return AdaptiveRingBackgroundMaker(
            r_in=bkg.ring_r_in, r_out_max=ar.r_out_max, width=bkg.ring_width, stepsize=ar.stepsize,
            threshold_alpha=ar.threshold_alpha, theta=ar.theta, method=ar.method,
            exclusion_mask=exclusion_mask,
        )
    if bkg.method == "phase":

        return PhaseBackgroundMaker(
            on_phase=[tuple(i) for i in bkg.phase.on_phase],
            off_phase=[tuple(i) for i in bkg.phase.off_phase],
            phase_column_name=bkg.phase.column,
        )
    ref = bkg.reflected
    if ref.finder == "wobble":
        finder = WobbleRegionsFinder(n_off_regions=ref.n_off_regions, binsz=ref.binsz)
    else:
        finder = ReflectedRegionsFinder(
            min_distance_input=ref.min_distance_input,
            max_region_number=ref.max_region_number,
            binsz=ref.binsz,
        )
    return ReflectedRegionsBackgroundMaker(region_finder=finder, exclusion_mask=exclusion_mask)


def attach_background_model(block, config, observations):
    """Attach the background model of ``background.model`` to the observations.

    Returns the `~gammapy_lat.iact.BackgroundModels` used (written to
    ``<outdir>/reduce/<block>/background_model.fits``), or None for the DL3 ``bkg`` IRFs.
    """

    bm = block.background.model
    if bm.source == "dl3":
        return None
    datastore = open_datastore(block, config)
    if bm.source == "file":
        models = BackgroundModels.read(config.resolve_path(bm.file))
    else:
        if bm.off_datastore:

            path = config.resolve_path(bm.off_datastore)
            off_store = DataStore.from_file(path) if path.is_file() else DataStore.from_dir(path)
        else:
            off_store = datastore
        known = set(np.asarray(off_store.obs_table["OBS_ID"]).tolist())
        missing = sorted(set(bm.off_obs_ids) - known)
        if missing:
            raise SelectionError(
                f"datasets '{block.name}'.background.model.off_obs_ids: not in the data store: {missing}"
            )
        excl = block.background.exclusion
        regions = [r.to_region() for r in excl.regions]
        if excl.region_file:

            regions.extend(Regions.read(config.resolve_path(excl.region_file)))
        mask = None
        if excl.mask:

            mask = Map.read(config.resolve_path(excl.mask))
            mask.data = mask.data.astype(bool)
        maker = BackgroundModelMaker(
            kind=bm.type,
            fov_alignment=bm.fov_alignment,
            offset_max=bm.offset_max,
            zenith_edges=[z.to_value("deg") for z in bm.zenith_edges] or None,
            exclusion_regions=regions,
            exclusion_mask=mask,
            target_radius=bm.target_radius,
        )
        off = off_store.get_observations(bm.off_obs_ids, required_irf="all-optional")
        models = maker.run(off, off_store.obs_table)
    _, table = models.attach(observations, datastore.obs_table, method=bm.attach)
    for row in table:
        log.info(f"{block.name}: run {row['OBS_ID']} (zenith {row['ZEN_PNT']:.1f} deg): "
                 f"background model {row['BKG_MODEL']}")
    path = config.outdir / "reduce" / block.name / "background_model.fits"
    models.write(path, overwrite=True)
    return models


def iact_geom(block):
    """Counts geometry of an ``iact`` block (`~gammapy.maps.WcsGeom` or `~gammapy.maps.RegionGeom`)."""

    energy = block.geom.axes.energy.to_axis("energy")
    if block.type == "1d":
        return RegionGeom.create(region=block.on_region.to_region(), axes=[energy])
    wcs = block.geom.wcs
    return WcsGeom.create(
        skydir=wcs.skydir.to_skycoord(),
        binsz=wcs.binsize.to_value("deg"),
        width=(wcs.width.width.to_value("deg"), wcs.width.height.to_value("deg")),
        frame=wcs.skydir.frame,
        proj=wcs.proj,
        axes=[energy],
    )


def reduce_iact(block, config, observations=None):
    """Reduce the observations of an ``iact`` block.

    Parameters
    ----------
    block : `~gammapy_lat.analysis.config.IACTDatasetsConfig`
        Block settings.
    config : `~gammapy_lat.analysis.AnalysisConfig`
        Full config (data root, parallel settings).
    observations : `~gammapy.data.Observations`, optional
        Already selected observations.

    Returns
    -------
    datasets : `~gammapy.datasets.Datasets`
        One stacked dataset named after the block, or one per observation named
        ``<block>-<obs_id>``.
    """

    observations = observations if observations is not None else get_iact_observations(block, config)
    geom = iact_geom(block)
    energy_true = block.geom.axes.energy_true.to_axis("energy_true")
    safe_mask_maker = _make_safe_mask_maker(block)
    bkg_maker = _make_background_maker(block, config, geom)
    general = config.general

    if block.type == "3d":
        on_off = block.background.method in ("ring", "adaptive_ring", "phase")
        reference = MapDataset.create(
            geom,
            energy_axis_true=energy_true,
            binsz_irf=block.geom.wcs.binsize_irf.to_value("deg"),
            name=block.name,
        )
        own_model = attach_background_model(block, config, observations)
        # a model from OFF runs varies fast near the energy threshold: integrate it on finer bins
        oversampling = 2 if own_model is not None else None
        makers = [
            MapDatasetMaker(selection=list(block.map_selection), background_oversampling=oversampling),
            safe_mask_maker,
            bkg_maker,
        ]
        maker = DatasetsMaker(
            [m for m in makers if m is not None],
            # Gammapy's DatasetsMaker would stack ON/OFF datasets into a plain MapDataset (OFF
            # counts lost, Cash statistic): they are stacked here into an ON/OFF dataset instead
            stack_datasets=block.stack and not on_off,
            n_jobs=general.n_jobs,
            cutout_mode="trim",
            cutout_width=2 * block.offset_max,
            parallel_backend=general.parallel_backend,
        )
        datasets = maker.run(reference, observations)
        if block.stack and on_off:
            stacked = MapDatasetOnOff.create(
                geom,
                energy_axis_true=energy_true,
                binsz_irf=block.geom.wcs.binsize_irf.to_value("deg"),
                name=block.name,
            )
            for dataset in datasets:
                stacked.stack(dataset)
            datasets = Datasets([stacked])
    else:
        reference = SpectrumDataset.create(geom, energy_axis_true=energy_true, name=block.name)
        maker = SpectrumDatasetMaker(
            selection=["counts", "exposure", "edisp"],
            containment_correction=block.containment_correction,
        )
        datasets = Datasets()
        pieces = {}
        for obs in _progress(observations, f"{block.name}: observations", general.progress_bar):
            name = f"{block.name}-{obs.obs_id}"
            if block.observations.time_bin is not None:
                pieces[obs.obs_id] = pieces.get(obs.obs_id, -1) + 1
                name += f"-{pieces[obs.obs_id]:02d}"
            dataset = maker.run(reference.copy(name=name), obs)
            if bkg_maker is not None:
                dataset = bkg_maker.run(dataset, obs)
                if dataset.counts_off is None:
                    log.warning(f"{block.name}: no OFF region for observation {obs.obs_id}, discarded")
                    continue
            dataset = safe_mask_maker.run(dataset, obs)
            datasets.append(dataset)
        if len(datasets) == 0:
            raise SelectionError(f"datasets '{block.name}': no observation could be reduced")
        if block.stack:
            datasets = Datasets([datasets.stack_reduce(name=block.name)])
    return _rename_per_observation(datasets, block.name)


def _rename_per_observation(datasets, prefix):
    if len(datasets) == 1 and datasets[0].name == prefix:
        return datasets
    out = Datasets()
    for idx, dataset in enumerate(datasets):
        obs_id = None
        if dataset.meta_table is not None and "OBS_ID" in dataset.meta_table.colnames:
            obs_id = dataset.meta_table["OBS_ID"][0]
        name = f"{prefix}-{obs_id if obs_id is not None else idx}"
        keep = dataset.name == name or dataset.name.startswith(name + "-")  # pieces of a run
        out.append(dataset if keep else dataset.copy(name=name))
    return out


# --------------------------------------------------------------------------------------------
# DL4
# --------------------------------------------------------------------------------------------
def read_dl4(block, config):
    """Read the datasets of a ``dl4`` block, renamed ``<block>-<name>`` to keep names unique."""

    paths = config.resolve_paths(block.path)
    if not paths:
        raise ConfigError(f"datasets '{block.name}'.path: no file matches {block.path!r}")
    datasets = Datasets()
    for path in paths:
        try:
            if block.format == "ogip":
                datasets.append(SpectrumDatasetOnOff.read(path, format="ogip"))
            elif block.format == "fermipy":
                datasets.extend(FermipyDatasetsReader(path, edisp_bins=block.edisp_bins).read())
            elif path.suffix.lower() in (".yaml", ".yml"):
                datasets.extend(Datasets.read(path, lazy=False))
            else:
                datasets.append(MapDataset.read(path))
        except (OSError, KeyError, ValueError) as exc:
            raise ConfigError(
                f"datasets '{block.name}'.path: cannot read {path} as {block.format} datasets: {exc}"
            ) from exc
    models = Models(datasets.models)
    if block.models is not None:
        models.extend(Models.read(config.resolve_path(block.models)))
    renamed = Datasets()
    mapping = {}
    for idx, dataset in enumerate(datasets):
        if dataset.name.startswith(block.name):
            name = dataset.name
        elif re.fullmatch(r"[A-Za-z0-9_.+-]{1,40}", dataset.name):
            name = f"{block.name}-{dataset.name}"
        else:
            name = f"{block.name}-{idx}"
        mapping[dataset.name] = name
        renamed.append(dataset.copy(name=name))
    renamed.models = _own_models(models, mapping, block.name)
    if block.stack and len(renamed) > 1:
        stacked = renamed.stack_reduce(name=block.name)
        renamed = Datasets([stacked])
    return renamed


def _own_models(models, mapping, prefix):
    """Models that apply only to some of the datasets (their background models), moved to the
    renamed datasets; sky models are renamed ``<prefix>-<name>`` to stay unique across blocks."""

    own = []
    for model in models:
        dnames = getattr(model, "datasets_names", None)
        if dnames is None:
            continue
        if isinstance(dnames, str):
            dnames = [dnames]
        new = [mapping[n] for n in dnames if n in mapping]
        if not new:
            continue
        if isinstance(model, FoVBackgroundModel):
            own.append(FoVBackgroundModel(
                dataset_name=new[0], spectral_model=model.spectral_model.copy(),
                spatial_model=None if model.spatial_model is None else model.spatial_model.copy(),
            ))
            continue
        name = model.name if model.name.startswith(prefix) else f"{prefix}-{model.name}"
        copy = model.copy(name=name)
        copy.datasets_names = new
        own.append(copy)
    return Models(own)


# --------------------------------------------------------------------------------------------
# LAT
# --------------------------------------------------------------------------------------------
def reduce_lat(block, config):
    """Reduce the FT1/FT2 files of a ``lat`` block with `gammapy_lat.makers` (see
    `~gammapy_lat.analysis._lat.run_lat_block`)."""
    return run_lat_block(block, config)


# --------------------------------------------------------------------------------------------
# dispatch and inputs
# --------------------------------------------------------------------------------------------
def reduce_block(block, config):
    """Datasets of one block (any instrument)."""
    if block.instrument == "iact":
        return reduce_iact(block, config)
    if block.instrument == "dl4":
        return read_dl4(block, config)
    if block.instrument == "lat":
        return reduce_lat(block, config)
    raise ConfigError(f"Unknown instrument {block.instrument!r}")  # pragma: no cover


def block_input_files(block, config):
    """Input files whose size and modification time decide whether a block is reduced again."""
    files = []
    if block.instrument == "iact":
        path = config.resolve_path(block.datastore)
        if path.is_dir():
            files += [p for p in sorted(path.glob("*-index.fits*"))]
        else:
            files.append(path)
        excl = block.background.exclusion
        for value in (excl.mask, excl.region_file):
            if value:
                files.append(config.resolve_path(value))
        bm = block.background.model
        if bm.source == "file":
            files.append(config.resolve_path(bm.file))
        elif bm.source == "off_runs" and bm.off_datastore:
            path = config.resolve_path(bm.off_datastore)
            files += sorted(path.glob("*-index.fits*")) if path.is_dir() else [path]
    elif block.instrument == "dl4":
        for path in config.resolve_paths(block.path):
            # OGIP companions (bkg, arf, rmf) and fermipy products sit next to the main file
            if block.format in ("ogip", "fermipy"):
                files += sorted(p for p in path.parent.iterdir() if p.is_file())
            else:
                files.append(path)
        if block.models:
            files.append(config.resolve_path(block.models))
    elif block.instrument == "lat":
        files += config.resolve_paths(block.events) + config.resolve_paths(block.spacecraft)
        if block.ltcube.file:
            files.append(config.resolve_path(block.ltcube.file))
        for comp in block.components:
            if comp.isodiff:
                files.append(config.resolve_path(comp.isodiff))
    return sorted(set(files))
