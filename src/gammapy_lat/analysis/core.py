"""The analysis runner: reduce → fit → estimate → report, driven by an `AnalysisConfig`.

Each step writes its products under ``general.outdir`` and records what it depended on (see
`~gammapy_lat.analysis.products.StepState`), so that running again skips what is up to date and
reruns what a changed setting or input file affects. A step run on its own first brings the
steps it needs up to date (reading their products from disk when possible).
"""
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

import astropy.units as u
import numpy as np
import yaml
from astropy.table import vstack
from gammapy.datasets import Datasets, MapDataset
from gammapy.makers.utils import ThetaSquaredTable
from gammapy.maps import Map, MapAxis, WcsGeom
from gammapy.modeling.models import (
    Models,
    PointSpatialModel,
    PowerLawSpectralModel,
    SkyModel,
)
from gammapy.utils import pbar
from tqdm.auto import tqdm

from ..errors import ConfigError
from ..estimators import excess_map, light_curve, sed_points, ts_map
from ..iact.theta2 import theta2_signal
from ..makers.utils import energy_mask
from ..modeling import LATFit
from ..utils import atomic_output, folder_lock, write_fits_atomic
from ..utils.hashing import content_hash, file_identity
from .config import AnalysisConfig
from .modelbuilder import add_background_models, build_models
from .products import (
    StepState,
    read_datasets,
    write_datasets,
    write_models,
    write_table,
    write_yaml_atomic,
)
from .reduce import block_input_files, get_iact_observations, reduce_block
from .report import write_report

__all__ = ["Analysis", "STEPS", "StepRecord"]

log = logging.getLogger(__name__)

STEPS = ("reduce", "fit", "estimate", "report")


@dataclass
class StepRecord:
    """What happened to one (sub-)step during a run."""

    name: str
    status: str  # "ran" or "up to date"
    seconds: float = 0.0
    products: list = field(default_factory=list)


def _progress(iterable, desc, enabled=True, total=None):
    return tqdm(iterable, desc=desc, total=total, disable=(None if enabled else True), leave=False)


