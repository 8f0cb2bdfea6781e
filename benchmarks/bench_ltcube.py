"""Livetime-cube benchmark: one year of synthetic FT2 data, full sky and ROI-local, vs fermipy.

Prints wall time, CPU time and peak memory (each case runs in its own process), and the speed
ratio to fermipy's pure-Python livetime algorithm (``fermipy.ltcube.fill_livetime_hist``) on the
same input and the same pixels.

Usage::

    python benchmarks/bench_ltcube.py                    # the full benchmark (one year)
    python benchmarks/bench_ltcube.py --days 7 --fermipy-pixels 20   # quick look

The kernel is compiled by numba (cached on disk): the compile time of a first call is measured
separately, in a process with an empty cache directory (``NUMBA_CACHE_DIR``), and the timed cases
run with a warm cache. With ``--n-jobs 1`` the kernel runs on numba's threads
(``NUMBA_NUM_THREADS``, default: all cores); with ``--n-jobs N > 1`` on N processes of one thread.

fermipy pins astropy < 8, so it lives in its own virtual environment; give its interpreter with
``--fermipy-python`` (default ``/tmp/fermipy-venv/bin/python``; created with
``python -m venv /tmp/fermipy-venv && /tmp/fermipy-venv/bin/pip install fermipy six``). The
comparison is skipped when it is missing.
"""
import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

TSTART = 239557417.0  # 2008-08-04, start of LAT science operations
CACHE = Path(tempfile.gettempdir()) / "gammapy-lat-bench-ft2"

FERMIPY_SCRIPT = r"""
import sys, time, json
import numpy as np
from astropy.table import Table
from astropy.coordinates import SkyCoord
from fermipy.ltcube import fill_livetime_hist
data = np.load(sys.argv[1])
tab_sc = Table({k: data[k] for k in ("START", "STOP", "LIVETIME", "RA_SCZ", "DEC_SCZ", "RA_ZENITH", "DEC_ZENITH")})
tab_gti = Table({"START": data["GTI_START"], "STOP": data["GTI_STOP"]})
skydir = SkyCoord(data["PIX_RA"], data["PIX_DEC"], unit="deg")
edges = data["EDGES_INCREASING"]
t0 = time.perf_counter(); c0 = time.process_time()
lt, lt_wt = fill_livetime_hist(skydir, tab_sc, tab_gti, float(data["ZMAX"]), edges)
wall = time.perf_counter() - t0; cpu = time.process_time() - c0
np.savez(sys.argv[2], lt=lt, lt_wt=lt_wt)
print(json.dumps({"wall": wall, "cpu": cpu}))
"""


def make_ft2(days):
    """Synthetic FT2 arrays (survey rocking, orbit, precession, SAA) and GTIs, cached on disk."""
    path = CACHE.with_name(f"{CACHE.name}-{days:g}d.npz")
    if path.exists():
        return dict(np.load(path)), path
    from gammapy_lat.simulate import simulate_spacecraft

    table = simulate_spacecraft(TSTART, TSTART + days * 86400.0)
    data = {name: np.asarray(table[name], float) for name in
            ("START", "STOP", "LIVETIME", "RA_SCZ", "DEC_SCZ", "RA_ZENITH", "DEC_ZENITH")}
    # GTIs: the rows taking data (outside the SAA), merged; row boundaries as in gtmktime output
    good = data["LIVETIME"] > 0
    start, stop = data["START"][good], data["STOP"][good]
    new = np.ones(len(start), bool)
    new[1:] = start[1:] > stop[:-1]
    data["GTI_START"] = start[new]
    data["GTI_STOP"] = np.maximum.reduceat(stop, np.flatnonzero(new)) if len(start) else stop
    np.savez(path, **data)
    return data, path


