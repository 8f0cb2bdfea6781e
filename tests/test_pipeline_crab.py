"""All-sky pipeline on the real one-day Crab data split in time chunks.

The co-added products must equal a single-pass computation (counts exactly, livetime and exposure
to 1e-6), and reproduce the Fermitools products of the data kit (gtbin counts cube exactly,
gtexpcube2 exposure cube).
"""
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import yaml
from astropy.io import fits
from gammapy.maps import Map

from gammapy_lat.pipeline import AllSkyConfig, AllSkyPipeline
from gammapy_lat.utils.io import TMP_PREFIX

EMIN, EMAX, NBINS = 200.0, 20000.0, 20
# centre of the gtbin counts cube and of the gtexpcube2 cube of the kit (Crab, Galactic)
CNTMAP_CENTER = [184.557460101, -5.78434644902]
EXPMAP_CENTER = [184.5575, -5.7844]


def crab_config(crab_day, caldb_path, outdir, time_chunk=21600.0, n_jobs=2, backend="multiprocessing"):
    return {
        "ft1": str(crab_day / "ft1.fits.gz"),
        "ft2": str(crab_day / "ft2.fits.gz"),
        "outdir": str(outdir),
        "irf_name": "P8R2_SOURCE_V6",
        "caldb": str(caldb_path),
        "evclass": 128,
        "filter": "(DATA_QUAL>0)&&(LAT_CONFIG==1)",
        # as the kit's gtltcube: NSIDE 16, 20 cos(theta) bins, no zenith cut in the livetime
        "livetime": {"nside": 16, "ncostheta": 20, "zmax": 180, "time_chunk": time_chunk},
        "components": [
            {
                "name": "cntmap",
                "energy": {"min": f"{EMIN} MeV", "max": f"{EMAX} MeV", "nbins": NBINS},
                "evtype": ["FRONT", "BACK"],
                "zmax": 90,
                "geom": {"type": "wcs", "binsz": 0.2, "width": [20, 20], "center": CNTMAP_CENTER},
                "exposure": False,
            },
            {
                "name": "expmap",
                "energy": {"min": f"{EMIN} MeV", "max": f"{EMAX} MeV", "nbins": NBINS},
                "evtype": 3,
                "zmax": 90,
                "geom": {"type": "wcs", "binsz": 0.5, "width": [20, 20], "center": EXPMAP_CENTER},
            },
            {
                "name": "hpx",
                "energy": {"min": "1 GeV", "max": f"{EMAX} MeV", "nbins": 4},
                "evtype": "FRONT",
                "zmax": 100,
                "geom": {"type": "healpix", "order": 5, "nest": True, "frame": "icrs"},
            },
        ],
        "parallel": {"n_jobs": n_jobs, "backend": backend},
        "exposure_tile_pixels": 600,
    }


@pytest.fixture(scope="module")
def single_pass(crab_day, caldb_path):
    """Counts, livetime and exposure computed in one pass over the whole day."""
    from gammapy_lat.data import bin_events, read_events, read_spacecraft
    from gammapy_lat.irf import LATIRFs, make_exposure_map
    from gammapy_lat.livetime import LivetimeCube
    from gammapy_lat.pipeline import component_counts_geom, component_exposure_geom

    cfg = AllSkyConfig.from_dict(crab_config(crab_day, caldb_path, "unused"))
    events = read_events(crab_day / "ft1.fits.gz")
    spacecraft = read_spacecraft(crab_day / "ft2.fits.gz")
    ltcube = LivetimeCube.compute(spacecraft, events.gti, nside=16, nbins=20, zmax=180)
    out = {"ltcube": ltcube}
    for comp in cfg.components:
        selected = events.select(
            evclass=128,
            evtype=comp.evtype_mask,
            emin=comp.energy.edges[0],
            emax=comp.energy.edges[-1],
            zmax=comp.zmax,
            allow_empty=True,
        )
        out[comp.name, "counts"] = bin_events(selected, component_counts_geom(comp)).data
        irfs = LATIRFs.from_caldb("P8R2_SOURCE_V6", comp.evtype_mask, caldb=caldb_path, psf=False, edisp=False)
        out[comp.name, "exposure"] = make_exposure_map(ltcube, irfs, component_exposure_geom(comp)).data
    return out