class Analysis:
    """Config-driven analysis of LAT, IACT and already-reduced datasets, alone or jointly.

    Parameters
    ----------
    config : `AnalysisConfig`, dict, or str/Path of a YAML file
        Configuration. It is validated and every input file is checked before any work starts.

    Examples
    --------
    >>> from gammapy_lat.analysis import Analysis
    >>> analysis = Analysis("configs/hess-crab-3d.yaml")  # doctest: +SKIP
    >>> analysis.run()  # doctest: +SKIP
    >>> analysis.models["crab"].spectral_model  # doctest: +SKIP
    """

    def __init__(self, config):
        self.config = config
        self.block_datasets = {}
        self._own_models = {}
        self._block_keys = {}
        self.models = None
        self.fit_result = None
        self.flux_points = None
        self.light_curve = None
        self.maps = {}
        self.theta2 = {}
        self.records = []
        self._fit_key_loaded = None

    # ------------------------------------------------------------------ config
    @property
    def config(self):
        """The `AnalysisConfig`."""
        return self._config

    @config.setter
    def config(self, value):
        if isinstance(value, AnalysisConfig):
            config = value
        elif isinstance(value, dict):
            config = AnalysisConfig.from_dict(value)
        elif isinstance(value, (str, Path)):
            config = AnalysisConfig.read(value)
        else:
            raise TypeError(f"config must be an AnalysisConfig, a dict or a YAML path, got {type(value)}")
        config.check_inputs()
        config.set_logging()

        pbar.SHOW_PROGRESS_BAR = config.general.progress_bar
        self._config = config

    @property
    def outdir(self):
        return self.config.outdir

    @property
    def state(self):
        return StepState(self.outdir)

    @property
    def datasets(self):
        """All datasets of all blocks as one `~gammapy.datasets.Datasets` (after `reduce`)."""

        out = Datasets()
        for block in self.config.datasets:
            if block.name in self.block_datasets:
                out.extend(self.block_datasets[block.name])
        return out

    # ------------------------------------------------------------------ keys
    def _block(self, name):
        for block in self.config.datasets:
            if block.name == name:
                return block
        raise ConfigError(f"No datasets block named {name!r}")

    def reduce_key(self, block):
        """Key of the reduction of one block (its settings except ``fit_range``, its input files)."""
        section = block.model_dump(mode="json", exclude={"fit_range"})
        return content_hash("reduce", section, _file_identities(block_input_files(block, self.config)))

    def fit_key(self):
        """Key of the fit: reduction keys, models and fit settings, fit ranges, model files."""
        cfg = self.config
        model_files = [cfg.resolve_path(e.file) for e in cfg.models if e.file is not None]
        model_files += [cfg.resolve_path(e.catalog.catalog) for e in cfg.models if e.catalog is not None]
        return content_hash(
            "fit",
            {b.name: self.reduce_key(b) for b in cfg.datasets},
            [self._entry_json(e) for e in cfg.models],
            cfg.fit.model_dump(mode="json"),
            {b.name: b.fit_range.model_dump(mode="json") for b in cfg.datasets},
            _file_identities(model_files),
            cfg.outputs.write_covariance,
        )

    def _entry_json(self, entry):
        """Models entry settings with paths resolved (a path spelled differently is the same input)."""
        data = entry.model_dump(mode="json")
        if entry.file is not None:
            data["file"] = str(self.config.resolve_path(entry.file).resolve())
        if entry.catalog is not None:
            data["catalog"]["catalog"] = str(self.config.resolve_path(entry.catalog.catalog).resolve())
        return data

    def estimator_key(self, name, fit_key=None):
        section = getattr(self.config.estimators, name)
        extra = None
        if name == "theta2":
            extra = {b.name: self.reduce_key(b) for b in self._theta2_blocks()}
        return content_hash("estimate", name, fit_key or self.fit_key(), section.model_dump(mode="json"), extra)

    def report_key(self):
        fit_key = self.fit_key()
        return content_hash(
            "report",
            fit_key,
            {n: self.estimator_key(n, fit_key) for n in self._enabled_estimators()},
            self.config.outputs.model_dump(mode="json"),
        )

    def _enabled_estimators(self):
        est = self.config.estimators
        return [n for n in ("flux_points", "light_curve", "excess_map", "ts_map", "theta2") if getattr(est, n)]

    # ------------------------------------------------------------------ running
    def run(self, steps=None, force=False):
        """Run steps in order (all by default) and return the summary text.

        Parameters
        ----------
        steps : list of str, optional
            Subset of ``reduce``, ``fit``, ``estimate``, ``report``.
        force : bool
            Rerun the requested steps even when up to date.
        """
        steps = list(STEPS) if not steps else list(steps)
        unknown = [s for s in steps if s not in STEPS]
        if unknown:
            raise ConfigError(f"Unknown step(s) {unknown}: choose from {', '.join(STEPS)}")
        self.records = []
        # one run at a time per output folder (the lock of the all-sky pipeline)
        with folder_lock(self.outdir, what="analysis or pipeline run"):
            for step in STEPS:
                if step in steps:
                    getattr(self, step)(force=force)
        text = self.summary()
        log.debug("\n" + text)
        return text

    def _record(self, name, status, start, products=()):
        record = StepRecord(name, status, time.perf_counter() - start, [str(p) for p in products])
        self.records.append(record)
        log.info(f"{name}: {status} ({record.seconds:.1f} s)")
        return record

    # ---- reduce
    def reduce(self, force=False, blocks=None):
        """Reduce (or read) the datasets of every block; products in ``<outdir>/reduce/<block>/``.

        Returns
        -------
        datasets : `~gammapy.datasets.Datasets`
        """
        names = blocks or [b.name for b in self.config.datasets]
        state = self.state
        for name in _progress(names, "reduce", self.config.general.progress_bar):
            block = self._block(name)
            key = self.reduce_key(block)
            step = f"reduce/{name}"
            start = time.perf_counter()
            if not force and self._block_keys.get(name) == key:
                continue
            if not force and state.is_done(step, key):
                self._set_block(name, read_datasets(self.outdir / "reduce" / name), key)
                self._record(step, "up to date", start)
                continue
            log.info(f"Reducing datasets block '{name}' ({block.instrument})")
            datasets = reduce_block(block, self.config)
            folder = self.outdir / "reduce" / name
            products = write_datasets(datasets, folder, checksum=self.config.outputs.checksum)
            state.record(step, key, products)
            self._set_block(name, datasets, key)
            self._record(step, "ran", start, products)
        return self.datasets

    def _set_block(self, name, datasets, key):
        self.block_datasets[name] = datasets
        self._own_models[name] = Models(datasets.models)
        self._block_keys[name] = key
        self._fit_key_loaded = None

    # ---- fit
    def _fit_datasets(self):
        """Datasets of all blocks with fit masks set from the fit ranges."""

        self.reduce()
        frange = self.config.fit.energy_range
        datasets = Datasets()
        for block in self.config.datasets:
            emin = _max(block.fit_range.min, frange.min)
            emax = _min(block.fit_range.max, frange.max)
            for dataset in self.block_datasets[block.name]:
                geom = dataset.counts.geom
                dataset.mask_fit = Map.from_geom(geom, data=energy_mask(geom, emin, emax), dtype=bool)
                if emin is not None or emax is not None:
                    usable = dataset.mask_fit.data & (dataset.mask_safe.data if dataset.mask_safe is not None else True)
                    if not np.any(usable):
                        log.warning(f"Dataset {dataset.name}: no bin left in the fit range {emin} - {emax}")
                datasets.append(dataset)
        return datasets

    def _make_fit(self):
        cfg = self.config.fit
        # MIGRAD strategy 0, then HESSE strategy 1 (optimize_opts may override the strategy)
        return LATFit(backend=cfg.backend, optimize_opts=dict(cfg.optimize_opts))

    def fit(self, force=False):
        """Fit all datasets together with the shared models; products in ``<outdir>/fit/``."""

        datasets = self._fit_datasets()
        key = self.fit_key()
        start = time.perf_counter()
        state = self.state
        folder = self.outdir / "fit"
        if not force and self._fit_key_loaded == key:
            return self.fit_result
        if not force and state.is_done("fit", key):
            self.models = Models.read(folder / "models.yaml")
            datasets.models = self.models
            self.fit_result = yaml.safe_load((folder / "fit_result.yaml").read_text())
            self._fit_key_loaded = key
            self._record("fit", "up to date", start)
            return self.fit_result

        models = build_models(self.config, self.block_datasets)
        for block in self.config.datasets:
            for model in self._own_models[block.name]:
                if model.name in models.names:
                    raise ConfigError(
                        f"models: name {model.name!r} of the config clashes with a model of "
                        f"datasets block '{block.name}'"
                    )
                models.append(model.copy(name=model.name))
        models = add_background_models(datasets, models)
        if len(models.parameters.free_parameters) == 0:
            raise ConfigError("models: nothing to fit (no model with free parameters)")
        datasets.models = models
        log.info(f"Fitting {len(datasets)} datasets with {len(models)} models")
        fit = self._make_fit()
        if self.config.fit.covariance:
            result = fit.run(datasets=datasets)
            optimize, covariance = result.optimize_result, result.covariance_result
        else:
            optimize, covariance = fit.optimize(datasets=datasets), None
        if not optimize.success:
            log.warning(f"Fit did not converge: {optimize.message}")
        self.models = datasets.models
        info = {
            "success": bool(optimize.success),
            "message": str(optimize.message),
            "backend": optimize.backend,
            "method": optimize.method,
            "nfev": int(optimize.nfev),
            "total_stat": float(optimize.total_stat),
            "covariance_success": None if covariance is None else bool(covariance.success),
            "datasets": {d.name: float(d.stat_sum()) for d in datasets},
        }
        products = write_models(self.models, folder / "models.yaml", self.config.outputs.write_covariance)
        products.append(write_table(self.models.parameters.to_table(), folder / "parameters.ecsv"))
        products.append(write_yaml_atomic(info, folder / "fit_result.yaml"))
        state.record("fit", key, products)
        self.fit_result = info
        self._fit_key_loaded = key
        self._record("fit", "ran", start, products)
        return info

    # ---- estimate
    def estimate(self, force=False, estimators=None, _dependency=False):
        """Run the configured estimators; products in ``<outdir>/estimate/``."""
        names = estimators or self._enabled_estimators()
        if not names:
            return
        self.fit()
        fit_key = self.fit_key()
        state = self.state
        for name in _progress(names, "estimate", self.config.general.progress_bar):
            if getattr(self.config.estimators, name) is None:
                raise ConfigError(f"estimators.{name} is not configured")
            key = self.estimator_key(name, fit_key)
            step = f"estimate/{name}"
            start = time.perf_counter()
            if not force and state.is_done(step, key):
                if not _dependency:
                    self._record(step, "up to date", start)
                continue
            products = getattr(self, f"_estimate_{name}")()
            state.record(step, key, products)
            self._record(step, "ran", start, products)

    def _energy_bounds(self):
        emin, emax = [], []
        for dataset in self.datasets:
            axis = dataset.counts.geom.axes["energy"]
            emin.append(axis.edges[0])
            emax.append(axis.edges[-1])
        return min(emin), max(emax)

    def _check_source(self, source, key):
        if source not in self.models.names:
            raise ConfigError(f"estimators.{key}.source: no model named {source!r} (models: {self.models.names})")

    def _estimate_flux_points(self):
        cfg = self.config.estimators.flux_points
        self._check_source(cfg.source, "flux_points")
        edges = cfg.energy.to_axis().edges
        datasets = self._fit_datasets()
        datasets.models = self.models
        by_block = cfg.by_block if cfg.by_block is not None else len(self.config.datasets) > 1
        if by_block:
            groups = [(b.name, Datasets([d for d in datasets if d.name in self.block_datasets[b.name].names]))
                      for b in self.config.datasets]
        else:
            groups = [(None, datasets)]
        products, tables = [], []
        self.flux_points = {}
        frange = self.config.fit.energy_range
        for name, group in groups:
            group_edges = edges
            if name is not None:
                block = self._block(name)
                lo, hi = self._group_energy_range(group)
                lo = _max(_max(block.fit_range.min, frange.min), lo)
                hi = _min(_min(block.fit_range.max, frange.max), hi)
                group_edges = _clip_edges(edges, lo, hi)
                if len(group_edges) < 2:
                    log.warning(f"flux points: no complete energy bin in the range of block '{name}'")
                    continue
            fp = sed_points(
                group,
                cfg.source,
                group_edges,
                selection_optional=cfg.selection_optional,
                fit=self._make_fit(),
                n_sigma_ul=cfg.n_sigma_ul,
                n_jobs=self.config.general.n_jobs,
            )
            self.flux_points[name or "all"] = fp
            suffix = f"_{name}" if name else ""
            path = self.outdir / "estimate" / f"flux_points{suffix}.fits"
            with _atomic(path) as tmp:
                fp.write(tmp, sed_type="likelihood", overwrite=True)
            products.append(path)
            table = fp.to_table(sed_type="e2dnde", formatted=True)
            keep = [c for c in ("e_ref", "e_min", "e_max", "e2dnde", "e2dnde_err", "e2dnde_ul", "ts", "sqrt_ts", "is_ul")
                    if c in table.colnames]
            table = table[keep]
            for col in ("e_ref", "e_min", "e_max"):
                table[col] = table[col].quantity.to("TeV")
            table["block"] = name or "all"
            tables.append(table)
        if not tables:
            raise ConfigError("estimators.flux_points: no energy bin lies in the datasets' ranges")
        products.append(write_table(vstack(tables), self.outdir / "estimate" / "flux_points.ecsv"))
        return products

    @staticmethod
    def _group_energy_range(datasets):
        lo = min(d.counts.geom.axes["energy"].edges[0] for d in datasets)
        hi = max(d.counts.geom.axes["energy"].edges[-1] for d in datasets)
        return lo, hi

    def _estimate_light_curve(self):
        cfg = self.config.estimators.light_curve
        self._check_source(cfg.source, "light_curve")
        emin, emax = self._energy_bounds()
        edges = u.Quantity([_first(cfg.energy.min, emin), _first(cfg.energy.max, emax)])
        intervals = [(t.start, t.stop) for t in cfg.time_intervals] or None
        datasets = self._fit_datasets()
        datasets.models = self.models
        self.light_curve = light_curve(
            datasets,
            cfg.source,
            time_intervals=intervals,
            energy_edges=edges,
            selection_optional=cfg.selection_optional,
            fit=self._make_fit(),
            n_sigma_ul=cfg.n_sigma_ul,
            n_jobs=self.config.general.n_jobs,
        )
        path = self.outdir / "estimate" / "light_curve.fits"
        with _atomic(path) as tmp:
            self.light_curve.write(tmp, format="lightcurve", sed_type="flux", overwrite=True)
        return [path]

    def _map_blocks(self, names):
        """Stacked map dataset of each selected block that holds map (3D) datasets."""

        out = {}
        for block in self.config.datasets:
            if names is not None and block.name not in names:
                continue
            datasets = self.block_datasets[block.name]
            maps = [d for d in datasets if isinstance(d.counts.geom, WcsGeom)]
            if not maps or not isinstance(maps[0], MapDataset):
                continue
            dataset = maps[0] if len(maps) == 1 else datasets.stack_reduce(name=block.name)
            out[block.name] = dataset
        if not out:
            raise ConfigError("No map (3D) datasets for the map estimators")
        return out

    def _estimate_excess_map(self):
        cfg = self.config.estimators.excess_map
        products = []
        for name, dataset in self._map_blocks(cfg.datasets).items():
            edges = _map_energy_edges(cfg.energy, dataset)
            dataset = dataset.copy(name=dataset.name)
            dataset.models = self.models
            result = excess_map(dataset, correlation_radius=cfg.correlation_radius, energy_edges=edges)
            self.maps[f"excess_{name}"] = result
            products += _write_flux_maps(result, self.outdir / "estimate" / f"excess_map_{name}.fits")
        return products

    def _estimate_ts_map(self):
        cfg = self.config.estimators.ts_map
        products = []
        for name, dataset in self._map_blocks(cfg.datasets).items():
            edges = _map_energy_edges(cfg.energy, dataset)
            dataset = dataset.copy(name=dataset.name)
            kept = [m for m in self.models if m.name not in cfg.exclude]
            dataset.models = Models(kept)
            kernel = SkyModel(
                spectral_model=PowerLawSpectralModel(index=cfg.index), spatial_model=PointSpatialModel()
            )
            result = ts_map(
                dataset, model=kernel, kernel_width=cfg.kernel_width, energy_edges=edges,
                n_jobs=self.config.general.n_jobs,
            )
            self.maps[f"ts_{name}"] = result
            products += _write_flux_maps(result, self.outdir / "estimate" / f"ts_map_{name}.fits")
        return products

    def _theta2_blocks(self):
        cfg = self.config.estimators.theta2
        names = cfg.datasets if cfg is not None and cfg.datasets else [b.name for b in self.config.datasets]
        return [b for b in self.config.datasets if b.name in names and b.instrument == "iact"]

    def _estimate_theta2(self):
        cfg = self.config.estimators.theta2
        axis = MapAxis.from_bounds(
            0, cfg.theta2_max.to_value("deg2"), nbin=cfg.nbins, interp="lin", unit="deg2",
            name="theta_squared",
        )
        products = []
        for block in self._theta2_blocks():
            observations = get_iact_observations(block, self.config)
            edges = None
            if cfg.energy.is_set:
                emin, emax = self._energy_bounds()
                edges = u.Quantity([_first(cfg.energy.min, emin), _first(cfg.energy.max, emax)])
            try:
                table = ThetaSquaredTable(
                    observations, axis, cfg.position.to_skycoord(), energy_edges=edges,
                    off_regions_number=cfg.off_regions_number,
                ).run()
            except ValueError as exc:
                raise ConfigError(f"estimators.theta2 (block '{block.name}'): {exc}") from exc

            livetime = sum(o.observation_live_time_duration for o in observations)
            table.meta["signal"] = theta2_signal(table, cfg.theta_cut, livetime)
            self.theta2[block.name] = table
            products.append(write_table(table, self.outdir / "estimate" / f"theta2_{block.name}.ecsv"))
        return products

    # ---- report
    def report(self, force=False):
        """Write a text summary and plots to ``<outdir>/report/``."""
        self.estimate(_dependency=True)
        self.fit()
        key = self.report_key()
        start = time.perf_counter()
        state = self.state
        if not force and state.is_done("report", key):
            self._record("report", "up to date", start)
            return

        products = write_report(self)
        state.record("report", key, products)
        self._record("report", "ran", start, products)

    # ------------------------------------------------------------------ summary
    def summary(self):
        """Short text: what ran, what was up to date, fit status and best-fit values."""
        lines = ["gammapy-lat analysis summary", f"output folder: {self.outdir}"]
        for rec in self.records:
            lines.append(f"  {rec.name:<28s} {rec.status:<11s} {rec.seconds:7.1f} s")
        if self.fit_result:
            res = self.fit_result
            lines.append(
                f"fit: success={res['success']} total_stat={res['total_stat']:.2f} "
                f"({len(res['datasets'])} datasets)"
            )
        if self.models is not None:
            for model in self.models:
                if model.tag[0] != "SkyModel":
                    continue
                free = [p for p in model.parameters if not p.frozen]
                if not free:
                    continue
                values = ", ".join(
                    f"{p.name}={p.value:.4g}" + (f"±{p.error:.2g}" if p.error else "") for p in free[:4]
                )
                lines.append(f"  {model.name}: {values}")
        return "\n".join(lines)