def run_case(args):
    """One measurement (in this process): prints a JSON line with the figures."""
    from astropy.table import Table

    from gammapy_lat.livetime import LivetimeCube

    data, _ = make_ft2(args.days)
    if args.case == "compile":
        # one day of rows: the time of a first call (compiling without cache, loading it otherwise)
        end = data["STOP"][2879]
        keep = data["GTI_START"] < end
        data = {k: v[:2880] for k, v in data.items() if not k.startswith("GTI")} | {
            "GTI_START": data["GTI_START"][keep], "GTI_STOP": np.minimum(data["GTI_STOP"][keep], end)}
    table = Table({k: data[k] for k in ("START", "STOP", "LIVETIME", "RA_SCZ", "DEC_SCZ", "RA_ZENITH", "DEC_ZENITH")})
    gti = (data["GTI_START"], data["GTI_STOP"])
    roi = (args.roi_ra, args.roi_dec, args.roi_radius) if args.case == "roi" else None
    t0 = time.perf_counter()
    c0 = time.process_time()
    cube = LivetimeCube.compute(table, gti, nside=args.nside, nbins=args.nbins, zmax=args.zmax, roi=roi,
                                n_jobs=args.n_jobs, parallel_backend="multiprocessing")
    wall = time.perf_counter() - t0
    cpu = time.process_time() - c0
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    self_usage = resource.getrusage(resource.RUSAGE_SELF)
    result = {
        "case": args.case,
        "rows": int(len(table)),
        "pixels": int(len(cube.pixel_indices)),
        "wall": wall,
        "cpu": cpu + children.ru_utime + children.ru_stime,
        "peak_rss_mb": self_usage.ru_maxrss / 1024,
        "child_peak_rss_mb": children.ru_maxrss / 1024,
        # upper bound of the simultaneous total: the main process plus n_jobs workers at their peak
        "total_peak_mb": (self_usage.ru_maxrss + (args.n_jobs if args.n_jobs > 1 else 0) * children.ru_maxrss) / 1024,
        "total_livetime": float(cube.livetime.value.sum()),
    }
    if args.save:
        np.savez(args.save, pixels=cube.pixel_indices, livetime=cube.livetime.value,
                 weighted=cube.weighted_livetime.value)
    print("RESULT " + json.dumps(result))


