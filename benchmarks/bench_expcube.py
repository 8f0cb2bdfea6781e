"""Benchmark: all-sky exposure cube, CAR 0.1 deg (3600 x 1800), 24 log energy bins 500 MeV-500 GeV.

The exposure is evaluated at the 25 bin edges (gtexpcube2 convention), for P8R2_SOURCE_V6
FRONT+BACK, from an NSIDE-64 livetime cube with 40 cos(theta) bins.

Unless a livetime cube is given (``--ltcube``), the NSIDE-64 cube is computed with
`LivetimeCube.compute` from the one-day FT2 file and GTIs of the data kit (not timed here), or,
with ``--upsample``, made by upsampling the kit's NSIDE-16 gtltcube cube (pixels copied to their
16 NESTED children, sqrt(1 - cos theta) bins split in halves). The exposure computation depends
on the cube's size, not on how the livetime was obtained.

Usage: python benchmarks/bench_expcube.py [--ltcube FILE | --upsample]
Prints wall time, CPU time, peak resident memory and the machine load.
"""
import argparse
import os
import resource
import time

import astropy.units as u
import numpy as np
from gammapy.maps import MapAxis, WcsGeom

from gammapy_lat.irf import LATIRFs, make_exposure_map
from gammapy_lat.livetime import LivetimeCube, costheta_edges
from gammapy_lat.utils.testing import shared_data_path


def upsampled_cube(path, nside_out=64):
    cube = LivetimeCube.read(path)
    factor = (nside_out // cube.nside) ** 2

    def resample(values):
        values = values.to_value("s")
        values = np.repeat(values, factor, axis=0)  # NESTED children are consecutive
        values = np.repeat(values, 2, axis=1) / 2  # split each sqrt(1-cos) bin in two halves
        return values * u.s

    return LivetimeCube(
        resample(cube.livetime),
        resample(cube.weighted_livetime),
        costheta_edges(2 * cube.nbins, cube.binning, cube.cosmin),
        nside=nside_out,
        nest=True,
        frame=cube.frame,
        gti=cube.gti,
        binning=cube.binning,
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ltcube", help="NSIDE-64 livetime cube (default: upsampled kit cube)")
    parser.add_argument("--upsample", action="store_true", help="upsample the kit's NSIDE-16 cube")
    parser.add_argument("--irf", default="P8R2_SOURCE_V6")
    args = parser.parse_args()

    if args.ltcube:
        cube = LivetimeCube.read(args.ltcube)
        origin = args.ltcube
    elif args.upsample:
        cube = upsampled_cube(shared_data_path("data", "lat", "crab-1day", "ltcube.fits.gz"))
        origin = "kit ltcube.fits.gz upsampled to NSIDE 64, 40 bins"
    else:
        from gammapy_lat.data import read_events, read_spacecraft

        folder = shared_data_path("data", "lat", "crab-1day")
        spacecraft = read_spacecraft(folder / "ft2.fits.gz")
        gti = read_events(folder / "ft1.fits.gz").gti
        cube = LivetimeCube.compute(spacecraft, gti, nside=64, nbins=40, zmax=180 * u.deg)
        origin = "computed from the kit's one-day FT2/GTI"
    irfs = LATIRFs.from_caldb(args.irf, 3, caldb=shared_data_path("data", "lat", "caldb"), psf=False, edisp=False)
    edges = np.geomspace(500, 5e5, 25) * u.MeV
    axis = MapAxis.from_nodes(edges, name="energy_true", interp="log")
    geom = WcsGeom.create(npix=(3600, 1800), binsz=0.1, proj="CAR", frame="galactic", axes=[axis])

    load = os.getloadavg()
    wall, cpu = time.perf_counter(), time.process_time()
    exposure = make_exposure_map(cube, irfs, geom)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2  # GiB (ru_maxrss in KiB)

    print(f"livetime cube     : {origin} ({cube.nside=}, {cube.nbins=})")
    print(f"map               : {geom.data_shape} float32, {exposure.data.nbytes / 1024**3:.2f} GiB")
    print(f"wall time         : {wall:.1f} s (target <= 60 s)")
    print(f"CPU time          : {cpu:.1f} s")
    print(f"peak memory (RSS) : {peak:.2f} GiB (target <= 6 GB)")
    print(f"load average      : {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} (1, 5, 15 min, at start)")
    print(f"exposure range    : {np.min(exposure.data):.3e} .. {np.max(exposure.data):.3e} cm2 s")


if __name__ == "__main__":
    main()
