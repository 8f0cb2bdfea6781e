"""Time the event simulation: one year of a bright point source and an isotropic background.

Usage: python benchmarks/simulate_events.py
"""
import os
import time

from astropy import units as u
from astropy.coordinates import SkyCoord
from gammapy.modeling.models import ConstantSpatialModel, PointSpatialModel, PowerLawSpectralModel, SkyModel

from gammapy_lat.irf import LATIRFs
from gammapy_lat.simulate import SYNTHETIC_IRF_NAME, simulate_events, simulate_spacecraft, synthetic_caldb


def main():
    tstart = 239557417.0
    t0 = time.perf_counter()
    sc = simulate_spacecraft(tstart, tstart + 365.25 * 86400)
    t1 = time.perf_counter()
    irfs = LATIRFs.from_caldb(SYNTHETIC_IRF_NAME, 3, caldb=synthetic_caldb())
    models = [
        SkyModel(PowerLawSpectralModel(index=2.2, amplitude="3e-10 cm-2 s-1 MeV-1", reference="1 GeV"),
                 PointSpatialModel(lon_0="83.63 deg", lat_0="22.01 deg", frame="icrs"), name="src"),
        SkyModel(PowerLawSpectralModel(index=2.1, amplitude="1.2e-9 cm-2 s-1 MeV-1", reference="1 GeV"),
                 ConstantSpatialModel(value="1 sr-1"), name="iso"),
    ]
    events = simulate_events(models, sc, irfs, energy_range=(100 * u.MeV, 100 * u.GeV),
                             roi=(SkyCoord(83.63, 22.01, unit="deg"), 10 * u.deg), random_state=1)
    t2 = time.perf_counter()
    print(f"spacecraft, one year at 30 s: {t1 - t0:.1f} s")
    print(f"events, one year, 10 deg ROI: {len(events)} events in {t2 - t1:.1f} s")
    print(f"load average: {os.getloadavg()}")


if __name__ == "__main__":
    main()
