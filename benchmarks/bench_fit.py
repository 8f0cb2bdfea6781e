"""Benchmark: likelihood fits of catalog ROIs on the one-day Crab data set, plain Gammapy and ours.

Dataset: the kit's Crab day through `LATObservation.read` -> `LATMapDatasetMaker` (P8R2_SOURCE_V6,
the gtbin geometry 100 x 100 0.2 deg GAL CAR, 20 energy bins, 48 true-energy bins, 10 x 10 PSF
and EDISP pixels of 2 deg, gtltcube livetime cube of the kit) -> `LATSafeMaskMaker`.

ROIs (``--roi``):

* ``3fgl``: `catalog_roi_models` on 3FGL, r = 10 deg + 5 deg margin, free within 3 deg (55 sources:
  53 point, 1 template, 1 Gaussian; 10 free parameters with the backgrounds), the isotropic
  spectrum (`create_isotropic_model`) and the Galactic diffuse model map of gtsrcmaps as a
  `TemplateNPredModel` (norm and tilt free);
* ``crab3``: three components: the Crab as a power-law point source, the isotropic and the
  Galactic template (4 free parameters);
* ``4fgl``: 4FGL-DR4, r = 10 deg + 5 deg margin, free within ``--free-radius-4fgl`` (4 deg: 121
  sources, 19 free parameters).

Steps of our path (`~gammapy_lat.datasets.LATMapDataset`, the class the makers return): first
evaluation (model evaluators, PSF kernels), one evaluation with nothing changed and with one free
parameter changed (each free parameter in turn, as the gradient of migrad does), the full fit
(Gammapy `Fit`, minuit strategy 1, and `LATFit`: strategy 0 then hesse), hesse, TS of the Crab,
its SED (4 bins, 200 MeV - 20 GeV, with upper limits) and light curve (4 bins of 6 h, one
dataset each made by the maker from the events and spacecraft file, backgrounds and other
sources frozen). Plain path: the same maps as a Gammapy `MapDataset` with Gammapy's `PSFMap` and
`EDispKernelMap` and Gammapy's own `Datasets.stat_sum`: first evaluation, the same per-evaluation
figures, and a fit limited to ``--plain-ncall`` evaluations (``--plain-full``: the full fit, about
10 minutes for the 3FGL ROI, and its hesse).

Each path of each ROI runs in its own process, so that the peak resident memory is its own.
CPU times are `time.process_time` of that process (all threads); wall times are printed too.

Usage::

    python benchmarks/bench_fit.py                       # all ROIs, plain path evaluations + short fit
    python benchmarks/bench_fit.py --roi 3fgl --plain-full
    python benchmarks/bench_fit.py --roi 3fgl --no-plain --steps first,eval,fit
"""
import argparse
import logging
import multiprocessing
import os
import resource
import time

import numpy as np

STEPS = ("first", "eval", "fit", "latfit", "hesse", "ts", "sed", "lc")
PULSAR = "3FGL J0534.5+2201"


def _paths():
    from gammapy_lat.utils.testing import shared_data_path

    return (
        shared_data_path("data", "lat", "crab-1day"),
        shared_data_path("data", "lat", "caldb"),
        shared_data_path("data", "gammapy-data"),
    )


def _gtsrcmaps_npred(srcmap, hdu, geom):
    """Counts per bin of a gtsrcmaps diffuse source map (planes at the energy-bin edges)."""
    from astropy.io import fits
    from gammapy.maps import Map

    with fits.open(srcmap) as h:
        eb = h["EBOUNDS"].data
        edges = np.append(eb["E_MIN"], eb["E_MAX"][-1]).astype(float) / 1000.0
        cube = h[hdu].data.astype(float)
    w = 0.5 * np.log(edges[1:] / edges[:-1])
    npred = (cube[:-1] * edges[:-1, None, None] + cube[1:] * edges[1:, None, None]) * w[:, None, None]
    return Map.from_geom(geom, data=npred)


class Timer:
    def __init__(self):
        self.wall, self.cpu = time.perf_counter(), time.process_time()

    def stop(self):
        return time.perf_counter() - self.wall, time.process_time() - self.cpu, _peak_rss()


