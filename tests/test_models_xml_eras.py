"""gtlike XML of every era: response flags, 4FGL-era spectra, the 4FGL-DR4 catalog file.

References: the published formulas of the Likelihood functions (written out here), direct
integrations, synthetic tables whose interpolation is exact, and the real 4FGL-DR4 file.
"""
import warnings

import astropy.units as u
import numpy as np
import pytest
from astropy.coordinates import SkyCoord
from astropy.io import fits
from gammapy.datasets import MapDataset
from gammapy.irf import EDispKernelMap, PSFMap
from gammapy.maps import Map, MapAxis, WcsGeom
from gammapy.modeling.models import Models

from gammapy_lat.data.gti import time_ref_from_header
from gammapy_lat.errors import LATFileError
from gammapy_lat.models import (
    XMLModelError,
    models_from_xml_string,
    models_to_xml_string,
    read_xml_models,
)
from test_models_xml import assert_models_equal

POINT = """<spatialModel type="SkyDirFunction">
 <parameter name="RA" value="83.63" scale="1" min="-360" max="360" free="0"/>
 <parameter name="DEC" value="22.01" scale="1" min="-90" max="90" free="0"/>
</spatialModel>"""


def _source(name, spectrum, extra=""):
    return f'<source name="{name}" type="PointSource"{extra}>{spectrum}{POINT}</source>'


def _library(*sources):
    return "<source_library>" + "".join(sources) + "</source_library>"


ISO_XML = """<source_library>
 <source name="iso" type="DiffuseSource">
  <spectrum type="FileFunction" file="iso_P8R3_SOURCE_V2.txt">
   <parameter name="Normalization" value="1" scale="1" min="0" max="10" free="1"/>
  </spectrum>
  <spatialModel type="ConstantValue">
   <parameter name="Value" value="1" scale="1" min="0" max="10" free="0"/>
  </spatialModel>
 </source>
 <source name="src" type="PointSource" apply_edisp="false">
  <spectrum type="PowerLaw">
   <parameter name="Prefactor" value="1" scale="1e-9" min="0" max="1e3" free="1"/>
   <parameter name="Index" value="-2" scale="1" min="-5" max="0" free="1"/>
   <parameter name="Scale" value="1000" scale="1" min="30" max="5e5" free="0"/>
  </spectrum>
  <spatialModel type="SkyDirFunction">
   <parameter name="RA" value="83.63" scale="1" min="-360" max="360" free="0"/>
   <parameter name="DEC" value="22.01" scale="1" min="-90" max="90" free="0"/>
  </spatialModel>
 </source>
</source_library>"""


def test_isotropic_npred_at_map_edge(crab_day):
    """npred of a DiffuseIsotropic = exposure x intensity x solid angle, up to the map's corners.

    The dataset has a wide PSF (3 deg at all energies) and a 6 deg map: a convolution of the
    isotropic inside the map would lose a large part of the corner counts.
    """
    models = models_from_xml_string(ISO_XML, folder=crab_day)
    iso, src = models["iso"], models["src"]
    assert iso.apply_irf == {"exposure": True, "psf": False, "edisp": True}
    assert src.apply_irf == {"exposure": True, "psf": True, "edisp": False}

    energy = MapAxis.from_energy_bounds("100 MeV", "10 GeV", 4, name="energy")
    energy_true = MapAxis.from_energy_bounds("100 MeV", "10 GeV", 8, name="energy_true")
    geom = WcsGeom.create(skydir=(83.63, 22.01), binsz=0.2, width=6, frame="icrs", axes=[energy])
    dataset = MapDataset.create(geom, energy_axis_true=energy_true, name="iso-test")
    # exposure with a spatial gradient and an energy dependence
    coords = dataset.exposure.geom.get_coord()
    gradient = 1 + 0.05 * (coords.skycoord.ra.deg - 83.63)
    dataset.exposure.quantity = 3e10 * gradient * (coords["energy_true"] / u.GeV).to_value("") ** 0.2 * u.Unit("cm2 s")
    dataset.psf = PSFMap.from_gauss(energy_true, sigma=3 * u.deg)
    dataset.edisp = EDispKernelMap.from_diagonal_response(energy, energy_true)
    dataset.mask_safe = Map.from_geom(geom, data=np.ones(geom.data_shape, dtype=bool))
    dataset.models = [iso]
    npred = dataset.npred().data

    # the reference: intensity table interpolated log-log, integrated on a fine grid per true bin
    table = np.loadtxt(crab_day / "iso_P8R3_SOURCE_V2.txt")
    edges = energy_true.edges.to_value("MeV")
    expected_bins = []
    for lo, hi in zip(edges[:-1], edges[1:]):
        e = np.geomspace(lo, hi, 2001)
        intensity = np.exp(np.interp(np.log(e), np.log(table[:, 0]), np.log(table[:, 1])))
        expected_bins.append(np.trapezoid(intensity, e))
    expected_bins = np.array(expected_bins)  # cm-2 s-1 sr-1
    solid_angle = dataset.exposure.geom.solid_angle().to_value("sr")
    expected_true = dataset.exposure.data * expected_bins[:, None, None] * solid_angle
    expected = expected_true.reshape(4, 2, *geom.data_shape[1:]).sum(axis=1)
    for iy, ix in ((0, 0), (0, -1), (-1, -1), (15, 15), (15, 0)):
        np.testing.assert_allclose(npred[:, iy, ix], expected[:, iy, ix], rtol=2e-3)
    np.testing.assert_allclose(npred.sum(), expected.sum(), rtol=2e-3)