def _file_identities(paths):
    """Identities (path, size, modification time) of the input files of a step."""
    return [file_identity(path) for path in paths]


def _write_flux_maps(maps, path):
    """Write `~gammapy.estimators.FluxMaps` and their reference model atomically."""


    path = Path(path)
    model_path = path.with_name(path.name.split(".")[0] + "_model.yaml")
    written = write_models(Models(maps.reference_model), model_path, write_covariance=False)
    hdulist = maps.to_hdulist(maps.sed_type_init)
    hdulist[0].header["MODEL"] = str(model_path.resolve())
    written.append(write_fits_atomic(hdulist, path, overwrite=True))
    return written


def _atomic(path):
    return atomic_output(path, overwrite=True)


def _clip_edges(edges, lo, hi, min_fraction=0.3):
    """Energy edges restricted to ``[lo, hi]``: inner edges kept, the range ends added as edges
    unless the end bin would be narrower than ``min_fraction`` of a nominal (log) bin."""
    edges = u.Quantity(edges)
    lo, hi = u.Quantity(lo).to(edges.unit), u.Quantity(hi).to(edges.unit)
    lo, hi = max(lo, edges[0]), min(hi, edges[-1])
    if lo >= hi:
        return edges[:0]
    width = np.log(edges[1] / edges[0]).value if len(edges) > 1 else np.inf
    inner = edges[(edges > lo * (1 + 1e-6)) & (edges < hi * (1 - 1e-6))]
    values = [lo] + list(inner) + [hi]
    if len(values) > 2 and np.log(values[1] / values[0]).value < min_fraction * width:
        values.pop(1)
    if len(values) > 2 and np.log(values[-1] / values[-2]).value < min_fraction * width:
        values.pop(-2)
    return u.Quantity(values)


def _first(value, default):
    return default if value is None else value


def _map_energy_edges(energy, dataset):
    """Energy edges of a map estimator: the configured range, open ends from the counts axis."""
    if not energy.is_set:
        return None
    axis = dataset.counts.geom.axes["energy"]
    return u.Quantity([_first(energy.min, axis.edges[0]), _first(energy.max, axis.edges[-1])])


def _max(a, b):
    if a is None:
        return b
    if b is None:
        return a
    return max(a, b)


def _min(a, b):
    if a is None:
        return b
    if b is None:
        return a
    return min(a, b)