def _peak_rss():
    """Peak resident memory of this process so far (MiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def make_observation():
    from gammapy_lat.observations import LATObservation

    day, _, _ = _paths()
    return LATObservation.read(day / "ft1.fits.gz", day / "ft2.fits.gz", obs_id=0)


def make_dataset(observation, name="crab-day", ltcube=True):
    from gammapy.maps import Map

    from gammapy_lat.makers import LATMapDatasetMaker, LATSafeMaskMaker, create_lat_map_dataset

    day, caldb, _ = _paths()
    geom = Map.read(day / "cntmap.fits.gz").geom
    maker = LATMapDatasetMaker(
        irf_name="P8R2_SOURCE_V6", caldb=caldb, ltcube=day / "ltcube.fits.gz" if ltcube else None
    )
    dataset = maker.run(create_lat_map_dataset(geom, name=name), observation)
    return LATSafeMaskMaker().run(dataset, observation)


def to_plain(dataset):
    """The same maps as a plain Gammapy MapDataset with Gammapy's IRF map classes."""
    from gammapy.datasets import MapDataset
    from gammapy.irf import EDispKernelMap, PSFMap

    return MapDataset(
        counts=dataset.counts,
        exposure=dataset.exposure,
        psf=PSFMap(dataset.psf.psf_map, exposure_map=dataset.psf.exposure_map),
        edisp=EDispKernelMap(dataset.edisp.edisp_map, exposure_map=dataset.edisp.exposure_map),
        mask_safe=dataset.mask_safe,
        gti=dataset.gti,
        meta_table=dataset.meta_table,
        name=dataset.name,
    )


def galactic_template(dataset, scale=None, name="galactic"):
    import astropy.units as u
    from gammapy.modeling.models import TemplateNPredModel

    day, _, _ = _paths()
    gal = _gtsrcmaps_npred(day / "srcmap.fits.gz", "Galactic_diffuse", dataset.counts.geom)
    if scale is not None:
        gal.data = gal.data * scale
    model = TemplateNPredModel(gal, datasets_names=[dataset.name], name=name)
    model.spectral_model.tilt.frozen = False
    model.spectral_model.reference.quantity = 1 * u.GeV
    return model


def make_models(roi, dataset, free_radius_4fgl="4 deg"):
    import astropy.units as u
    from astropy.coordinates import SkyCoord
    from gammapy.modeling.models import Models, PointSpatialModel, PowerLawSpectralModel, SkyModel

    from gammapy_lat.models import create_isotropic_model
    from gammapy_lat.models.catalog import catalog_roi_models

    day, _, data = _paths()
    crab = SkyCoord(83.6331, 22.0145, unit="deg")
    isotropic = create_isotropic_model(day / "iso_P8R2_SOURCE_V6_v06.txt", name="isotropic")
    backgrounds = [galactic_template(dataset), isotropic]
    if roi == "crab3":
        backgrounds[0].spectral_model.tilt.frozen = True
    fermi = data / "catalogs" / "fermi"
    extended = fermi / "LAT_extended_sources_16years"
    if roi == "crab3":
        spectral = PowerLawSpectralModel(index=2.2, amplitude="2e-7 cm-2 s-1 GeV-1", reference="1 GeV")
        source = SkyModel(
            spectral_model=spectral, spatial_model=PointSpatialModel(lon_0=crab.ra, lat_0=crab.dec, frame="icrs"), name="crab"
        )
        source.spatial_model.freeze()
        return Models([source] + backgrounds), "crab"
    if roi == "3fgl":
        from gammapy.catalog import SourceCatalog3FGL

        catalog = SourceCatalog3FGL(fermi / "gll_psc_v16.fit.gz")
        sources = catalog_roi_models(catalog, crab, "10 deg", margin="5 deg", free_radius="3 deg", extended_dir=extended)
        return Models(list(sources) + backgrounds), PULSAR
    if roi == "4fgl":
        from gammapy.catalog import SourceCatalog4FGL

        catalog = SourceCatalog4FGL(fermi / "gll_psc_v35.fit")
        sources = catalog_roi_models(
            catalog, crab, "10 deg", margin="5 deg", free_radius=u.Quantity(free_radius_4fgl), extended_dir=extended
        )
        source = min(sources, key=lambda m: m.spatial_model.position.separation(crab))
        return Models(list(sources) + backgrounds), source.name
    raise ValueError(f"unknown ROI {roi!r}")


