"""Benchmark of the all-sky pipeline: simulated weekly files -> all-sky counts, livetime, exposure.

Configuration (as for diffuse-emission studies): SOURCE class, FRONT+BACK, 500 MeV - 500 GeV in 24
logarithmic bins, 0.1 deg CAR pixels in Galactic coordinates (3600 x 1800), zmax 90 deg,
(DATA_QUAL>0)&&(LAT_CONFIG==1), livetime cubes at NSIDE 64 with 40 cos(theta) bins.

The weekly FT2 and FT1 files are simulated first (not timed; cached in the work folder) with the
simulation module and the kit's CALDB, then the pipeline runs from scratch with 1 and with 2
workers. Printed: wall time, speed-up, peak memory per worker, CPU seconds per step and the
projected wall time for 15 years (782 weeks). Usage::

    python benchmarks/bench_allsky.py [--weeks 52] [--events-per-week 50000] [--jobs 1 2]
"""
import argparse
import json
import multiprocessing
import os
import resource
import shutil
import time
from pathlib import Path

import numpy as np

T0 = 600_000_000.0  # MET, early 2020
WEEK = 7 * 86400.0
WEEKS_15_YEARS = 782
IRF = "P8R3_SOURCE_V2"
# isotropic power law (index 2.1) amplitude at 1 GeV giving ~16,500 events per week above 500 MeV
AMPLITUDE_PER_16500 = 1e-9


def _models(events_per_week):
    from gammapy.modeling.models import ConstantSpatialModel, PointSpatialModel, PowerLawSpectralModel, SkyModel

    amplitude = AMPLITUDE_PER_16500 * events_per_week / 16500.0
    models = [
        SkyModel(
            PowerLawSpectralModel(index=2.1, amplitude=f"{amplitude:.4g} cm-2 s-1 MeV-1", reference="1 GeV"),
            ConstantSpatialModel(value="1 sr-1"),
            name="isotropic",
        )
    ]
    for i, (ra, dec) in enumerate([(83.63, 22.01), (128.84, -45.18), (98.48, 17.77), (266.42, -29.0)]):
        models.append(
            SkyModel(
                PowerLawSpectralModel(index=2.2, amplitude="2e-11 cm-2 s-1 MeV-1", reference="1 GeV"),
                PointSpatialModel(lon_0=f"{ra} deg", lat_0=f"{dec} deg", frame="icrs"),
                name=f"src{i}",
            )
        )
    return models


def _simulate_week(args):
    week, datadir, caldb, events_per_week = args
    from astropy import units as u

    from gammapy_lat.irf import LATIRFs
    from gammapy_lat.simulate import simulate_events, simulate_spacecraft, write_events, write_spacecraft

    ft1 = datadir / f"lat_photon_weekly_w{week:03d}.fits"
    ft2 = datadir / f"lat_spacecraft_weekly_w{week:03d}.fits"
    if ft1.exists() and ft2.exists():
        return week, None
    spacecraft = simulate_spacecraft(T0 + week * WEEK, T0 + (week + 1) * WEEK)
    irfs = LATIRFs.from_caldb(IRF, 3, caldb=caldb)
    events = simulate_events(
        _models(events_per_week), spacecraft, irfs, energy_range=(500 * u.MeV, 500 * u.GeV),
        zmax=90 * u.deg, random_state=week, healpix_nside=16,
    )
    write_spacecraft(spacecraft, ft2, overwrite=True)
    write_events(events, ft1, overwrite=True)
    return week, len(events.table)


def simulate(datadir, weeks, caldb, events_per_week, processes=2):
    datadir.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    with multiprocessing.get_context("fork").Pool(processes) as pool:
        counts = [n for _, n in pool.imap_unordered(
            _simulate_week, [(w, datadir, caldb, events_per_week) for w in range(weeks)]) if n is not None]
    if counts:
        print(f"simulated {len(counts)} weeks in {time.perf_counter() - t0:.0f} s, "
              f"{np.mean(counts):.0f} events per week on average")


def config(datadir, outdir, caldb, weeks, n_jobs):
    return {
        "ft1": [str(datadir / f"lat_photon_weekly_w{w:03d}.fits") for w in range(weeks)],
        "ft2": [str(datadir / f"lat_spacecraft_weekly_w{w:03d}.fits") for w in range(weeks)],
        "outdir": str(outdir),
        "irf_name": IRF,
        "caldb": str(caldb),
        "evclass": 128,
        "filter": "(DATA_QUAL>0)&&(LAT_CONFIG==1)",
        "livetime": {"nside": 64, "ncostheta": 40},
        "components": [
            {
                "name": "gal_car_0p1deg",
                "energy": {"min": "500 MeV", "max": "500 GeV", "nbins": 24},
                "evtype": ["FRONT", "BACK"],
                "zmax": 90,
                "geom": {"type": "wcs", "binsz": 0.1, "width": [360, 180], "frame": "galactic", "proj": "CAR"},
            }
        ],
        "parallel": {"n_jobs": n_jobs, "backend": "multiprocessing"},
        "exposure_tile_pixels": 2_000_000,
    }


