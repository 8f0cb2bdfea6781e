"""Benchmark: LAT map-dataset reduction of the one-day Crab data set (P8R2_SOURCE_V6).

Steps timed (wall and CPU):

1. `LATMapDatasetMaker` on the gtbin geometry (100 x 100 0.2 deg GAL CAR, 20 energy bins,
   default 48-bin true-energy axis): livetime cube (nside 64, 40 bins, around the map), counts,
   exposure, PSF and EDISP maps;
2. the same, PSF0..PSF3 components (`LATComponentsMaker`, one shared livetime cube);
3. the day as 8 three-hour chunks, reduced and stacked with `LATDatasetsMaker`, serial and with
   ``--n-jobs`` processes.

Usage: python benchmarks/bench_makers.py [--n-jobs 2]
Prints wall time, CPU time, peak resident memory and the machine load.
"""
import argparse
import os
import resource
import time

import numpy as np
from gammapy.data import Observations

from gammapy_lat.data import read_counts_geom
from gammapy_lat.makers import LATComponentsMaker, LATDatasetsMaker, LATMapDatasetMaker, create_lat_map_dataset
from gammapy_lat.observations import LATObservation
from gammapy_lat.utils.testing import shared_data_path


def timed(label, func):
    wall, cpu = time.perf_counter(), time.process_time()
    result = func()
    print(f"{label:<60s} wall {time.perf_counter() - wall:7.2f} s   CPU {time.process_time() - cpu:7.2f} s")
    return result


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n-jobs", type=int, default=2)
    args = parser.parse_args()

    folder = shared_data_path("data", "lat", "crab-1day")
    caldb = shared_data_path("data", "lat", "caldb")
    obs = LATObservation.read(folder / "ft1.fits.gz", folder / "ft2.fits.gz", obs_id=0)
    geom = read_counts_geom(folder / "cntmap.fits.gz")
    print(f"load average before: {os.getloadavg()}")

    dataset = timed(
        "single dataset (counts, exposure, psf, edisp)",
        lambda: LATMapDatasetMaker(caldb=caldb).run(create_lat_map_dataset(geom, name="crab"), obs),
    )
    print(f"  counts {dataset.counts.data.sum():.0f}, exposure max {dataset.exposure.quantity.max():.3e}")
    timed(
        "PSF0..PSF3 components",
        lambda: LATComponentsMaker.from_partition("PSF", caldb=caldb).run(create_lat_map_dataset(geom, name="c"), obs),
    )

    edges = np.linspace(obs.met_start, obs.met_stop, 9)
    chunks = []
    for idx, (start, stop) in enumerate(zip(edges[:-1], edges[1:])):
        chunk = obs.select_time((start, stop))
        if len(chunk.lat_events.gti_start):
            chunk.obs_id = idx
            chunks.append(chunk)
    observations = Observations(chunks)
    makers = [LATMapDatasetMaker(caldb=caldb)]
    for n_jobs in sorted({1, args.n_jobs}):
        stacked = timed(
            f"{len(chunks)} chunks stacked, n_jobs={n_jobs}",
            lambda: LATDatasetsMaker(makers, n_jobs=n_jobs).run(create_lat_map_dataset(geom, name="s"), observations)[0],
        )
        diff = np.max(np.abs(stacked.exposure.quantity.to_value("cm2 s") / dataset.exposure.quantity.to_value("cm2 s") - 1))
        print(f"  counts equal: {np.array_equal(stacked.counts.data, dataset.counts.data)}, max exposure rel. diff {diff:.1e}")

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS {peak:.0f} MiB; load average after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