def per_evaluation(datasets, n_repeat=20):
    """Mean CPU per evaluation: nothing changed, and one free parameter changed in turn."""
    datasets.stat_sum()
    t = time.process_time()
    for _ in range(n_repeat):
        datasets.stat_sum()
    unchanged = (time.process_time() - t) / n_repeat
    free = datasets.models.parameters.free_parameters
    count = 0
    t = time.process_time()
    for step in (1.0001, 1 / 1.0001):
        for par in free:
            par.value = par.value * step if par.value != 0 else 1e-4
            datasets.stat_sum()
            count += 1
    changed = (time.process_time() - t) / count
    return unchanged, changed


def light_curve_datasets(observation, dataset, n_bins=4):
    """One dataset per time bin (6 h for the day), made by the maker from events and spacecraft."""
    from gammapy_lat.models import create_isotropic_model

    day, _, _ = _paths()
    edges = np.linspace(observation.met_start, observation.met_stop, n_bins + 1)
    datasets, models = [], []
    full_exposure = dataset.exposure
    for idx, (start, stop) in enumerate(zip(edges[:-1], edges[1:])):
        chunk = observation.select_time((start, stop))
        chunk.obs_id = idx
        ds = make_dataset(chunk, name=f"crab-day-t{idx}", ltcube=False)
        # the gtsrcmaps Galactic map scaled by the exposure ratio of the bin (reco-energy centres)
        energy = ds.counts.geom.axes["energy"].center
        coords = {"skycoord": ds.counts.geom.get_coord().skycoord, "energy_true": energy[:, None, None]}
        ratio = ds.exposure.interp_by_coord(coords) / full_exposure.interp_by_coord(coords)
        models.append(galactic_template(ds, scale=np.nan_to_num(ratio), name=f"galactic-t{idx}"))
        datasets.append(ds)
    models.append(create_isotropic_model(day / "iso_P8R2_SOURCE_V6_v06.txt", name="isotropic"))
    return datasets, models


def _profile(label, func, top=12):
    """Run ``func`` under cProfile and print the functions with the largest cumulative time."""
    import cProfile
    import io
    import pstats

    profiler = cProfile.Profile()
    profiler.enable()
    result = func()
    profiler.disable()
    stream = io.StringIO()
    stats = pstats.Stats(profiler, stream=stream)
    total = stats.total_tt
    print(f"--- profile: {label} (total {total:.2f} s under the profiler)")
    rows = []
    for (filename, line, name), (_, _, _, cumtime, _) in stats.stats.items():
        short = "/".join(filename.split("/")[-3:])
        rows.append((cumtime, f"{short}:{line}({name})"))
    for cumtime, where in sorted(rows, reverse=True)[:top]:
        print(f"    {cumtime:8.3f} s  {100 * cumtime / total:5.1f} %  {where}")
    return result


