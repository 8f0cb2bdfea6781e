"""Benchmark: unbinned LAT likelihood, time versus number of events (1e3 - 1e5).

For each duration a spacecraft history and the events of a sky (a power-law point source, an
isotropic background and a broad Gaussian "ridge" treated as a diffuse source through per-event
sky integrals) are simulated inside a 10 deg cone with the P8R3_SOURCE_V2 IRFs of the kit
(FRONT+BACK, 100 MeV - 100 GeV), then timed:

1. ``UnbinnedLATDatasetMaker.run``: event selection, attitude at the event times, livetime cube
   about the cone (nside 64, 40 bins);
2. the responses, at the first evaluation of the models: per-event Aeff x PSF of the point
   source, effective area of the isotropic background (no PSF), per-event diffuse response of the
   ridge (gtdiffrsp), and the exposure integrals of the three (gtexpmap);
3. one evaluation of -2 log L once the responses are cached (mean of 50);
4. ``Fit().run`` (migrad + hesse) of the source amplitude and index and the two background
   normalisations.

Usage: python benchmarks/bench_unbinned.py [--days 1.3 13 135]
Prints wall and CPU time of each step, the number of events and the machine load.
"""
import argparse
import logging
import os
import time

import astropy.units as u
from astropy.coordinates import SkyCoord
from gammapy.maps import MapAxis
from gammapy.modeling import Fit
from gammapy.modeling.models import (
    ConstantSpatialModel,
    GaussianSpatialModel,
    Models,
    PointSpatialModel,
    PowerLawSpectralModel,
    SkyModel,
)

from gammapy_lat.data import LATObservation, SpacecraftData
from gammapy_lat.datasets import UnbinnedLATDataset
from gammapy_lat.irf import LATIRFs
from gammapy_lat.makers import UnbinnedLATDatasetMaker
from gammapy_lat.simulate import EventSimulator, simulate_spacecraft
from gammapy_lat.utils.testing import shared_data_path

POSITION = SkyCoord(83.63, 22.01, unit="deg")
CONE = 10 * u.deg


def timed(label, func, rows):
    wall, cpu = time.perf_counter(), time.process_time()
    result = func()
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    print(f"  {label:<52s} wall {wall:8.2f} s   CPU {cpu:8.2f} s")
    rows.append((label, wall, cpu))
    return result


def sky():
    source = SkyModel(
        PowerLawSpectralModel(index=2.2, amplitude="3e-10 cm-2 s-1 MeV-1", reference="1 GeV"),
        PointSpatialModel.from_position(POSITION),
        name="source",
    )
    source.spatial_model.parameters.freeze_all()
    iso = SkyModel(
        PowerLawSpectralModel(index=2.1, amplitude="1.2e-9 cm-2 s-1 MeV-1", reference="1 GeV"),
        ConstantSpatialModel(value="1 sr-1"),
        name="isotropic",
        apply_irf={"psf": False, "exposure": True, "edisp": False},
    )
    iso.spectral_model.index.frozen = True
    ridge = SkyModel(
        PowerLawSpectralModel(index=2.6, amplitude="2e-9 cm-2 s-1 MeV-1", reference="1 GeV"),
        GaussianSpatialModel(lon_0="190 deg", lat_0="0 deg", sigma="15 deg", frame="galactic"),
        name="ridge",
    )
    ridge.spatial_model.parameters.freeze_all()
    ridge.spectral_model.index.frozen = True
    return Models([source, iso, ridge])


def run(days, irfs, caldb):
    rows = []
    tstart = 239557417.0
    table = simulate_spacecraft(tstart, tstart + days * 86400.0)
    spacecraft = SpacecraftData(table)
    simulator = EventSimulator(
        table, irfs, energy_range=(100 * u.MeV, 100 * u.GeV), roi=(POSITION, CONE), roi_margin=5 * u.deg,
        healpix_nside=128, apply_edisp=False, random_state=1,
    )
    events = simulator.simulate(sky(), random_state=1)
    observation = LATObservation(events, spacecraft, obs_id=0, irf_name="P8R3_SOURCE_V2")
    print(f"{days:g} days: {len(events)} events simulated")
    axis = MapAxis.from_energy_bounds("100 MeV", "100 GeV", 12, name="energy")
    reference = UnbinnedLATDataset.create(axis, POSITION, CONE, name=f"bench-{days:g}")
    maker = UnbinnedLATDatasetMaker(caldb=caldb, ltcube_kwargs={"nside": 64, "nbins": 40})
    dataset = timed("make dataset (selection, attitude, livetime cube)", lambda: maker.run(reference, observation), rows)
    models = sky()
    dataset.models = models
    evaluators = dataset.evaluators
    timed("point source: per-event Aeff x PSF", lambda: evaluators["source"].events_response(), rows)
    timed("isotropic: per-event Aeff", lambda: evaluators["isotropic"].events_response(), rows)
    timed("ridge: per-event diffuse response (gtdiffrsp)", lambda: evaluators["ridge"].events_response(), rows)
    timed("exposure integrals of the three (gtexpmap)", lambda: [e.exposure() for e in evaluators.values()], rows)
    wall = time.perf_counter()
    for _ in range(50):
        dataset.stat_sum()
    per_eval = (time.perf_counter() - wall) / 50
    print(f"  {'-2 log L, responses cached (mean of 50)':<52s} wall {1e3 * per_eval:8.2f} ms")
    models["source"].spectral_model.amplitude.value *= 0.8
    result = timed("Fit().run (4 free parameters)", lambda: Fit().run([dataset]), rows)
    print(f"  fit success {result.success}, nfev {result.optimize_result.nfev}, events in the cone {dataset.n_events}")
    return dataset.n_events, rows, per_eval


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--days", type=float, nargs="+", default=[1.3, 13.0, 135.0])
    args = parser.parse_args()
    logging.getLogger("gammapy").setLevel(logging.ERROR)
    caldb = shared_data_path("data", "lat", "caldb")
    irfs = LATIRFs.from_caldb("P8R3_SOURCE_V2", 3, caldb=caldb, edisp=False)
    print(f"load average before: {os.getloadavg()}")
    summary = []
    for days in args.days:
        summary.append(run(days, irfs, caldb))
    print(f"load average after: {os.getloadavg()}")
    print("\n| events | make | point | isotropic | ridge (gtdiffrsp) | exposures | -2 log L | fit |")
    print("|---|---|---|---|---|---|---|---|")
    for n, rows, per_eval in summary:
        cells = " | ".join(f"{wall:.2f} s" for _, wall, _ in rows[:5])
        print(f"| {n} | {cells} | {1e3 * per_eval:.1f} ms | {rows[5][1]:.1f} s |")


if __name__ == "__main__":
    main()
