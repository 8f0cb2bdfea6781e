"""The all-sky, multi-file pipeline: weekly FT1 files + FT2 → counts, livetime and exposure cubes."""
import json
import logging
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from astropy.io import fits

from ..errors import ConfigError, GammapyLATError, LATFileError
from ..livetime.compute import check_livetime_request
from ..utils import atomic_output, check_output_dir
from ..utils.hashing import code_version, content_hash, file_identity
from ..utils.io import is_inside, temporary_path
from ..utils.resources import check_disk, check_memory, check_tasks
from . import steps
from .config import AllSkyConfig
from .engine import Executor, Task, TaskGraph, outdir_lock
from .geometry import component_exposure_geom, component_size, exposure_tiles
from .interfaces import caldb_index_file

__all__ = ["AllSkyPipeline", "AllSkyResult", "TimeChunk"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TimeChunk:
    """A time window ``[tmin, tmax]`` (MET, s) of one FT1 file."""

    ft1: Path
    tmin: float
    tmax: float
    index: int
    last: bool

    @property
    def label(self):
        return f"{self.ft1.name}[{self.index}]"


@dataclass
class AllSkyResult:
    """Products and figures of a pipeline run.

    Attributes
    ----------
    products : dict
        ``{component name: {"counts": path, "livetime": path, "exposure": path or None}}`` of the
        published products.
    report : `~gammapy_lat.pipeline.engine.RunReport`
        Task figures (tasks run and found, wall time, peak memory per worker).
    summary : dict
        Per component: number of counts, ontime, livetime and exposure figures.
    """

    products: dict = field(default_factory=dict)
    report: object = None
    summary: dict = field(default_factory=dict)


def _ft1_time_range(path):
    try:
        with fits.open(path, memmap=True) as hdulist:
            header = hdulist["EVENTS"].header
            tstart, tstop = header.get("TSTART"), header.get("TSTOP")
            if tstart is None or tstop is None:
                gti = hdulist["GTI"].data
                tstart, tstop = float(np.min(gti["START"])), float(np.max(gti["STOP"]))
    except KeyError as exc:
        raise LATFileError(f"FT1 file {path} lacks the EVENTS or GTI extension") from exc
    except OSError as exc:
        raise LATFileError(f"Cannot read FT1 file {path}: {exc}") from exc
    return float(tstart), float(tstop)


def _ft2_time_range(path):
    try:
        with fits.open(path, memmap=True) as hdulist:
            hdu = hdulist["SC_DATA"]
            tstart, tstop = hdu.header.get("TSTART"), hdu.header.get("TSTOP")
            if tstart is None or tstop is None:
                tstart, tstop = float(hdu.data["START"][0]), float(hdu.data["STOP"][-1])
    except KeyError as exc:
        raise LATFileError(f"FT2 file {path} lacks the SC_DATA extension") from exc
    except OSError as exc:
        raise LATFileError(f"Cannot read FT2 file {path}: {exc}") from exc
    return float(tstart), float(tstop)


class AllSkyPipeline:
    """Counts, livetime and exposure cubes from many FT1 files, computed in parallel and co-added.

    The work is a graph of tasks, each writing one partial product named after the content hash
    of its inputs:

    1. per time chunk (one FT1 file, or a slice of it): the good time intervals (FT1 GTI ∩
       gtmktime filter on the FT2 rows);
    2. per component and chunk: the sparse counts; per zenith cut and chunk: the livetime cube;
    3. per component: the co-added counts cube; per zenith cut: the co-added livetime cube;
    4. per component and spatial tile: the exposure; then the assembled exposure cube.

    Tasks run through `gammapy.utils.parallel.run_multiprocessing`: local processes, or Ray with
    ``parallel.backend: ray``. A rerun computes only the products that are missing, so a run
    killed at any point resumes where it stopped. When everything is done the final products
    are published under stable names in ``outdir/<component>/``: ``ccube.fits`` (gtbin),
    ``ltcube.fits`` (gtltcube) and ``bexpmap.fits`` (gtexpcube2).

    Parameters
    ----------
    config : `AllSkyConfig`
        Configuration.
    """

    def __init__(self, config):
        if not isinstance(config, AllSkyConfig):
            config = AllSkyConfig.from_dict(config)
        self.config = config
        self.outdir = Path(config.outdir)

    @classmethod
    def read(cls, path):
        """Pipeline from a YAML configuration file."""
        return cls(AllSkyConfig.read(path))

    # ------------------------------------------------------------------------- inputs
    def _identity(self, path):
        return file_identity(path, mode=self.config.file_identity)

    def time_chunks(self):
        """The time chunks: one per FT1 file, or ``livetime.time_chunk`` long slices of each.

        Raises
        ------
        ConfigError
            If FT1 files overlap in time (their livetime would be counted twice).
        """
        files = self.config.ft1_files()
        ranges = sorted(((*_ft1_time_range(f), f) for f in files), key=lambda r: r[0])
        for (a0, a1, fa), (b0, b1, fb) in zip(ranges[:-1], ranges[1:]):
            if b0 < a1 - 1e-6:
                raise ConfigError(
                    f"ft1: files {fa} (MET {a0}-{a1}) and {fb} (MET {b0}-{b1}) overlap in time; "
                    "each time range must be in exactly one file"
                )
        chunks = []
        step = self.config.livetime.time_chunk
        # count before building: time_chunk: 1 on weekly files would be millions of tasks
        nchunks = sum(1 if step is None else max(1, int(np.ceil((b - a) / step))) for a, b, _ in ranges)
        self._check_tasks(nchunks)
        for tstart, tstop, path in ranges:
            if step is None or tstop - tstart <= step:
                edges = [tstart, tstop]
            else:
                n = int(np.ceil((tstop - tstart) / step))
                edges = [tstart + i * step for i in range(n)] + [tstop]
            for i, (a, b) in enumerate(zip(edges[:-1], edges[1:])):
                chunks.append(TimeChunk(Path(path), float(a), float(b), i, i == len(edges) - 2))
        return chunks

    def _ft2_ranges(self):
        if not hasattr(self, "_ft2_cache"):
            self._ft2_cache = [(*_ft2_time_range(f), f) for f in self.config.ft2_files()]
        return self._ft2_cache

    def _ft2_for(self, chunk):
        files = [f for t0, t1, f in self._ft2_ranges() if t1 > chunk.tmin and t0 < chunk.tmax]
        if not files:
            raise ConfigError(
                f"ft2: no spacecraft file covers MET {chunk.tmin}-{chunk.tmax} of FT1 file {chunk.ft1}"
            )
        return sorted(files)

    def _caldb_identity(self):
        index = caldb_index_file(self.config.caldb)
        return self._identity(index) if index is not None else None

    # -------------------------------------------------------------------------- graph
    def _partial(self, kind, name, key):
        return self.outdir / "partials" / kind / f"{name}_{key}.fits"

    def _final(self, graph, kind, name, parts, code, func, **kwargs):
        """Add the task combining ``parts`` into the final product ``final/<kind>_<name>_<key>.fits``."""
        key = content_hash(kind, [t.key for t in parts], code)
        return graph.add(
            Task(
                key=key,
                kind=kind,
                label=f"{kind} {name}",
                output=self.outdir / "final" / f"{kind}_{name}_{key}.fits",
                func=func,
                kwargs=kwargs,
                deps=tuple(t.key for t in parts),
            )
        )

    # ---------------------------------------------------------------------- resources
    def _zenith_cuts(self):
        cfg = self.config
        return {cfg.livetime.zmax if cfg.livetime.zmax is not None else c.zmax for c in cfg.components}

    def _check_tasks(self, nchunks):
        cfg = self.config
        ncomp = len(cfg.components)
        nzmax = len(self._zenith_cuts())
        ntasks = nchunks * (1 + ncomp + nzmax) + nzmax + 2 * ncomp
        step = cfg.livetime.time_chunk
        check_tasks(
            ntasks,
            f"livetime.time_chunk={step:g} s ({nchunks:,} time chunks)" if step else f"{nchunks:,} FT1 files",
            advice="use longer time chunks (livetime.time_chunk) or none",
        )

    def check_resources(self):
        """Refuse a configuration whose memory, disk space or tasks exceed the limits, before any work.

        Estimated from the configuration alone (no geometry or array is built): the largest
        counts, exposure and livetime arrays one worker holds, times the number of workers; the
        partial and final products on disk against the free space of ``outdir``.

        Raises
        ------
        ResourceLimitError
            Naming the component or key, the estimate and the limit.
        """

        cfg = self.config
        njobs = cfg.parallel.n_jobs
        workers = f" with {njobs} workers" if njobs > 1 else ""
        disk = 0.0
        for comp in cfg.components:
            nx, ny, nbins = component_size(comp)
            npix = float(nx) * ny
            # counts: dense int32 cube plus the sparse copy; exposure: one tile of float64 planes
            counts = 3.0 * 4 * npix * nbins
            tile = npix if ny == 1 else min(npix, max(nx, float(cfg.exposure_tile_pixels)))
            exposure = 4.0 * 8 * tile * (nbins + 1) if comp.exposure else 0.0
            shape = f"{nx} pixels" if ny == 1 else f"{nx} x {ny} pixels"
            check_memory(
                njobs * max(counts, exposure) + 4.0 * npix * (nbins + 1),
                f"Component {comp.name!r} ({shape} x {nbins} energy bins{workers})",
                advice="use larger pixels (geom.binsz), a lower HEALPix order, a smaller width or fewer energy bins",
            )
            disk += 4.0 * npix * nbins + (2 * 4.0 * npix * (nbins + 1) if comp.exposure else 0.0)
        lt = cfg.livetime
        try:
            check_livetime_request(lt.nside, lt.ncostheta, n_chunks=njobs)
        except GammapyLATError as exc:
            raise type(exc)(f"livetime.nside={lt.nside}: {exc}") from None
        # one livetime partial per chunk and zenith cut (EXPOSURE and WEIGHTED_EXPOSURE columns)
        lt_bytes = 12.0 * lt.nside**2 * (2 * 8 * lt.ncostheta + 16)
        ranges = [_ft1_time_range(f) for f in cfg.ft1_files()]
        step = lt.time_chunk
        nchunks = sum(1 if step is None else max(1, int(np.ceil((b - a) / step))) for a, b in ranges)
        self._check_tasks(nchunks)
        nzmax = len(self._zenith_cuts())
        disk += nzmax * (nchunks + 1) * lt_bytes
        existing = sum(f.stat().st_size for f in self.outdir.rglob("*.fits") if f.is_file()) if self.outdir.is_dir() else 0
        check_disk(disk - existing, self.outdir, "This pipeline run (partial and final products)")

    def build_graph(self):
        """The task graph of this configuration.

        Returns
        -------
        graph : `~gammapy_lat.pipeline.engine.TaskGraph`
        finals : dict
            ``{component name: {"counts": task, "livetime": task, "exposure": task or None}}``.
        """
        cfg = self.config
        self.check_resources()
        code = code_version()
        graph = TaskGraph()
        chunks = self.time_chunks()

        gti_tasks = {}
        for chunk in chunks:
            ft2 = self._ft2_for(chunk)
            ft1_id = self._identity(chunk.ft1)
            key = content_hash(
                "gti", ft1_id, [self._identity(f) for f in ft2], cfg.filter, chunk.tmin, chunk.tmax, code
            )
            task = Task(
                key=key,
                kind="gti",
                label=f"gti {chunk.label}",
                output=self._partial("gti", f"{chunk.ft1.stem}_{chunk.index}", key),
                func=steps.make_chunk_gti,
                kwargs=dict(ft1=str(chunk.ft1), ft2=[str(f) for f in ft2], filter=cfg.filter, tmin=chunk.tmin, tmax=chunk.tmax),
            )
            gti_tasks[chunk] = (graph.add(task), ft1_id, ft2)

        finals = {}
        livetime_finals = {}
        for comp in cfg.components:
            comp_dict = comp.model_dump(mode="json")
            binning = {k: v for k, v in comp_dict.items() if k not in ("name", "exposure")}
            # counts: one sparse partial per chunk
            count_tasks = []
            for chunk in chunks:
                gti_task, ft1_id, _ = gti_tasks[chunk]
                key = content_hash("counts", gti_task.key, ft1_id, binning, cfg.evclass, chunk.last, code)
                count_tasks.append(
                    graph.add(
                        Task(
                            key=key,
                            kind="counts",
                            label=f"counts {comp.name} {chunk.label}",
                            output=self._partial("counts", f"{comp.name}_{chunk.ft1.stem}_{chunk.index}", key),
                            func=steps.make_counts_partial,
                            kwargs=dict(
                                ft1=str(chunk.ft1),
                                gti=str(gti_task.output),
                                component=comp_dict,
                                evclass=cfg.evclass,
                                last_chunk=chunk.last,
                            ),
                            deps=(gti_task.key,),
                        )
                    )
                )
            # livetime: one cube per chunk, shared by the components of the same zenith cut
            lt_zmax = cfg.livetime.zmax if cfg.livetime.zmax is not None else comp.zmax
            lt_params = dict(nside=cfg.livetime.nside, ncostheta=cfg.livetime.ncostheta, zmax=lt_zmax)
            lt_name = f"zmax{lt_zmax:g}"
            if lt_name not in livetime_finals:
                lt_tasks = []
                for chunk in chunks:
                    gti_task, _, ft2 = gti_tasks[chunk]
                    key = content_hash(
                        "livetime", gti_task.key, [self._identity(f) for f in ft2], lt_params, code
                    )
                    lt_tasks.append(
                        graph.add(
                            Task(
                                key=key,
                                kind="livetime",
                                label=f"livetime {lt_name} {chunk.label}",
                                output=self._partial("livetime", f"{lt_name}_{chunk.ft1.stem}_{chunk.index}", key),
                                func=steps.make_livetime_partial,
                                kwargs=dict(ft2=[str(f) for f in ft2], gti=str(gti_task.output), **lt_params),
                                deps=(gti_task.key,),
                            )
                        )
                    )
                livetime_finals[lt_name] = self._final(
                    graph, "ltcube", lt_name, lt_tasks, code, steps.coadd_livetime,
                    partials=[str(t.output) for t in lt_tasks],
                )
            lt_final = livetime_finals[lt_name]
            ccube = self._final(
                graph, "ccube", comp.name, count_tasks, code, steps.coadd_counts,
                partials=[str(t.output) for t in count_tasks],
                gtis=[str(gti_tasks[c][0].output) for c in chunks],
                component=comp_dict,
            )
            expo = None
            if comp.exposure:
                exposure_setup = dict(
                    energy=comp_dict["energy"], geom=comp_dict["geom"], evtype=comp.evtype_mask, irf_name=cfg.irf_name
                )
                caldb_id = self._caldb_identity()
                tile_tasks = []
                for tile in exposure_tiles(component_exposure_geom(comp), cfg.exposure_tile_pixels):
                    key = content_hash("exposure", lt_final.key, exposure_setup, caldb_id, list(tile), code)
                    tile_tasks.append(
                        graph.add(
                            Task(
                                key=key,
                                kind="exposure",
                                label=f"exposure {comp.name} rows {tile[0]}-{tile[1]}",
                                output=self._partial("exposure", f"{comp.name}_{tile[0]}-{tile[1]}", key),
                                func=steps.make_exposure_tile,
                                kwargs=dict(
                                    ltcube=str(lt_final.output),
                                    component=comp_dict,
                                    irf_name=cfg.irf_name,
                                    caldb=cfg.caldb,
                                    tile=tuple(tile),
                                ),
                                deps=(lt_final.key,),
                            )
                        )
                    )
                expo = self._final(
                    graph, "bexpmap", comp.name, tile_tasks, code, steps.assemble_exposure,
                    tiles=[str(t.output) for t in tile_tasks],
                    ltcube=str(lt_final.output),
                    component=comp_dict,
                    irf_name=cfg.irf_name,
                )
            finals[comp.name] = {"counts": ccube, "livetime": lt_final, "exposure": expo}
        return graph, finals

    # ---------------------------------------------------------------------------- run
    def executor(self, progress=None):
        """The `Executor` configured by ``parallel``."""
        par = self.config.parallel
        return Executor(n_jobs=par.n_jobs, backend=par.backend, ray_address=par.ray_address, progress=progress)

    def run(self, progress=None):
        """Compute what is missing and publish the final products.

        Parameters
        ----------
        progress : callable, optional
            ``progress(result, n_finished, n_total)`` called after each task.

        Returns
        -------
        result : `AllSkyResult`
        """
        check_output_dir(self.outdir, what="outdir")
        with outdir_lock(self.outdir):
            graph, finals = self.build_graph()
            report = self.executor(progress).run(graph)
            products = self._publish(finals)
            summary = self._summary(finals, report)
            self._write_manifest(products, finals, report, summary)
        return AllSkyResult(products=products, report=report, summary=summary)

    def _publish(self, finals):
        products = {}
        for name, tasks in finals.items():
            folder = self.outdir / name
            if not is_inside(folder, self.outdir) or folder.resolve() == self.outdir.resolve():
                raise ConfigError(f"components: the products of {name!r} would be published outside {self.outdir}")
            folder.mkdir(parents=True, exist_ok=True)
            out = {}
            for kind, filename in (("counts", "ccube.fits"), ("livetime", "ltcube.fits"), ("exposure", "bexpmap.fits")):
                task = tasks[kind]
                if task is None:
                    out[kind] = None
                    continue
                target = folder / filename
                _link_atomic(task.output, target)
                out[kind] = target
            products[name] = out
        return products

    def _previous_figures(self):
        """Figures of the final products recorded by an earlier run (``{key: figures}``)."""
        try:
            manifest = json.loads((self.outdir / "manifest.json").read_text())
            return {k: v for k, v in manifest.get("figures", {}).items() if isinstance(v, dict)}
        except (OSError, ValueError):
            return {}

    def _summary(self, finals, report):
        info = self._previous_figures()
        info.update({r.key: r.info for r in report.results if r.info})
        for tasks in finals.values():
            for task in tasks.values():
                if task is not None and task.key not in info and task.output.exists():
                    # made by a run that stopped before writing its manifest
                    info[task.key] = steps.product_figures(task.kind, task.output)
        self._figures = info
        summary = {}
        for name, tasks in finals.items():
            entry = {}
            for kind, task in tasks.items():
                if task is not None and task.key in info:
                    entry.update(info[task.key])
            summary[name] = entry
        return summary

    def _write_manifest(self, products, finals, report, summary):
        manifest = {
            "config": self.config.model_dump(mode="json"),
            "code_version": code_version(),
            "products": {
                name: {
                    kind: None if tasks[kind] is None else {"path": str(products[name][kind]), "key": tasks[kind].key}
                    for kind in tasks
                }
                for name, tasks in finals.items()
            },
            "summary": summary,
            "figures": {
                t.key: info
                for tasks in finals.values()
                for t in tasks.values()
                if t is not None and (info := self._figures.get(t.key))
            },
            "tasks": {"total": report.n_tasks, "computed": report.n_done, "found": report.n_present},
            "wall_time_s": report.wall_time,
            "finished": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }
        with atomic_output(self.outdir / "manifest.json", overwrite=True) as tmp:
            tmp.write_text(json.dumps(manifest, indent=2, default=str))


def _link_atomic(source, target):
    """Make ``target`` name the content of ``source`` (hard link, or copy), replacing it atomically."""


    source, target = Path(source), Path(target)
    if target.exists() and not target.is_symlink() and os.path.samefile(source, target):
        return  # published by an earlier run (os.replace of two links to one file does nothing)
    tmp = temporary_path(target)
    try:
        try:
            os.link(source, tmp)
        except OSError:
            shutil.copyfile(source, tmp)
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