def check_against_single_pass(products, single_pass, crab_day):
    from gammapy_lat.livetime import LivetimeCube

    for name in ("cntmap", "expmap", "hpx"):
        counts = Map.read(products[name]["counts"])
        np.testing.assert_array_equal(counts.data, single_pass[name, "counts"])
        ltcube = LivetimeCube.read(products[name]["livetime"])
        ref = single_pass["ltcube"]
        np.testing.assert_allclose(ltcube.livetime.value, ref.livetime.value, rtol=1e-6, atol=1e-6 * ref.livetime.value.max())
        np.testing.assert_allclose(
            ltcube.weighted_livetime.value,
            ref.weighted_livetime.value,
            rtol=1e-6,
            atol=1e-6 * ref.weighted_livetime.value.max(),
        )
        if products[name]["exposure"] is not None:
            exposure = Map.read(products[name]["exposure"])
            np.testing.assert_allclose(exposure.data, single_pass[name, "exposure"], rtol=1e-6)
    assert products["cntmap"]["exposure"] is None
    # the Fermitools products of the kit: gtbin counts cube exactly, gtexpcube2 exposure cube
    gtbin = Map.read(crab_day / "cntmap.fits.gz")
    counts = Map.read(products["cntmap"]["counts"])
    assert counts.geom.data_shape == gtbin.geom.data_shape
    np.testing.assert_array_equal(counts.data, gtbin.data)
    gtexpcube2 = Map.read(crab_day / "binned_expmap.fits.gz")
    exposure = Map.read(products["expmap"]["exposure"])
    np.testing.assert_allclose(exposure.geom.axes["energy_true"].center, gtexpcube2.geom.axes["energy_true"].center)
    np.testing.assert_allclose(exposure.data, gtexpcube2.data, rtol=1e-5)


def test_crab_chunks_equal_single_pass(crab_day, caldb_path, single_pass, tmp_path):
    pipeline = AllSkyPipeline(crab_config(crab_day, caldb_path, tmp_path / "out"))
    chunks = pipeline.time_chunks()
    assert len(chunks) == 4 and chunks[-1].last and not chunks[0].last
    result = pipeline.run()
    check_against_single_pass(result.products, single_pass, crab_day)
    # exposure of the 0.5 deg map in 600-pixel tiles: 40x40 pixels -> 3 bands of rows
    assert result.report.by_kind()["exposure"][0] == 3 + 1
    # a second run finds everything
    again = AllSkyPipeline(crab_config(crab_day, caldb_path, tmp_path / "out")).run()
    assert again.report.n_done == 0 and again.report.n_present == result.report.n_tasks
    # a changed event selection gives new names: only what depends on it is redone (the livetime
    # cube has its own zenith cut here, so neither it nor the exposure change)
    cfg = crab_config(crab_day, caldb_path, tmp_path / "out")
    cfg["components"][2]["zmax"] = 95
    changed = AllSkyPipeline(cfg).run()
    assert {k: n for k, (n, _) in changed.report.by_kind().items() if n} == {"counts": 4, "ccube": 1}
    # a changed livetime binning redoes the livetime and the exposure, not the counts
    cfg["livetime"]["ncostheta"] = 40
    changed = AllSkyPipeline(cfg).run()
    kinds = {k: n for k, (n, _) in changed.report.by_kind().items() if n}
    assert kinds == {"livetime": 4, "ltcube": 1, "exposure": 3 + 1, "bexpmap": 2}


def _all_products_readable(outdir):
    names = [p for p in outdir.rglob("*.fits") if not p.name.startswith(TMP_PREFIX)]
    for path in names:
        with fits.open(path, memmap=False) as hdulist:
            for hdu in hdulist:
                hdu.data  # noqa: B018 - reads the data, fails on a truncated file
    return names


def test_crab_kill_and_resume(crab_day, caldb_path, single_pass, tmp_path):
    # serial run with many small chunks, killed while it writes partial products
    cfg = crab_config(crab_day, caldb_path, tmp_path / "out", time_chunk=7200.0, n_jobs=1)
    path = tmp_path / "allsky.yaml"
    path.write_text(yaml.safe_dump(cfg))
    cmd = [sys.executable, "-c", "from gammapy_lat.cli import cli; cli()", "allsky", str(path), "--no-progress"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    partials = tmp_path / "out" / "partials"
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and proc.poll() is None:
            done = [p for p in partials.rglob("*.fits") if not p.name.startswith(TMP_PREFIX)] if partials.exists() else []
            if len([p for p in done if p.parent.name == "counts"]) >= 4:
                break
            time.sleep(0.05)
        assert proc.poll() is None, "the pipeline finished before it could be killed"
        os.killpg(proc.pid, signal.SIGKILL)
    finally:
        proc.wait()
    assert proc.returncode == -signal.SIGKILL
    # no final product yet, and every product present is complete
    assert not (tmp_path / "out" / "final").exists() or not list((tmp_path / "out" / "final").glob("ccube*"))
    assert not (tmp_path / "out" / "cntmap" / "ccube.fits").exists()
    n_before = len(_all_products_readable(tmp_path / "out"))
    assert n_before >= 12 + 4  # the GTIs of the 12 chunks and some counts

    cfg["parallel"]["n_jobs"] = 2
    result = AllSkyPipeline(AllSkyConfig.from_dict(cfg)).run()
    assert result.report.n_present >= n_before
    assert result.report.n_done == result.report.n_tasks - result.report.n_present
    assert not list((tmp_path / "out").rglob(TMP_PREFIX + "*"))
    _all_products_readable(tmp_path / "out")
    check_against_single_pass(result.products, single_pass, crab_day)