def run_path(roi, path, steps, plain_ncall, plain_full, free_radius_4fgl, strategy, profile=False):
    """All steps of one path on one ROI (in its own process). Returns a dict of figures."""
    import astropy.units as u
    from gammapy.datasets import Datasets
    from gammapy.estimators import FluxPointsEstimator, LightCurveEstimator
    from gammapy.modeling import Fit
    from gammapy.modeling.models import Models

    from gammapy_lat.datasets import fixes
    from gammapy_lat.estimators import source_ts

    logging.getLogger("gammapy").setLevel(logging.ERROR)
    logging.getLogger("gammapy_lat").setLevel(logging.ERROR)
    out = {"roi": roi, "path": path}
    observation = make_observation()
    t = Timer()
    dataset = make_dataset(observation)
    out["dataset"] = t.stop()
    if path == "plain":
        dataset = to_plain(dataset)
        fixes.uninstall()
    models, source = make_models(roi, dataset, free_radius_4fgl)
    out["n_models"] = len(models)
    out["n_free"] = len(models.parameters.free_parameters)
    out["source"] = source
    datasets = Datasets([dataset])
    datasets.models = models

    t = Timer()
    out["stat_start"] = datasets.stat_sum() if not profile else _profile(f"{roi} {path}: first evaluation", datasets.stat_sum)
    out["first"] = t.stop()
    if profile:
        free = models.parameters.free_parameters

        def evaluations():
            for par in list(free) * 2:
                par.value *= 1.0001
                datasets.stat_sum()

        _profile(f"{roi} {path}: {2 * len(free)} evaluations, one free parameter changed each", evaluations)
    if "eval" in steps:
        saved = [p.value for p in models.parameters]
        out["eval_unchanged"], out["eval_changed"] = per_evaluation(datasets)
        for p, v in zip(models.parameters, saved):
            p.value = v

    if path == "plain" and not plain_full:
        fit = Fit(optimize_opts={"migrad_opts": {"ncall": plain_ncall}})
        t = Timer()
        result = fit.optimize(datasets)
        out["short_fit"] = t.stop()
        out["short_fit_nfev"] = result.nfev
        out["peak_rss"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        return out

    saved = [p.value for p in models.parameters]
    if "fit" in steps:
        fit = Fit(optimize_opts={"strategy": strategy})
        t = Timer()
        result = fit.optimize(datasets)
        out["fit"] = t.stop()
        out["fit_nfev"], out["fit_stat"], out["fit_success"] = result.nfev, result.total_stat, result.success
        if "hesse" in steps:
            t = Timer()
            cov = fit.covariance(datasets)
            out["hesse"] = t.stop()
            out["hesse_success"] = cov.success
    if "latfit" in steps and path == "ours":
        from gammapy_lat.modeling import LATFit

        for p, v in zip(models.parameters, saved):
            p.value = v
        t = Timer()
        result = LATFit().run(datasets)
        out["latfit"] = t.stop()
        out["latfit_nfev"] = result.optimize_result.nfev
        out["latfit_stat"] = result.total_stat
        out["latfit_success"] = result.success
    if "ts" in steps:
        t = Timer()
        ts = source_ts(datasets, [source])
        out["ts"] = t.stop()
        out["ts_value"] = ts[source]
    if "sed" in steps:
        t = Timer()
        estimator = FluxPointsEstimator(
            energy_edges=np.geomspace(200, 20000, 5) * u.MeV, source=source, selection_optional=["ul"]
        )
        fp = estimator.run(datasets)
        out["sed"] = t.stop()
        out["sed_ts"] = [float(v) for v in np.ravel(fp.ts.data)]
    if "lc" in steps:
        t = Timer()
        lc_datasets, lc_backgrounds = light_curve_datasets(observation, dataset)
        out["lc_datasets"] = t.stop()
        lc_models = Models([m.copy(name=m.name) for m in models if m.name not in ("galactic", "isotropic")])
        for m in lc_backgrounds:
            m.parameters.freeze_all()
        lc_models.extend(lc_backgrounds)
        lc = Datasets(lc_datasets)
        if path == "plain":
            lc = Datasets([to_plain(d) for d in lc_datasets])
        lc.models = lc_models
        t = Timer()
        intervals = [[d.gti.time_start[0], d.gti.time_stop[-1]] for d in lc]
        estimator = LightCurveEstimator(
            energy_edges=[200, 20000] * u.MeV, source=source, selection_optional=["ul"], time_intervals=intervals
        )
        curve = estimator.run(lc)
        out["lc"] = t.stop()
        out["lc_flux"] = [float(v) for v in np.ravel(curve.norm.data)]
    out["peak_rss"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return out


def _child(queue, *args):
    try:
        queue.put(run_path(*args))
    except Exception as exc:
        import traceback

        queue.put({"error": f"{exc!r}\n{traceback.format_exc()}"})


def in_process(*args):
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    process = context.Process(target=_child, args=(queue, *args))
    process.start()
    result = queue.get()
    process.join()
    if "error" in result:
        raise RuntimeError(result["error"])
    return result


def _fmt(value):
    if isinstance(value, tuple):
        return f"{value[1]:8.2f} s CPU ({value[0]:7.2f} s wall, peak {value[2]:5.0f} MiB)"
    return str(value)


def report(ours, plain):
    print(f"\n=== ROI {ours['roi']}: {ours['n_models']} models, {ours['n_free']} free parameters, source {ours['source']}")
    print(f"start statistic: ours {ours['stat_start']:.4f}, plain {plain['stat_start']:.4f}" if plain else "")
    rows = [
        ("dataset (maker + safe mask)", "dataset"),
        ("first evaluation", "first"),
        ("full fit, Fit() strategy 1", "fit"),
        ("full fit + hesse, LATFit()", "latfit"),
        ("hesse", "hesse"),
        ("TS of the source (null refitted)", "ts"),
        ("SED, 4 bins, with UL", "sed"),
        ("light-curve datasets (4 x 6 h, maker)", "lc_datasets"),
        ("light curve, 4 bins, with UL", "lc"),
    ]
    for label, key in rows:
        line = f"  {label:<40s} ours {_fmt(ours[key]) if key in ours else '-':<32s}"
        if plain and key in plain:
            line += f" plain {_fmt(plain[key])}"
        print(line)
    for key in ("eval_unchanged", "eval_changed"):
        if key in ours:
            line = f"  {'per evaluation, ' + key[5:]:<40s} ours {ours[key] * 1e3:8.2f} ms CPU"
            if plain and key in plain:
                line += f"              plain {plain[key] * 1e3:8.2f} ms CPU   ratio {plain[key] / ours[key]:6.1f}"
            print(line)
    if "fit" in ours:
        per = ours["fit"][1] / ours["fit_nfev"]
        line = f"  {'per evaluation in the fit':<40s} ours {per * 1e3:8.2f} ms CPU ({ours['fit_nfev']} evaluations)"
        if plain and "short_fit" in plain:
            pper = plain["short_fit"][1] / plain["short_fit_nfev"]
            line += f" plain {pper * 1e3:8.2f} ms CPU ({plain['short_fit_nfev']} evaluations)   ratio {pper / per:6.1f}"
        elif plain and "fit" in plain:
            pper = plain["fit"][1] / plain["fit_nfev"]
            line += f" plain {pper * 1e3:8.2f} ms CPU ({plain['fit_nfev']} evaluations)   ratio {pper / per:6.1f}"
        print(line)
        print(f"  fit: statistic {ours['fit_stat']:.4f}, success {ours['fit_success']}; " + (
            f"plain {plain['fit_stat']:.4f} ({plain['fit_nfev']} evaluations)" if plain and "fit_stat" in plain else ""
        ))
    if "latfit" in ours:
        print(f"  LATFit: statistic {ours['latfit_stat']:.4f} in {ours['latfit_nfev']} evaluations, success {ours['latfit_success']}")
    if "first" in ours and "fit" in ours:
        print(f"  first evaluation + full fit: {ours['first'][1] + ours['fit'][1]:.1f} s CPU")
    for key in ("ts_value", "sed_ts", "lc_flux"):
        if key in ours:
            print(f"  {key}: ours {np.round(ours[key], 3)}" + (f", plain {np.round(plain[key], 3)}" if plain and key in plain else ""))
    print(f"  peak resident memory: ours {ours['peak_rss']:.0f} MiB" + (f", plain {plain['peak_rss']:.0f} MiB" if plain else ""))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--roi", default="3fgl,crab3,4fgl", help="comma-separated: 3fgl, crab3, 4fgl")
    parser.add_argument("--steps", default=",".join(STEPS), help=f"comma-separated, of {', '.join(STEPS)}")
    parser.add_argument("--no-plain", action="store_true", help="skip the plain Gammapy path")
    parser.add_argument("--plain-ncall", type=int, default=60, help="evaluations of the short plain fit")
    parser.add_argument("--plain-full", action="store_true", help="run the full plain fit and all its steps")
    parser.add_argument("--strategy", type=int, default=1, help="minuit strategy of the Fit() step")
    parser.add_argument("--free-radius-4fgl", default="4 deg")
    parser.add_argument("--profile", action="store_true", help="cProfile the first evaluation and evaluations")
    args = parser.parse_args()
    steps = set(args.steps.split(","))
    print(f"load average before: {os.getloadavg()}")
    for roi in args.roi.split(","):
        common = (steps, args.plain_ncall, args.plain_full, args.free_radius_4fgl, args.strategy, args.profile)
        ours = in_process(roi, "ours", *common)
        plain = None if args.no_plain else in_process(roi, "plain", *common)
        report(ours, plain)
        print(f"load average: {os.getloadavg()}")


if __name__ == "__main__":
    main()
