"""The runner and the safe mask on LAT data of another era, and energy ranges that meet axis edges."""
import astropy.units as u
import numpy as np
import pytest
from astropy.io import fits
from gammapy.datasets import MapDataset
from gammapy.maps import MapAxis, WcsGeom

from gammapy_lat.analysis import Analysis, AnalysisConfig
from gammapy_lat.makers import LATSafeMaskMaker
from gammapy_lat.makers.utils import energy_mask

P6_CONFIG = """
general: {{outdir: {outdir}, progress_bar: false}}
datasets:
  - instrument: lat
    name: p6
    events: {week}/ft1.fits.gz
    spacecraft: {week}/ft2.fits.gz
    irf_name: P6_V3_DIFFUSE
    caldb: {caldb}
    selection:
      evclass: 3
      evtype: 3
      zmax: 105 deg
      energy: {{min: 200 MeV, max: 10 GeV}}
    ltcube: {{file: {week}/ltcube.fits.gz}}
    components:
      - {{name: fb, evtype: 3, isodiff: {week}/isotropic_iem_v02.txt}}
    geom:
      wcs:
        skydir: {{frame: icrs, lon: 83.6331 deg, lat: 22.0145 deg}}
        binsize: 0.25 deg
        width: {{width: 6 deg, height: 6 deg}}
        binsize_irf: 1 deg
      axes:
        energy: {{min: 200 MeV, max: 10 GeV, nbins: 5}}
    edisp: {{enabled: false}}
"""


def test_runner_on_the_pass6_week(p6_week, caldb_path, tmp_path):
    """``gammapy-lat run`` reads the Pass 6 files (Fortran-style MJDREFF) and keeps the last bin
    of a selection ending at the 10 GeV edge of the axis."""
    text = P6_CONFIG.format(outdir=tmp_path / "out", week=p6_week, caldb=caldb_path)
    (tmp_path / "p6.yaml").write_text(text)
    from click.testing import CliRunner

    from gammapy_lat.cli import cli

    result = CliRunner().invoke(cli, ["run", str(tmp_path / "p6.yaml"), "--steps", "reduce"])
    assert result.exit_code == 0, result.output
    config = AnalysisConfig.read(tmp_path / "p6.yaml")
    analysis = Analysis(config)
    analysis.run(steps=["reduce"])
    dataset = analysis.datasets[0]
    edges = dataset.counts.geom.axes["energy"].edges
    assert edges[-1] > 10 * u.GeV  # 10.000000000000002 GeV in floating point
    # every energy bin is in the safe mask: 200 MeV - 10 GeV is the axis
    assert np.all(dataset.mask_safe.data.any(axis=(1, 2)))
    # counts: the events of the week inside the map and the energy range
    raw = fits.getdata(p6_week / "ft1.fits.gz", "EVENTS")
    from astropy.coordinates import SkyCoord

    inside = dataset.counts.geom.to_image().contains(SkyCoord(raw["RA"], raw["DEC"], unit="deg"))
    energy = (raw["ENERGY"] > 200) & (raw["ENERGY"] <= 10000)
    assert dataset.counts.data.sum() == np.sum(inside & energy & (raw["ZENITH_ANGLE"] <= 105))


@pytest.mark.parametrize("emax", [10 * u.GeV, 10000 * u.MeV, 1e4 * (1 - 5e-7) * u.MeV])
def test_safe_mask_edge_tolerance(emax):
    """A 10 GeV limit keeps a bin whose upper edge is 10000.00000000001 MeV (float rounding)."""
    edges = np.geomspace(100, 10000, 9) * u.MeV
    edges[-1] = 10000.00000000001 * u.MeV
    axis = MapAxis.from_edges(edges, name="energy", interp="log")
    assert axis.edges[-1].to_value("MeV") > 1e4
    geom = WcsGeom.create(npix=3, binsz=1, axes=[axis])
    dataset = MapDataset.create(geom)
    dataset.mask_safe = None
    mask = LATSafeMaskMaker(methods=["energy-range"], energy_max=emax).run(dataset).mask_safe.data
    assert mask.all()
    # gammapy's own comparison loses the bin
    assert not geom.energy_mask(energy_max=10 * u.GeV).data[-1].any()
    # a limit inside the bin still excludes it, and energy_min works the same way
    assert not energy_mask(geom, energy_max=9999 * u.MeV)[-1].any()
    assert energy_mask(geom, energy_min=100 * (1 + 5e-7) * u.MeV)[0].all()
    assert not energy_mask(geom, energy_min=100.1 * u.MeV)[0].any()


def test_fit_range_edge_tolerance():
    """The runner's fit range uses the same comparison (mask_fit of every dataset)."""
    axis = MapAxis.from_energy_bounds("200 MeV", "10 GeV", 5, name="energy")
    geom = WcsGeom.create(npix=2, binsz=1, axes=[axis])
    mask = energy_mask(geom, 0.2 * u.GeV * (1 + 1e-9), 10 * u.GeV * (1 - 1e-9))
    assert mask.all()
