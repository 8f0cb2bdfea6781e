"""``gammapy-lat expmap`` and ``diffrsp`` on the Crab day, and the runner's ``likelihood: unbinned``."""
from pathlib import Path

import astropy.units as u
import numpy as np
import pytest
from astropy.coordinates import SkyCoord
from astropy.io import fits
from click.testing import CliRunner
from gammapy.maps import MapAxis, WcsGeom

from gammapy_lat.cli import cli
from gammapy_lat.data import LATObservation, read_events
from gammapy_lat.datasets import UnbinnedLATDataset, read_diffuse_responses
from gammapy_lat.irf import LATIRFs, UnbinnedExposureMap, make_exposure_map
from gammapy_lat.livetime import LivetimeCube
from gammapy_lat.makers import UnbinnedLATDatasetMaker

CRAB = SkyCoord(83.6331, 22.0145, unit="deg")
CONFIGS = Path(__file__).resolve().parents[1] / "configs"

ISO_XML = """<source_library title="source library">
  <source type="DiffuseSource" name="Iso_Test">
    <spectrum type="FileFunction" file="{iso}">
      <parameter scale="1.0" name="Normalization" min="0.0" max="1000.0" value="1.0" free="1"/>
    </spectrum>
    <spatialModel type="DiffuseIsotropic">
      <parameter scale="1" name="Value" min="0" max="10" value="1" free="0"/>
    </spatialModel>
  </source>
  <source type="PointSource" name="Crab">
    <spectrum type="PowerLaw">
      <parameter scale="1e-09" name="Prefactor" min="1e-3" max="1000.0" value="3" free="1"/>
      <parameter scale="1.0" name="Index" min="-5.0" max="-0.1" value="-2.2" free="1"/>
      <parameter scale="1.0" name="Scale" min="30" max="5e5" value="1000" free="0"/>
    </spectrum>
    <spatialModel type="SkyDirFunction">
      <parameter scale="1" name="RA" min="-360" max="360" value="83.6331" free="0"/>
      <parameter scale="1" name="DEC" min="-90" max="90" value="22.0145" free="0"/>
    </spatialModel>
  </source>
</source_library>
"""


def test_expmap_cli(crab_day, caldb_path, tmp_path):
    """gtexpmap's format: STG grid of 2 srcrad, log-spaced planes over the event selection, the
    events' DSS keywords and GTIs; the exposure near the centre is gtexpcube2's times a PSF
    containment close to one."""
    out = tmp_path / "expmap.fits"
    args = ["expmap", "--evfile", str(crab_day / "ft1.fits.gz"), "--expcube", str(crab_day / "ltcube.fits.gz"),
            "--irfs", "P8R2_SOURCE_V6", "--caldb", str(caldb_path), "--srcrad", "25", "--nlong", "60", "--nlat", "60",
            "--nenergies", "7", "--outfile", str(out)]  # fmt: skip
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    with fits.open(out) as h:
        header = h[0].header
        assert h[0].data.shape == (7, 60, 60)
        assert (header["CTYPE1"], header["CTYPE2"], header["CTYPE3"]) == ("RA---STG", "DEC--STG", "log_Energy")
        assert header["CDELT1"] == pytest.approx(50 / 59) and header["CRPIX1"] == 30.5
        assert header["CRVAL3"] == pytest.approx(200) and header["CDELT3"] == pytest.approx(np.log(100) / 6)
        np.testing.assert_allclose(h["ENERGIES"].data["Energy"], np.geomspace(200, 20000, 7))
        assert header["DSVAL4"] == "CIRCLE(83.6331,22.0145,15)"
        assert len(h["GTI"].data) == 15
    expmap = UnbinnedExposureMap.read(out)
    irfs = LATIRFs.from_caldb("P8R2_SOURCE_V6", 3, caldb=caldb_path, edisp=False)
    axis = MapAxis.from_nodes(expmap.energy, name="energy_true", interp="log")
    geom = WcsGeom.create(skydir=CRAB, binsz=0.5, width=1, axes=[axis])
    binned = make_exposure_map(LivetimeCube.read(crab_day / "ltcube.fits.gz"), irfs, geom).data[:, 0, 0]
    center = expmap.data[:, 29:31, 29:31].mean(axis=(1, 2))
    ratio = center / binned
    assert np.all(ratio < 1.001) and np.all(ratio > 0.97)
    # no clobber; no livetime source
    result = CliRunner().invoke(cli, args)
    assert result.exit_code != 0 and "already exists" in result.output
    result = CliRunner().invoke(cli, [a for a in args if a not in ("--expcube", str(crab_day / "ltcube.fits.gz"))] + ["--clobber"])
    assert result.exit_code != 0 and "--expcube or --scfile" in result.output


