"""Benchmark of the IACT quick-look and of the background-model maker on the reference data kit.

Printed: wall and CPU time of each quick-look step on the H.E.S.S. DR1 Crab runs (DL3
background), the MAGIC RAD_MAX and VERITAS point-like Crab runs (background from the ON runs,
2D Alt/Az), and the time to build background models from the 45 DR1 empty-field runs (radial and
2D Alt/Az). Usage::

    GAMMAPY_LAT_SHARED=../shared python benchmarks/bench_quicklook.py
"""
import os
import tempfile
import time
from pathlib import Path


def _kit():
    root = Path(os.environ.get("GAMMAPY_LAT_SHARED", Path(__file__).resolve().parents[1] / ".." / "shared"))
    return root / "data" / "gammapy-data"


def _clock(func):
    wall, cpu = time.perf_counter(), time.process_time()
    result = func()
    return result, time.perf_counter() - wall, time.process_time() - cpu


def main():
    import logging

    logging.getLogger("gammapy").setLevel(logging.ERROR)
    from gammapy.data import DataStore

    from gammapy_lat.iact import BackgroundModelMaker, QuickLook

    kit = _kit()
    print(f"load average at start: {os.getloadavg()[0]:.1f}")
    cases = [
        ("H.E.S.S. Crab, 4 runs", dict(datastore=str(kit / "hess-dl3-dr1"), target="Crab", runs="23523,23526,23559,23592")),
        ("MAGIC Crab, 2 runs", dict(datastore=str(kit / "magic/rad_max"), target="Crab")),
        ("VERITAS Crab, 4 runs", dict(datastore=str(kit / "veritas/crab-point-like-ED"), target="Crab")),
    ]
    with tempfile.TemporaryDirectory() as tmp:
        for label, settings in cases:
            quicklook = QuickLook(dict(settings, outdir=str(Path(tmp) / label.split()[0])))
            steps = [("selection", quicklook.select), ("theta2", quicklook.theta2), ("maps", quicklook.maps),
                     ("spectrum", quicklook.spectrum), ("light curves", quicklook.light_curves),
                     ("page", quicklook.page)]
            total_wall = total_cpu = 0.0
            parts = []
            for name, step in steps:
                _, wall, cpu = _clock(step)
                total_wall += wall
                total_cpu += cpu
                parts.append(f"{name} {wall:.1f}/{cpu:.1f}")
            print(f"{label}: total {total_wall:.1f} s wall / {total_cpu:.1f} s CPU ({', '.join(parts)})")

    store = DataStore.from_dir(kit / "hess-dl3-dr1")
    table = store.obs_table
    off = store.get_observations(table["OBS_ID"][table["TARGET_TAG"] == "offdata"])
    for kind, alignment in (("radial", "RADEC"), ("2d", "ALTAZ")):
        maker = BackgroundModelMaker(kind=kind, fov_alignment=alignment)
        models, wall, cpu = _clock(lambda: maker.run(off, table))
        print(f"background models from {len(off)} DR1 empty-field runs, {kind} {alignment}: "
              f"{wall:.1f} s wall / {cpu:.1f} s CPU, {len(models)} zenith bins")
    print(f"load average at end: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