def test_apply_edisp_round_trip():
    models = models_from_xml_string(ISO_XML.replace('file="iso_P8R3_SOURCE_V2.txt"', 'file="x.txt"'), missing_files="skip")
    text = models_to_xml_string(models)
    assert 'apply_edisp="false"' in text
    assert models_from_xml_string(text)["src"].apply_irf["edisp"] is False
    with pytest.raises(XMLModelError, match="apply_edisp"):
        models_from_xml_string(ISO_XML.replace('apply_edisp="false"', 'apply_edisp="maybe"'), missing_files="skip")


SPECTRA = {
    "sbpl": """<spectrum type="SmoothBrokenPowerLaw">
   <parameter name="Prefactor" value="2" scale="1e-10" min="0" max="100" free="1"/>
   <parameter name="Index1" value="-1.6" scale="1" min="-5" max="0" free="1"/>
   <parameter name="Scale" value="1000" scale="1" free="0"/>
   <parameter name="Index2" value="-2.9" scale="1" min="-5" max="0" free="1"/>
   <parameter name="BreakValue" value="4000" scale="1" min="100" max="1e5" free="1"/>
   <parameter name="Beta" value="0.25" scale="1" min="0.01" max="10" free="0"/></spectrum>""",
    "sbpl_hard": """<spectrum type="SmoothBrokenPowerLaw">
   <parameter name="Prefactor" value="2" scale="1e-10" free="1"/>
   <parameter name="Index1" value="-2.9" scale="1" free="1"/>
   <parameter name="Scale" value="1000" scale="1" free="0"/>
   <parameter name="Index2" value="-1.6" scale="1" free="1"/>
   <parameter name="BreakValue" value="4000" scale="1" free="1"/>
   <parameter name="Beta" value="0.25" scale="1" free="0"/></spectrum>""",
    "bpl2": """<spectrum type="BrokenPowerLaw2">
   <parameter name="Integral" value="3" scale="1e-8" min="0" max="1e3" free="1"/>
   <parameter name="Index1" value="-1.7" scale="1" min="-5" max="0" free="1"/>
   <parameter name="Index2" value="-2.6" scale="1" min="-5" max="0" free="1"/>
   <parameter name="BreakValue" value="2000" scale="1" min="100" max="1e5" free="1"/>
   <parameter name="LowerLimit" value="100" scale="1" free="0"/>
   <parameter name="UpperLimit" value="1e5" scale="1" free="0"/></spectrum>""",
    "gauss": """<spectrum type="Gaussian">
   <parameter name="Prefactor" value="4" scale="1e-10" min="0" max="1e3" free="1"/>
   <parameter name="Mean" value="7" scale="1e4" min="1" max="1e2" free="1"/>
   <parameter name="Sigma" value="5" scale="1e3" min="0.1" max="1e2" free="1"/></spectrum>""",
}


def published(name, e):
    """The Likelihood functions of the FSSC model page (E in MeV)."""
    if name in ("sbpl", "sbpl_hard"):
        g1, g2 = (-1.6, -2.9) if name == "sbpl" else (-2.9, -1.6)
        return 2e-10 * (e / 1000) ** g1 * (1 + (e / 4000) ** ((g1 - g2) / 0.25)) ** -0.25
    if name == "bpl2":
        g1, g2, eb = -1.7, -2.6, 2000.0
        n0 = 3e-8 / (eb * ((1 - (100 / eb) ** (g1 + 1)) / (g1 + 1) + ((1e5 / eb) ** (g2 + 1) - 1) / (g2 + 1)))
        return n0 * np.where(e < eb, (e / eb) ** g1, (e / eb) ** g2)
    if name == "gauss":
        return 4e-10 / (5e3 * np.sqrt(2 * np.pi)) * np.exp(-((e - 7e4) ** 2) / (2 * 5e3**2))
    raise KeyError(name)