def test_diffrsp_cli(crab_day, caldb_path, tmp_path):
    """DIFRSP columns as gtdiffrsp writes them (the first NONE placeholder of the data-server file
    takes the label <irfs>__<source>), used by the unbinned dataset; the input is unchanged."""
    xml = tmp_path / "model.xml"
    xml.write_text(ISO_XML.format(iso=crab_day / "iso_P8R2_SOURCE_V6_v06.txt"))
    out = tmp_path / "ft1_difrsp.fits"
    args = ["diffrsp", "--evfile", str(crab_day / "ft1.fits.gz"), "--scfile", str(crab_day / "ft2.fits.gz"),
            "--srcmdl", str(xml), "--irfs", "P8R2_SOURCE_V6", "--caldb", str(caldb_path), "--outfile", str(out)]  # fmt: skip
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    with fits.open(out) as h:
        header = h["EVENTS"].header
        assert header["NDIFRSP"] == 5
        assert header["DIFRSP0"] == "p8r2_source_v6__iso_test"
        assert [header[f"DIFRSP{i}"] for i in range(1, 5)] == ["NONE"] * 4
        assert len(h["EVENTS"].data) == 1507
    assert fits.getheader(crab_day / "ft1.fits.gz", "EVENTS")["DIFRSP0"] == "NONE"
    events = read_events(out)
    values = read_diffuse_responses(events)["p8r2_source_v6__iso_test"]
    # an isotropic model of value 1 through the PSF: about the effective area (cm2)
    assert 300 < np.median(values) < 8000
    # the dataset made from the copy uses the column
    observation = LATObservation.read(out, crab_day / "ft2.fits.gz")
    axis = MapAxis.from_energy_bounds("200 MeV", "20 GeV", 4, name="energy")
    maker = UnbinnedLATDatasetMaker(irf_name="P8R2_SOURCE_V6", caldb=caldb_path, ltcube=crab_day / "ltcube.fits.gz")
    dataset = maker.run(UnbinnedLATDataset.create(axis, CRAB, 10 * u.deg, name="with-column"), observation)
    assert list(dataset.diffuse_responses) == ["p8r2_source_v6__iso_test"]
    from gammapy_lat.models import read_xml_models

    models = read_xml_models(xml)
    models["Iso_Test"].apply_irf = {"psf": True, "exposure": True, "edisp": False}
    dataset.models = models
    response = dataset._event_response()
    column = dataset.diffuse_responses["p8r2_source_v6__iso_test"] * response.efficiency
    np.testing.assert_allclose(dataset.evaluators["Iso_Test"].events_response(), column)
    # the copy cannot replace its input
    result = CliRunner().invoke(cli, args[:-1] + [str(crab_day / "ft1.fits.gz")])
    assert result.exit_code != 0 and "input event file" in result.output