def bin_events_throughput(n_events=300_000):
    """Seconds to bin ``n_events`` random all-sky events on the benchmark geometry (gtbin step)."""
    from astropy.table import Table

    from gammapy_lat.data import bin_events
    from gammapy_lat.pipeline import AllSkyConfig, component_counts_geom

    rng = np.random.default_rng(0)
    table = Table(
        {
            "RA": rng.uniform(0, 360, n_events),
            "DEC": np.degrees(np.arcsin(rng.uniform(-1, 1, n_events))),
            "ENERGY": 500 * rng.pareto(1.1, n_events) + 500,
        }
    )
    cfg = AllSkyConfig.from_dict(config(Path("."), Path("."), ".", 1, 1))
    geom = component_counts_geom(cfg.components[0])
    t0 = time.perf_counter()
    bin_events(table, geom)
    return time.perf_counter() - t0


def run(cfg):
    from gammapy_lat.pipeline import AllSkyPipeline

    shutil.rmtree(cfg["outdir"], ignore_errors=True)
    t0 = time.perf_counter()
    result = AllSkyPipeline(cfg).run()
    wall = time.perf_counter() - t0
    return wall, result


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weeks", type=int, default=52)
    parser.add_argument("--events-per-week", type=float, default=20_000)
    parser.add_argument("--jobs", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--workdir", type=Path, default=Path(os.environ.get("TMPDIR", "/tmp")) / "gammapy-lat-bench-allsky")
    parser.add_argument("--keep", action="store_true", help="keep the pipeline outputs")
    args = parser.parse_args()

    from gammapy_lat.utils.testing import shared_data_path

    caldb = shared_data_path("data", "lat", "caldb")
    datadir = args.workdir / f"data-{args.events_per_week:.0f}"
    print(f"load before: {os.getloadavg()}")
    simulate(datadir, args.weeks, caldb, args.events_per_week)
    nevents = sum(
        __import__("astropy.io.fits", fromlist=["fits"]).getheader(datadir / f"lat_photon_weekly_w{w:03d}.fits", "EVENTS")["NAXIS2"]
        for w in range(args.weeks)
    )
    print(f"{args.weeks} weeks, {nevents} events ({nevents / args.weeks:.0f} per week)")

    figures = {}
    for n_jobs in args.jobs:
        outdir = args.workdir / f"out-{n_jobs}"
        load0 = os.getloadavg()
        wall, result = run(config(datadir, outdir, caldb, args.weeks, n_jobs))
        load1 = os.getloadavg()
        report = result.report
        peaks = report.peak_memory_mb
        by_kind = report.by_kind()
        figures[n_jobs] = {"wall": wall, "peak_mb": max(peaks.values()), "by_kind": by_kind}
        print(f"\n--- {n_jobs} worker(s): wall time {wall:.1f} s (load {load0[0]:.1f} -> {load1[0]:.1f})")
        print(f"    tasks: {report.n_tasks}, peak memory per worker: max {max(peaks.values()):.0f} MB over "
              f"{len(peaks)} worker process(es)")
        for kind, (n, seconds) in by_kind.items():
            print(f"    {kind:9s} {n:4d} tasks {seconds:8.1f} s of work ({seconds / max(n, 1):.2f} s per task)")
        print(f"    summary: {json.dumps(result.summary[cfg_name()])}")
        if not args.keep:
            shutil.rmtree(outdir, ignore_errors=True)
        figures[n_jobs]["main_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    t_bin = bin_events_throughput()
    print(f"\nbin_events: 300,000 events on the 3600x1800x24 geometry in {t_bin:.2f} s")
    # per-chunk steps grow with the number of weeks; writing the co-added cubes and the exposure
    # do not (reading the small sparse partials is a negligible part of the co-adds)
    per_week_kinds = ("gti", "counts", "livetime")
    fixed_kinds = ("ccube", "ltcube", "exposure", "bexpmap")
    print("\nsummary")
    base = figures.get(1)
    for n_jobs, fig in figures.items():
        work_weekly = sum(fig["by_kind"].get(k, (0, 0.0))[1] for k in per_week_kinds)
        work_fixed = sum(fig["by_kind"].get(k, (0, 0.0))[1] for k in fixed_kinds)
        # the weekly part scales with the number of weeks, the exposure part does not
        share_fixed = work_fixed / (work_weekly + work_fixed)
        projected = fig["wall"] * ((1 - share_fixed) * WEEKS_15_YEARS / args.weeks + share_fixed)
        speedup = f", speed-up {base['wall'] / fig['wall']:.2f}" if base and n_jobs != 1 else ""
        print(f"  {n_jobs} worker(s): {fig['wall']:.0f} s{speedup}; peak memory per worker {fig['peak_mb']:.0f} MB; "
              f"projected 15 years ({WEEKS_15_YEARS} weeks): {projected / 3600:.2f} h "
              f"(weekly share {1 - share_fixed:.2f})")
    print(f"load after: {os.getloadavg()}")


def cfg_name():
    return "gal_car_0p1deg"


if __name__ == "__main__":
    main()