@pytest.fixture(scope="module")
def new_spectra():
    return models_from_xml_string(_library(*(_source(k, v) for k, v in SPECTRA.items())))


@pytest.mark.parametrize("name", list(SPECTRA))
def test_new_spectra_match_published_formulas(new_spectra, name):
    e = np.geomspace(50, 5e5, 401)
    actual = new_spectra[name].spectral_model(e * u.MeV).to_value("cm-2 s-1 MeV-1")
    np.testing.assert_allclose(actual, published(name, e), rtol=1e-10, atol=1e-300)


def test_new_spectra_integrals_and_round_trip(new_spectra, tmp_path):
    bpl2 = new_spectra["bpl2"].spectral_model
    assert bpl2.integral(100 * u.MeV, 1e5 * u.MeV).to_value("cm-2 s-1") == pytest.approx(3e-8, rel=1e-12)
    e = np.geomspace(100, 1e5, 200001)
    assert bpl2.integral(300 * u.MeV, 5e4 * u.MeV).to_value("cm-2 s-1") == pytest.approx(
        np.trapezoid(published("bpl2", e[(e >= 300) & (e <= 5e4)]), e[(e >= 300) & (e <= 5e4)]), rel=1e-6
    )
    gauss = new_spectra["gauss"].spectral_model
    assert gauss.integral(1 * u.MeV, 1e6 * u.MeV).to_value("cm-2 s-1") == pytest.approx(4e-10, rel=1e-9)
    again = models_from_xml_string(models_to_xml_string(new_spectra))
    assert_models_equal(new_spectra, again)
    yaml_path = tmp_path / "m.yaml"
    new_spectra.write(yaml_path)
    assert_models_equal(new_spectra, Models.read(yaml_path))


def _tau(e_mev, z):
    """An optical depth linear in z and in log E: Gammapy's interpolation of the table (linear in
    z and log E of log(exp(-tau))) is then exact."""
    return 0.3 * z * np.log(e_mev / 10.0)


