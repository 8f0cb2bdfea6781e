"""All-sky pipeline on simulated "weeks" (short FT1/FT2 files from the simulation module).

The co-added all-sky counts, livetime and exposure cubes must equal a single-pass computation over
all files (counts exactly, livetime and exposure to 1e-6), for WCS CAR and HEALPix components.
"""
import numpy as np
import pytest
from astropy import units as u
from gammapy.maps import Map
from gammapy.modeling.models import (
    ConstantSpatialModel,
    PointSpatialModel,
    PowerLawSpectralModel,
    SkyModel,
)

from gammapy_lat.pipeline import AllSkyConfig, AllSkyPipeline

T0 = 600000000.0
WEEK = 2 * 3600.0  # short "weeks" keep the test fast; the pipeline does not care about the length
NWEEKS = 3


@pytest.fixture(scope="module")
def weeks(tmp_path_factory):
    """Simulated weekly FT1 and FT2 files and the synthetic CALDB they were simulated with."""
    from gammapy_lat.irf import LATIRFs
    from gammapy_lat.simulate import (
        SYNTHETIC_IRF_NAME,
        simulate_events,
        simulate_spacecraft,
        synthetic_caldb,
        write_events,
        write_spacecraft,
    )

    root = tmp_path_factory.mktemp("weeks")
    caldb = synthetic_caldb(root / "caldb")
    irfs = LATIRFs.from_caldb(SYNTHETIC_IRF_NAME, 3, caldb=caldb)
    models = [
        SkyModel(
            PowerLawSpectralModel(index=2.1, amplitude="2e-9 cm-2 s-1 MeV-1", reference="1 GeV"),
            ConstantSpatialModel(value="1 sr-1"),
            name="iso",
        ),
        SkyModel(
            PowerLawSpectralModel(index=2.2, amplitude="5e-10 cm-2 s-1 MeV-1", reference="1 GeV"),
            PointSpatialModel(lon_0="83.63 deg", lat_0="22.01 deg", frame="icrs"),
            name="src",
        ),
    ]
    ft1, ft2 = [], []
    for week in range(NWEEKS):
        spacecraft = simulate_spacecraft(T0 + week * WEEK, T0 + (week + 1) * WEEK)
        ft2.append(write_spacecraft(spacecraft, root / f"ft2_w{week:02d}.fits"))
        events = simulate_events(
            models, spacecraft, irfs, energy_range=(500 * u.MeV, 500 * u.GeV), zmax=90 * u.deg,
            random_state=week, healpix_nside=16,
        )
        ft1.append(write_events(events, root / f"ft1_w{week:02d}.fits"))
    return {"root": root, "caldb": caldb, "irf": SYNTHETIC_IRF_NAME}


def weeks_config(weeks, outdir, n_jobs=2, backend="multiprocessing"):
    root = weeks["root"]
    return {
        "ft1": str(root / "ft1_w*.fits"),
        "ft2": str(root / "ft2_w*.fits"),
        "outdir": str(outdir),
        "irf_name": weeks["irf"],
        "caldb": str(weeks["caldb"]),
        "filter": "(DATA_QUAL>0)&&(LAT_CONFIG==1)",
        "livetime": {"nside": 16, "ncostheta": 20},
        "components": [
            {
                "name": "car",
                "energy": {"min": "500 MeV", "max": "500 GeV", "nbins": 6},
                "evtype": ["FRONT", "BACK"],
                "zmax": 90,
                "geom": {"type": "wcs", "binsz": 2.0, "frame": "galactic", "proj": "CAR"},
            },
            {
                "name": "hpx_front",
                "energy": {"min": "1 GeV", "max": "100 GeV", "nbins": 4},
                "evtype": "FRONT",
                "zmax": 80,
                "geom": {"type": "healpix", "order": 3, "frame": "galactic"},
            },
        ],
        "parallel": {"n_jobs": n_jobs, "backend": backend},
        "exposure_tile_pixels": 4000,
    }


def single_pass(weeks):
    """Counts, livetime and exposure from all files at once."""
    from gammapy_lat.data import (
        bin_events,
        good_time_intervals,
        read_events,
        read_spacecraft,
    )
    from gammapy_lat.data.gti import gti_from_met, intersect_intervals
    from gammapy_lat.irf import LATIRFs, make_exposure_map
    from gammapy_lat.livetime import LivetimeCube
    from gammapy_lat.pipeline import component_counts_geom, component_exposure_geom

    cfg = AllSkyConfig.from_dict(weeks_config(weeks, "unused"))
    events = read_events(sorted(weeks["root"].glob("ft1_w*.fits")))
    spacecraft = read_spacecraft(sorted(weeks["root"].glob("ft2_w*.fits")))
    start, stop = intersect_intervals(events.gti_start, events.gti_stop, *good_time_intervals(spacecraft, cfg.filter))
    events = events.select_gti((start, stop))
    out = {}
    for comp in cfg.components:
        ltcube = LivetimeCube.compute(spacecraft, gti_from_met(start, stop), nside=16, nbins=20, zmax=comp.zmax)
        selected = events.select(
            evclass=cfg.evclass, evtype=comp.evtype_mask, emin=comp.energy.edges[0], emax=comp.energy.edges[-1],
            zmax=comp.zmax, allow_empty=True,
        )
        irfs = LATIRFs.from_caldb(cfg.irf_name, comp.evtype_mask, caldb=cfg.caldb, psf=False, edisp=False)
        out[comp.name] = {
            "counts": bin_events(selected, component_counts_geom(comp)).data,
            "ltcube": ltcube,
            "exposure": make_exposure_map(ltcube, irfs, component_exposure_geom(comp)).data,
        }
    return out


def check_weeks(products, reference):
    from gammapy_lat.livetime import LivetimeCube

    for name, ref in reference.items():
        counts = Map.read(products[name]["counts"])
        assert counts.data.sum() > 100
        np.testing.assert_array_equal(counts.data, ref["counts"])
        ltcube = LivetimeCube.read(products[name]["livetime"])
        for attr in ("livetime", "weighted_livetime"):
            value, expected = getattr(ltcube, attr).to_value("s"), getattr(ref["ltcube"], attr).to_value("s")
            np.testing.assert_allclose(value, expected, rtol=1e-6, atol=1e-6 * expected.max())
        exposure = Map.read(products[name]["exposure"])
        assert exposure.unit == u.Unit("cm2 s")
        np.testing.assert_allclose(exposure.data, ref["exposure"], rtol=1e-6, atol=1e-6 * ref["exposure"].max())


@pytest.fixture(scope="module")
def weeks_reference(weeks):
    return single_pass(weeks)


def test_weeks_equal_single_pass(weeks, weeks_reference, tmp_path):
    pipeline = AllSkyPipeline(weeks_config(weeks, tmp_path / "out"))
    chunks = pipeline.time_chunks()
    assert [c.ft1.name for c in chunks] == [f"ft1_w{w:02d}.fits" for w in range(NWEEKS)]
    # each chunk reads only the spacecraft file of its own week
    assert [len(pipeline._ft2_for(c)) for c in chunks] == [1] * NWEEKS
    result = pipeline.run()
    check_weeks(result.products, weeks_reference)
    # the 2 deg all-sky CAR map is computed in bands of 4000 pixels (22 rows of 180 columns)
    car_tiles = [r for r in result.report.results if r.label.startswith("exposure car")]
    assert len(car_tiles) == 5
    manifest = (tmp_path / "out" / "manifest.json").read_text()
    assert "ccube" in manifest and "bexpmap" in manifest