def sub(args, case, n_jobs, save=None, env=None):
    cmd = [sys.executable, __file__, "--case", case, "--days", str(args.days), "--nside", str(args.nside),
           "--nbins", str(args.nbins), "--zmax", str(args.zmax), "--n-jobs", str(n_jobs),
           "--roi", str(args.roi_ra), str(args.roi_dec), str(args.roi_radius)]
    if save:
        cmd += ["--save", str(save)]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, env=env).stdout
    line = [ln for ln in out.splitlines() if ln.startswith("RESULT ")][-1]
    return json.loads(line[len("RESULT "):])


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--days", type=float, default=365.25)
    parser.add_argument("--nside", type=int, default=64)
    parser.add_argument("--nbins", type=int, default=40)
    parser.add_argument("--zmax", type=float, default=90.0)
    parser.add_argument("--roi", nargs=3, type=float, default=(83.63, 22.01, 25.0), dest="roi_args")
    parser.add_argument("--n-jobs", type=int, default=2)
    parser.add_argument("--fermipy-python", default="/tmp/fermipy-venv/bin/python")
    parser.add_argument("--fermipy-pixels", type=int, default=50,
                        help="Number of ROI pixels given to fermipy (its time is linear in pixels).")
    parser.add_argument("--case", choices=["full", "roi", "compile"], default=None, help=argparse.SUPPRESS)
    parser.add_argument("--save", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--skip-full", action="store_true", help="Only the ROI-local case and fermipy.")
    parser.add_argument("--skip-serial", action="store_true", help="Full sky only with --n-jobs processes.")
    args = parser.parse_args()
    args.roi_ra, args.roi_dec, args.roi_radius = args.roi_args
    if args.case:
        run_case(args)
        return

    import healpy as hp

    from gammapy_lat.livetime import costheta_edges

    t0 = time.perf_counter()
    data, path = make_ft2(args.days)
    print(f"FT2: {len(data['START'])} rows of 30 s ({args.days:g} days), {len(data['GTI_START'])} GTIs "
          f"[{time.perf_counter() - t0:.1f} s to simulate/load]")
    print(f"load (uptime): {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} {os.getloadavg()[2]:.2f} on {os.cpu_count()} cores")
    scale = 365.25 / args.days

    import numba

    print(f"numba {numba.__version__}, {numba.config.NUMBA_NUM_THREADS} threads")
    with tempfile.TemporaryDirectory() as cache:
        # first call with an empty cache (compiles), then the same call with the cache filled
        env = dict(os.environ, NUMBA_CACHE_DIR=cache)
        cold = sub(args, "compile", 1, env=env)
        warm = sub(args, "compile", 1, env=env)
        print(f"compile: first call (one day, full sky) {cold['wall']:.1f} s with an empty cache, "
              f"{warm['wall']:.1f} s cached -> compile time {cold['wall'] - warm['wall']:.1f} s")

    results = []
    with tempfile.TemporaryDirectory() as tmp:
        roi_file = Path(tmp) / "roi.npz"
        cases = [("roi", 1, roi_file)]
        if not args.skip_full:
            full_cases = [("full", args.n_jobs, None)]
            if not args.skip_serial and args.n_jobs != 1:
                full_cases.insert(0, ("full", 1, None))
            cases = full_cases + cases
        for case, n_jobs, save in cases:
            res = sub(args, case, n_jobs, save)
            results.append(res)
            label = "full sky" if case == "full" else f"ROI {args.roi_radius:g} deg"
            print(f"{label:14s} n_jobs={n_jobs}: wall {res['wall']:8.2f} s  cpu {res['cpu']:8.2f} s  "
                  f"peak RSS {res['total_peak_mb']:6.0f} MB (main {res['peak_rss_mb']:.0f}, worker {res['child_peak_rss_mb']:.0f})  "
                  f"pixels {res['pixels']}  "
                  f"-> per year: wall {res['wall'] * scale:7.1f} s, cpu {res['cpu'] * scale:7.1f} s")
        print(f"load after: {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} {os.getloadavg()[2]:.2f}")

        # fermipy on a subset of the ROI pixels, same input
        fermipy = Path(args.fermipy_python)
        if args.fermipy_pixels <= 0:
            print("fermipy comparison skipped (--fermipy-pixels 0)")
            return
        if not fermipy.exists():
            print(f"fermipy interpreter {fermipy} not found: comparison skipped")
            return
        ours = np.load(roi_file)
        rng = np.random.default_rng(0)
        pick = np.sort(rng.choice(len(ours["pixels"]), size=min(args.fermipy_pixels, len(ours["pixels"])), replace=False))
        pix = ours["pixels"][pick]
        ra, dec = hp.pix2ang(args.nside, pix, nest=True, lonlat=True)
        edges = costheta_edges(args.nbins)
        inp = Path(tmp) / "fermipy_in.npz"
        np.savez(inp, **data, PIX_RA=ra, PIX_DEC=dec, EDGES_INCREASING=edges[::-1].copy(), ZMAX=args.zmax)
        script = Path(tmp) / "run_fermipy.py"
        script.write_text(FERMIPY_SCRIPT)
        outp = Path(tmp) / "fermipy_out.npz"
        proc = subprocess.run([str(fermipy), str(script), str(inp), str(outp)], capture_output=True, text=True)
        if proc.returncode:
            print("fermipy run failed:", proc.stderr[-2000:])
            return
        fres = json.loads(proc.stdout.strip().splitlines()[-1])
        fl = np.load(outp)["lt"][::-1].T  # (npix, nbins) with bin 0 next to the boresight
        ref = ours["livetime"][pick]
        mask = ref > 0.01 * ref.max()
        rel = np.abs(fl - ref)[mask] / ref[mask]
        roi_res = [r for r in results if r["case"] == "roi"][0]
        per_pixel_fermipy = fres["cpu"] / len(pix)
        ours_roi_cpu = roi_res["cpu"]
        print(f"fermipy fill_livetime_hist: {len(pix)} pixels in cpu {fres['cpu']:.2f} s (wall {fres['wall']:.2f} s)"
              f" = {per_pixel_fermipy * 1e3:.1f} ms/pixel; max rel. difference to ours (bins > 1% max) {rel.max():.2e}")
        print(f"  extrapolated to the {roi_res['pixels']} ROI pixels: cpu {per_pixel_fermipy * roi_res['pixels']:.1f} s"
              f" -> speed ratio fermipy/ours (ROI, cpu) = {per_pixel_fermipy * roi_res['pixels'] / ours_roi_cpu:.1f}")
        full = [r for r in results if r["case"] == "full"]
        if full:
            npix = 12 * args.nside**2
            print(f"  extrapolated to the full sky ({npix} pixels): cpu {per_pixel_fermipy * npix:.0f} s"
                  f" -> speed ratio fermipy/ours (full sky, cpu) = {per_pixel_fermipy * npix / full[0]['cpu']:.1f}")


if __name__ == "__main__":
    main()