def _write_ebl_table(path):
    """A table in the XSPEC format of Gammapy's EBL files, exp(-tau) on (z, E) nodes."""
    z = np.linspace(0, 2, 41)
    e_kev = np.geomspace(1e4, 1e11, 141)  # 10 MeV .. 100 TeV bin edges in keV
    centre_mev = np.sqrt(e_kev[:-1] * e_kev[1:]) / 1e3
    spectra = np.exp(-_tau(centre_mev[None, :], z[:, None]))
    params = fits.BinTableHDU.from_columns(
        [fits.Column("NAME", "12A", array=["z"]), fits.Column("VALUE", f"{z.size}E", array=[z.astype(np.float32)])],
        name="PARAMETERS",
    )
    energies = fits.BinTableHDU.from_columns(
        [fits.Column("ENERG_LO", "E", array=e_kev[:-1]), fits.Column("ENERG_HI", "E", array=e_kev[1:])], name="ENERGIES"
    )
    spec = fits.BinTableHDU.from_columns(
        [fits.Column("PARAMVAL", "E", array=z), fits.Column("INTPSPEC", f"{centre_mev.size}D", array=spectra)], name="SPECTRA"
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    fits.HDUList([fits.PrimaryHDU(), params, energies, spec]).writeto(path)


EBL_XML = """<spectrum type="EblAtten::PowerLaw2">
   <parameter name="Integral" value="2" scale="1e-8" min="0" max="1e3" free="1"/>
   <parameter name="Index" value="-1.8" scale="1" min="-5" max="0" free="1"/>
   <parameter name="LowerLimit" value="100" scale="1" free="0"/>
   <parameter name="UpperLimit" value="5e5" scale="1" free="0"/>
   <parameter name="tau_norm" value="1.2" scale="1" min="0" max="3" free="1"/>
   <parameter name="redshift" value="0.6" scale="1" min="0" max="5" free="0"/>
   <parameter name="ebl_model" value="{index}" scale="1" free="0"/></spectrum>"""


def test_ebl_attenuation(tmp_path, monkeypatch):
    """EblAtten::PowerLaw2 = PowerLaw2 x exp(-tau_norm tau(E, z)), EBL from Gammapy's table."""
    from gammapy.modeling.models.spectral import EBL_DATA_BUILTIN

    data = tmp_path / "gammapy-data"
    _write_ebl_table(data / EBL_DATA_BUILTIN["dominguez"].replace("$GAMMAPY_DATA/", ""))
    monkeypatch.setenv("GAMMAPY_DATA", str(data))
    models = models_from_xml_string(_library(_source("blazar", EBL_XML.format(index=10))))
    spectral = models["blazar"].spectral_model
    e = np.geomspace(200, 2e5, 41)
    g = -1.8
    base = 2e-8 * (g + 1) * e**g / (5e5 ** (g + 1) - 100 ** (g + 1))
    expected = base * np.exp(-1.2 * _tau(e, 0.6))
    np.testing.assert_allclose(spectral(e * u.MeV).to_value("cm-2 s-1 MeV-1"), expected, rtol=1e-6)
    assert [p.name for p in spectral.parameters.free_parameters] == ["amplitude", "index", "alpha_norm"]
    text = models_to_xml_string(models)
    assert 'type="EblAtten::PowerLaw2"' in text and 'name="ebl_model" value="10"' in text
    assert_models_equal(models, models_from_xml_string(text))
    # a Fermitools EBL model without a Gammapy table is a clear error
    with pytest.raises(XMLModelError, match="Gilmore 2012"):
        models_from_xml_string(_library(_source("blazar", EBL_XML.format(index=14))))
    monkeypatch.setenv("GAMMAPY_DATA", str(tmp_path / "nowhere"))
    with pytest.raises(LATFileError, match="EBL table"):
        models_from_xml_string(_library(_source("blazar", EBL_XML.format(index=10))))


def _write_dmfit_table(path):
    """A gammamc_dif.dat-shaped table: yield = (channel block + 1) * (1 + z) * mass index-ish."""
    from gammapy_lat.models.dmfit import DMFIT_MASSES

    z = (np.arange(250) + 0.5) / 250
    values = np.empty((12, 24, 250))
    for block in range(12):
        for k, mass in enumerate(DMFIT_MASSES):
            values[block, k] = (block + 1) * (1 + 2 * z) * (1 + 1e-3 * mass)
    path.write_text("\n".join(" ".join(f"{v:.10e}" for v in row) for row in values.reshape(-1, 250)))
    return values


DMFIT_XML = """<spectrum type="DMFitFunction" file="gammamc_dif.dat">
   <parameter name="norm" value="5" scale="1e18" free="0"/>
   <parameter name="sigmav" value="3" scale="1e-26" min="0" max="1e4" free="1"/>
   <parameter name="mass" value="{mass}" scale="1" min="2" max="1e4" free="1"/>
   <parameter name="bratio" value="0.7" scale="1" free="0"/>
   <parameter name="channel0" value="4" scale="1" free="0"/>
   <parameter name="channel1" value="3" scale="1" free="0"/></spectrum>"""


@pytest.mark.parametrize("mass", [60.0, 1000.0])
def test_dmfit_function(tmp_path, mass):
    """DMFitFunction = norm sigmav / (8 pi m^2) [b Y_c0 + (1 - b) Y_c1] (E in GeV, per MeV).

    The synthetic table is linear in z and its mass dependence is linear in m, so that the
    DMFit interpolation (linear in z, linear in m^2 between tabulated masses) is known exactly.
    """
    from gammapy_lat.models.dmfit import DMFIT_MASSES

    _write_dmfit_table(tmp_path / "gammamc_dif.dat")
    models = models_from_xml_string(_library(_source("dm", DMFIT_XML.format(mass=mass))), folder=tmp_path)
    spectral = models["dm"].spectral_model
    e_gev = mass * np.geomspace(1e-6, 0.9, 50)
    z = (np.log10(e_gev / mass) + 10) / 10
    k = np.searchsorted(DMFIT_MASSES, mass, side="right") - 1
    m1, m2 = DMFIT_MASSES[k], DMFIT_MASSES[k + 1]
    w = (mass**2 - m1**2) / (m2**2 - m1**2)
    mass_factor = (1 + 1e-3 * m1) * (1 - w) + (1 + 1e-3 * m2) * w
    # channel 4 (b b-bar) is block 2 of the table, channel 3 (tau tau) block 4
    yields = (0.7 * 2 + 0.3 * 4) * (1 + 2 * z) * mass_factor / e_gev
    expected = 5e18 * 3e-26 / mass**2 * yields / 1000 / (8 * np.pi)
    actual = spectral(e_gev * 1e3 * u.MeV).to_value("cm-2 s-1 MeV-1")
    np.testing.assert_allclose(actual, expected, rtol=1e-6)
    assert spectral(2 * mass * 1e3 * u.MeV).value == 0  # no photon above the mass
    text = models_to_xml_string(models, out_folder=tmp_path)
    assert 'type="DMFitFunction"' in text and 'file="gammamc_dif.dat"' in text
    assert_models_equal(models, models_from_xml_string(text, folder=tmp_path))
    with pytest.raises(XMLModelError, match="yield table"):
        models_from_xml_string(_library(_source("dm", DMFIT_XML.format(mass=mass).replace(' file="gammamc_dif.dat"', ""))))


# ------------------------------------------------------------------------------ 4FGL-DR4
@pytest.fixture(scope="module")
def fermi_dir(gammapy_data):
    return gammapy_data / "catalogs" / "fermi"


@pytest.fixture(scope="module")
def cat4fgl(fermi_dir):
    from gammapy.catalog import SourceCatalog4FGL

    return SourceCatalog4FGL(fermi_dir / "gll_psc_v35.fit")


def test_4fgl_dr4_file_and_header(fermi_dir, cat4fgl):
    """The DR4 file of the kit: 7195 sources, the time reference of its Fortran-style header."""
    assert len(cat4fgl.table) == 7195
    with fits.open(fermi_dir / "gll_psc_v35.fit") as hdulist:
        header = hdulist["LAT_Point_Source_Catalog"].header
        assert header["MJDREFF"] == "7.428703703703703D-4"
        ref = time_ref_from_header(header)
        start = ref + header["TSTART"] * u.s
    assert abs(ref.mjd - (51910 + 7.428703703703703e-4)) < 1e-12
    assert start.utc.isot.startswith("2008-08-04T15:4")  # 14 years of 4FGL-DR4 start with the LAT survey


@pytest.mark.parametrize("center, radius", [((83.6331, 22.0145), "8 deg"), ((284.0, 1.38), "5 deg")])
def test_4fgl_dr4_roi_models_xml_round_trip(cat4fgl, fermi_dir, tmp_path, center, radius):
    from gammapy_lat.models.catalog import catalog_roi_models

    position = SkyCoord(*center, unit="deg")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # masked DR4 entries read by gammapy
        models = catalog_roi_models(
            cat4fgl, position, radius, margin="2 deg", free_radius="3 deg",
            extended_dir=fermi_dir / "LAT_extended_sources_16years",
        )  # fmt: skip
    table = cat4fgl.table
    sep = SkyCoord(table["RAJ2000"], table["DEJ2000"], unit="deg").separation(position).deg
    limit = float(radius.split()[0]) + 2
    assert set(models.names) == {n.strip() for n, s in zip(table["Source_Name"], sep) if s <= limit}
    # every spectrum equals the catalog's
    energy = np.geomspace(100, 1e6, 7) * u.MeV
    for model in models:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            catalog = cat4fgl[model.name].spectral_model()
        np.testing.assert_allclose(
            model.spectral_model(energy).to_value("cm-2 s-1 MeV-1"),
            catalog(energy).to_value("cm-2 s-1 MeV-1"),
            rtol=1e-9,
        )
    out = tmp_path / "roi.xml"
    from gammapy_lat.models import write_xml_models

    write_xml_models(models, out)
    again = read_xml_models(out)
    assert_models_equal(models, again, rtol=1e-12)


def test_4fgl_dr4_extended_templates(cat4fgl, fermi_dir):
    """W44 (ring) and HESS J1841-055 (elongated Gaussian) take the real templates of the kit."""
    from gammapy.modeling.models import TemplateSpatialModel

    from gammapy_lat.models.catalog import catalog_roi_models

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        models = catalog_roi_models(
            cat4fgl, SkyCoord(281.0, -4.0, unit="deg"), "6 deg", margin="0 deg",
            extended_dir=fermi_dir / "LAT_extended_sources_16years",
        )  # fmt: skip
    extended = {m.name: m.spatial_model for m in models if m.name.endswith("e")}
    hess = extended["4FGL J1840.9-0532e"]
    assert isinstance(hess, TemplateSpatialModel) and "HESSJ1841-055" in str(hess.filename)
    # normalised template: integral over the sky is 1
    assert hess.map.data.sum() * hess.map.geom.solid_angle().to_value("sr").mean() == pytest.approx(1, rel=1e-3)
    with pytest.raises(LATFileError, match="template"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            catalog_roi_models(cat4fgl, SkyCoord(284.0, 1.38, unit="deg"), "2 deg", margin="0 deg", extended_dir=None)