def test_diffrsp_cli_map_cube(crab_day, caldb_path, tmp_path):
    """A MapCubeFunction source (the Galactic intensity of the Crab day's gtsrcmaps map, written as
    an FSSC map cube) next to the isotropic one: its column over the isotropic column is the
    PSF-smoothed cube intensity at the event, as for the DIFRSP columns of the Fermitools."""
    from gammapy.maps import Map

    counts = Map.read(crab_day / "cntmap.fits.gz")
    with fits.open(crab_day / "srcmap.fits.gz") as h:
        eb = h["EBOUNDS"].data
        edges = np.append(eb["E_MIN"], eb["E_MAX"][-1]) / 1000.0
        srcmap = h["Galactic_diffuse"].data.astype(float)
    bexp = Map.read(crab_day / "binned_expmap.fits.gz")
    image = counts.geom.to_image()
    coords = image.get_coord().skycoord
    expo = np.array([bexp.interp_by_coord({"skycoord": coords, "energy_true": e * u.MeV}) for e in edges])
    intensity = srcmap / (expo * image.solid_angle().to_value("sr")[None])
    primary = fits.PrimaryHDU(data=intensity.astype(np.float32), header=image.wcs.to_header())
    primary.header["BUNIT"] = "photons/cm^2/s/MeV/sr"
    energies = fits.BinTableHDU.from_columns([fits.Column("Energy", "D", array=edges)], name="ENERGIES")
    fits.HDUList([primary, energies]).writeto(tmp_path / "cube.fits")
    xml = tmp_path / "model.xml"
    text = ISO_XML.format(iso=crab_day / "iso_P8R2_SOURCE_V6_v06.txt").replace(
        "</source_library>",
        """  <source type="DiffuseSource" name="gal_test">
    <spectrum type="ConstantValue"><parameter scale="1" name="Value" min="0" max="10" value="1" free="1"/></spectrum>
    <spatialModel type="MapCubeFunction" file="cube.fits">
      <parameter scale="1" name="Normalization" min="0.001" max="1000" value="1" free="0"/>
    </spatialModel>
  </source>
</source_library>""",
    )
    xml.write_text(text)
    out = tmp_path / "ft1_difrsp.fits"
    args = ["diffrsp", "--evfile", str(crab_day / "ft1.fits.gz"), "--scfile", str(crab_day / "ft2.fits.gz"),
            "--srcmdl", str(xml), "--irfs", "P8R2_SOURCE_V6", "--caldb", str(caldb_path), "--outfile", str(out)]  # fmt: skip
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    responses = read_diffuse_responses(read_events(out))
    assert list(responses) == ["p8r2_source_v6__iso_test", "p8r2_source_v6__gal_test"]
    events = read_events(out)
    energy = events.energy.to_value("MeV")
    implied = responses["p8r2_source_v6__gal_test"] / responses["p8r2_source_v6__iso_test"]
    cube = Map.from_geom(image.to_cube([MapAxis.from_nodes(edges * u.MeV, name="energy_true", interp="log")]),
                         data=intensity, unit="MeV-1 cm-2 s-1 sr-1")
    at_events = cube.interp_by_coord({"skycoord": events.radec, "energy_true": energy * u.MeV},
                                     values_scale="log")
    inside = (events.radec.separation(image.center_skydir) < 7 * u.deg) & (energy < 2000)
    ratio = implied[inside] / at_events[inside]
    assert inside.sum() > 300
    assert np.median(ratio) == pytest.approx(1, abs=0.05)


def test_runner_unbinned_block(shared_path, tmp_path, monkeypatch):
    """The shipped LAT config with likelihood: unbinned: one unbinned dataset, fit, flux points,
    report; products read back and the second run is up to date."""
    from gammapy_lat.analysis import Analysis, AnalysisConfig

    monkeypatch.setenv("GAMMAPY_LAT_DATA", str(shared_path / "data"))
    config = AnalysisConfig.read(CONFIGS / "lat-crab-day.yaml")
    config.general.outdir = str(tmp_path)
    config.general.progress_bar = False
    block = config.datasets[0]
    block.likelihood = "unbinned"
    block.selection.roi.radius = "10 deg"
    block.edisp.enabled = False
    config.estimators.flux_points.selection_optional = []
    analysis = Analysis(config)
    analysis.run()
    dataset = analysis.datasets[0]
    assert dataset.tag == "UnbinnedLATDataset" and dataset.name == "lat-fb"
    assert dataset.n_events == 671 and np.all(dataset.mask.data)
    assert analysis.fit_result["success"]
    assert 2.0 < analysis.models["crab"].spectral_model.index.value < 2.6
    assert (tmp_path / "estimate" / "flux_points.fits").is_file()
    assert "UnbinnedLATDataset" in (tmp_path / "report" / "summary.txt").read_text()
    again = Analysis(config)
    again.run()
    assert {r.status for r in again.records} == {"up to date"}
    assert again.datasets[0].stat_sum() == pytest.approx(dataset.stat_sum(), rel=1e-9)


def test_runner_unbinned_needs_a_cone():
    from gammapy_lat.analysis import AnalysisConfig
    from gammapy_lat.errors import ConfigError

    text = (CONFIGS / "lat-crab-day.yaml").read_text().replace(
        "      roi: {frame: icrs, lon: 83.6331 deg, lat: 22.0145 deg, radius: 15 deg}\n", ""
    ).replace("    edisp: {enabled: true, edisp_bins: 2}\n", "    edisp: {enabled: true, edisp_bins: 2}\n    likelihood: unbinned\n")
    with pytest.raises((ConfigError, ValueError), match="likelihood: unbinned needs selection.roi"):
        AnalysisConfig.from_yaml(text)
