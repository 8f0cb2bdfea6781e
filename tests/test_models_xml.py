"""gtlike XML ↔ Gammapy models: conventions, analytic formulas and round trips."""
import shutil
import xml.etree.ElementTree as ET

import astropy.units as u
import numpy as np
import pytest
from gammapy.maps import Map, MapAxis, WcsGeom
from gammapy.modeling.models import (
    ExpCutoffPowerLaw3FGLSpectralModel,
    ExpCutoffPowerLawSpectralModel,
    Models,
    SuperExpCutoffPowerLaw3FGLSpectralModel,
    SuperExpCutoffPowerLaw4FGLSpectralModel,
)
from scipy.integrate import quad

from gammapy_lat.errors import GammapyLATError, LATFileError
from gammapy_lat.models import (
    XMLModelError,
    models_from_xml_string,
    models_to_xml_string,
    read_xml_models,
    to_lat_spectral_model,
    write_xml_models,
)


def assert_models_equal(m1, m2, rtol=1e-12):
    """Every parameter value, bound, unit and frozen flag agree."""
    assert m1.names == m2.names
    for a, b in zip(m1, m2):
        assert type(a.spectral_model) is type(b.spectral_model), a.name
        assert type(a.spatial_model) is type(b.spatial_model), a.name
        assert a.parameters.names == b.parameters.names, a.name
        for pa, pb in zip(a.parameters, b.parameters):
            where = f"{a.name}.{pa.name}"
            assert pa.unit == pb.unit, where
            assert pa.frozen == pb.frozen, where
            np.testing.assert_allclose(pa.value, pb.value, rtol=rtol, err_msg=where)
            np.testing.assert_allclose(pa.min, pb.min, rtol=rtol, err_msg=where)
            np.testing.assert_allclose(pa.max, pb.max, rtol=rtol, err_msg=where)
            np.testing.assert_allclose(pa.error, pb.error, rtol=1e-9, err_msg=where)


def make_fermi_cube(path):
    """A small map cube in the Fermi template format (ENERGIES extension)."""
    axis = MapAxis.from_nodes(np.geomspace(100, 1e5, 6), unit="MeV", name="energy", interp="log")
    geom = WcsGeom.create(skydir=(184.5, -5.8), frame="galactic", binsz=0.5, width=(10, 8), axes=[axis])
    m = Map.from_geom(geom, unit="cm-2 s-1 MeV-1 sr-1")
    m.data += 1e-6
    m.write(path, format="fgst-template", overwrite=True)


@pytest.fixture()
def crab_xml_with_cube(crab_day, tmp_path):
    """source_model.xml and its isotropic table next to a stand-in for the missing test_cube.fits."""
    shutil.copy(crab_day / "source_model.xml", tmp_path)
    shutil.copy(crab_day / "iso_P8R3_SOURCE_V2.txt", tmp_path)
    make_fermi_cube(tmp_path / "test_cube.fits")
    return tmp_path / "source_model.xml"


def xml_params(path):
    """{(source, parameter): attributes} straight from the XML file."""
    root = ET.parse(path).getroot()
    out = {}
    for src in root.findall("source"):
        for par in src.iter("parameter"):
            out[(src.get("name"), par.get("name"))] = {k: v for k, v in par.attrib.items()}
    return out


def test_crab_xml_conventions(crab_xml_with_cube):
    models = read_xml_models(crab_xml_with_cube)
    raw = xml_params(crab_xml_with_cube)
    assert models.names == ["Extragal_diffuse", "Galactic_diffuse", "Crab"]

    crab = models["Crab"]
    # type="PowerLaw" with PhotonFlux/LowerLimit/UpperLimit is the integral parametrisation
    assert crab.spectral_model.tag[0] == "PowerLaw2SpectralModel"
    flux = raw[("Crab", "PhotonFlux")]
    amp = crab.spectral_model.amplitude
    assert amp.unit == u.Unit("cm-2 s-1")
    assert amp.value == pytest.approx(float(flux["value"]) * float(flux["scale"]))
    assert amp.min == pytest.approx(float(flux["min"]) * float(flux["scale"]))
    assert amp.max == pytest.approx(float(flux["max"]) * float(flux["scale"]))
    assert not amp.frozen
    # XML Index -2 in [-5, 5] -> Gammapy index +2 with bounds mirrored
    index = crab.spectral_model.index
    assert index.value == 2.0 and index.min == -5.0 and index.max == 5.0 and not index.frozen
    assert crab.spectral_model.emin.quantity == 100 * u.MeV
    assert crab.spectral_model.emax.quantity == 500000 * u.MeV
    assert crab.spectral_model.emin.frozen
    pos = crab.spatial_model
    assert pos.frame == "icrs"
    assert pos.lon_0.value == 83.6331 and pos.lat_0.value == 22.0145
    assert (pos.lon_0.min, pos.lon_0.max) == (-360, 360)

    iso = models["Extragal_diffuse"]
    assert iso.spatial_model.tag[0] == "ConstantSpatialModel"
    assert iso.spatial_model.value.quantity == 1 * u.Unit("sr-1")
    assert iso.spectral_model.norm.max == 1000.0 and not iso.spectral_model.norm.frozen
    # FileFunction reproduces the tabulated values at the nodes (column 1 of the file)
    table = np.loadtxt(crab_xml_with_cube.parent / "iso_P8R3_SOURCE_V2.txt")
    np.testing.assert_allclose(
        iso.spectral_model(table[:, 0] * u.MeV).to_value("cm-2 s-1 MeV-1"), table[:, 1], rtol=1e-10
    )

    gal = models["Galactic_diffuse"]
    assert gal.spatial_model.tag[0] == "TemplateSpatialModel"
    assert not gal.spatial_model.normalize
    norm = gal.spectral_model  # "Constant" spectrum on a map cube: a pure normalisation
    assert norm.norm.value == 1.0 and norm.norm.min == 0.0 and norm.norm.max == 1000.0
    assert norm.tilt.value == 0 and norm.tilt.frozen


def test_crab_xml_round_trip(crab_xml_with_cube, tmp_path):
    models = read_xml_models(crab_xml_with_cube)
    out = tmp_path / "out" / "model.xml"
    write_xml_models(models, out)
    with pytest.raises(FileExistsError):
        write_xml_models(models, out)
    again = read_xml_models(out)
    assert_models_equal(models, again)
    write_xml_models(again, out, overwrite=True)
    assert_models_equal(models, read_xml_models(out))
    # and through Gammapy YAML
    yaml_path = tmp_path / "models.yaml"
    models.write(yaml_path)
    assert_models_equal(models, Models.read(yaml_path))


def test_missing_template(crab_day, tmp_path):
    with pytest.raises(LATFileError, match="test_cube.fits"):
        read_xml_models(crab_day / "source_model.xml")
    models = read_xml_models(crab_day / "source_model.xml", missing_files="skip")
    assert models.names == ["Extragal_diffuse", "Crab"]


SPECTRA_XML = """<source_library title="t">
 <source name="pl" type="PointSource">
  <spectrum type="PowerLaw">
   <parameter name="Prefactor" value="3.2" scale="1e-12" min="1e-3" max="1e3" free="1" error="0.5"/>
   <parameter name="Index" value="2.3" scale="-1" min="0" max="5" free="1"/>
   <parameter name="Scale" value="1000" scale="1" min="30" max="5e5" free="0"/>
  </spectrum>
  <spatialModel type="SkyDirFunction">
   <parameter name="RA" value="10" scale="1" min="-360" max="360" free="0"/>
   <parameter name="DEC" value="20" scale="1" min="-90" max="90" free="0"/>
  </spatialModel>
 </source>
 <source name="pl2" type="PointSource">
  <spectrum type="PowerLaw2">
   <parameter name="Integral" value="2.5" scale="1e-8" min="0" max="1e4" free="1"/>
   <parameter name="Index" value="-2.2" scale="1" min="-5" max="-1" free="1"/>
   <parameter name="LowerLimit" value="100" scale="1" min="30" max="5e5" free="0"/>
   <parameter name="UpperLimit" value="1e5" scale="1" min="30" max="5e5" free="0"/>
  </spectrum>
  <spatialModel type="RadialGaussian">
   <parameter name="RA" value="11" scale="1" min="-360" max="360" free="1"/>
   <parameter name="DEC" value="21" scale="1" min="-90" max="90" free="1"/>
   <parameter name="Sigma" value="0.2" scale="1" min="0" max="3" free="1"/>
  </spatialModel>
 </source>
 <source name="bpl" type="PointSource">
  <spectrum type="BrokenPowerLaw">
   <parameter name="Prefactor" value="1.5" scale="1e-11" min="0" max="1e3" free="1"/>
   <parameter name="Index1" value="-1.8" scale="1" min="-5" max="0" free="1"/>
   <parameter name="Index2" value="-2.7" scale="1" min="-5" max="0" free="1"/>
   <parameter name="BreakValue" value="2" scale="1000" min="0.1" max="100" free="1"/>
  </spectrum>
  <spatialModel type="RadialDisk">
   <parameter name="RA" value="12" scale="1" min="-360" max="360" free="0"/>
   <parameter name="DEC" value="22" scale="1" min="-90" max="90" free="0"/>
   <parameter name="Radius" value="0.5" scale="1" min="0" max="3" free="0"/>
  </spatialModel>
 </source>
 <source name="lp" type="PointSource">
  <spectrum type="LogParabola">
   <parameter name="norm" value="2.34" scale="1e-11" min="0" max="100" free="1"/>
   <parameter name="alpha" value="2.44" scale="1" min="0" max="5" free="1"/>
   <parameter name="beta" value="2.53" scale="0.1" min="0" max="10" free="1"/>
   <parameter name="Eb" value="1.895" scale="1000" min="0.1" max="100" free="0"/>
  </spectrum>
  <spatialModel type="SkyDirFunction">
   <parameter name="RA" value="13" scale="1" min="-360" max="360" free="0"/>
   <parameter name="DEC" value="23" scale="1" min="-90" max="90" free="0"/>
  </spatialModel>
 </source>
 <source name="expcut" type="PointSource">
  <spectrum type="ExpCutoff">
   <parameter name="Prefactor" value="1" scale="1e-9" min="1e-3" max="1e3" free="1"/>
   <parameter name="Index" value="-2" scale="1" min="-5" max="-1" free="1"/>
   <parameter name="Scale" value="1000" scale="1" min="30" max="5e5" free="0"/>
   <parameter name="Ebreak" value="5" scale="1000" min="0.1" max="100" free="1"/>
   <parameter name="P1" value="20" scale="1000" min="0.1" max="300" free="1"/>
   <parameter name="P2" value="0.1" scale="1" min="-1" max="1" free="0"/>
   <parameter name="P3" value="0.02" scale="1" min="-1" max="1" free="0"/>
  </spectrum>
  <spatialModel type="SkyDirFunction">
   <parameter name="RA" value="14" scale="1" min="-360" max="360" free="0"/>
   <parameter name="DEC" value="24" scale="1" min="-90" max="90" free="0"/>
  </spatialModel>
 </source>
 <source name="plsec" type="PointSource">
  <spectrum type="PLSuperExpCutoff">
   <parameter name="Prefactor" value="6" scale="1e-10" min="1e-3" max="1e3" free="1"/>
   <parameter name="Index1" value="-1.4" scale="1" min="-5" max="0" free="1"/>
   <parameter name="Scale" value="1000" scale="1" min="30" max="5e5" free="0"/>
   <parameter name="Cutoff" value="3" scale="1000" min="0.1" max="100" free="1"/>
   <parameter name="Index2" value="0.8" scale="1" min="0" max="2" free="0"/>
  </spectrum>
  <spatialModel type="SkyDirFunction">
   <parameter name="RA" value="15" scale="1" min="-360" max="360" free="0"/>
   <parameter name="DEC" value="25" scale="1" min="-90" max="90" free="0"/>
  </spatialModel>
 </source>
 <source name="plsec2" type="PointSource">
  <spectrum type="PLSuperExpCutoff2">
   <parameter name="Prefactor" value="2" scale="1e-9" min="1e-3" max="1e3" free="1"/>
   <parameter name="Index1" value="-1.3" scale="1" min="-5" max="0" free="1"/>
   <parameter name="Scale" value="1500" scale="1" min="30" max="5e5" free="0"/>
   <parameter name="Expfactor" value="6" scale="0.001" min="-1" max="100" free="1"/>
   <parameter name="Index2" value="0.6667" scale="1" min="0" max="2" free="0"/>
  </spectrum>
  <spatialModel type="SkyDirFunction">
   <parameter name="RA" value="16" scale="1" min="-360" max="360" free="0"/>
   <parameter name="DEC" value="26" scale="1" min="-90" max="90" free="0"/>
  </spatialModel>
 </source>
 <source name="plsec4" type="PointSource">
  <spectrum type="PLSuperExpCutoff4">
   <parameter name="Prefactor" value="3" scale="1e-11" min="0" max="1e3" free="1"/>
   <parameter name="IndexS" value="1.6" scale="-1" min="0" max="5" free="1"/>
   <parameter name="Scale" value="1200" scale="1" min="30" max="5e5" free="0"/>
   <parameter name="ExpfactorS" value="0.7" scale="1" min="-1" max="3" free="1"/>
   <parameter name="Index2" value="0.6667" scale="1" min="0" max="2" free="0"/>
  </spectrum>
  <spatialModel type="SkyDirFunction">
   <parameter name="RA" value="17" scale="1" min="-360" max="360" free="0"/>
   <parameter name="DEC" value="27" scale="1" min="-90" max="90" free="0"/>
  </spatialModel>
 </source>
 <source name="band" type="PointSource">
  <spectrum type="BandFunction">
   <parameter name="norm" value="1" scale="1e-2" min="1e-5" max="1e5" free="1"/>
   <parameter name="alpha" value="-0.9" scale="1" min="-1.99" max="1" free="1"/>
   <parameter name="beta" value="-2.4" scale="1" min="-5" max="-2" free="1"/>
   <parameter name="Ep" value="0.4" scale="1" min="0.01" max="100" free="1"/>
  </spectrum>
  <spatialModel type="SkyDirFunction">
   <parameter name="RA" value="18" scale="1" min="-360" max="360" free="0"/>
   <parameter name="DEC" value="28" scale="1" min="-90" max="90" free="0"/>
  </spatialModel>
 </source>
 <source name="const" type="PointSource">
  <spectrum type="ConstantValue">
   <parameter name="Value" value="4" scale="1e-12" min="0" max="1e3" free="1"/>
  </spectrum>
  <spatialModel type="SkyDirFunction">
   <parameter name="RA" value="19" scale="1" min="-360" max="360" free="0"/>
   <parameter name="DEC" value="29" scale="1" min="-90" max="90" free="0"/>
  </spatialModel>
 </source>
</source_library>
"""

ENERGIES = np.geomspace(60, 5e5, 301) * u.MeV


def published(name, e):
    """The LAT functions as defined on the FSSC model page (energies in MeV)."""
    if name == "pl":
        return 3.2e-12 * (e / 1000) ** -2.3
    if name == "pl2":
        g = -2.2
        return 2.5e-8 * (g + 1) * e**g / (1e5 ** (g + 1) - 100 ** (g + 1))
    if name == "bpl":
        return 1.5e-11 * np.where(e < 2000, (e / 2000) ** -1.8, (e / 2000) ** -2.7)
    if name == "lp":
        x = e / 1895.0
        return 2.34e-11 * x ** -(2.44 + 0.253 * np.log(x))
    if name == "expcut":
        ln = np.log(e / 5000)
        cut = np.where(e < 5000, 1, np.exp(-((e - 5000) / 20000 + 0.1 * ln + 0.02 * ln**2)))
        return 1e-9 * (e / 1000) ** -2 * cut
    if name == "plsec":
        return 6e-10 * (e / 1000) ** -1.4 * np.exp(-((e / 3000) ** 0.8))
    if name == "plsec2":
        return 2e-9 * (e / 1500) ** -1.3 * np.exp(-6e-3 * e**0.6667)
    if name == "plsec4":
        s, d, b, e0 = -1.6, 0.7, 0.6667, 1200.0
        x = e / e0
        return 3e-11 * x ** (s + d / b) * np.exp(d / b**2 * (1 - x**b))
    if name == "band":
        a, bb, ep = -0.9, -2.4, 0.4
        x, xp = e / 0.1, ep / 0.1
        xb = xp * (a - bb) / (a + 2)
        low = x**a * np.exp(-x * (2 + a) / xp)
        high = xb ** (a - bb) * np.exp(bb - a) * x**bb
        return 1e-2 * np.where(x < xb, low, high)
    if name == "const":
        return 4e-12 * np.ones_like(e)
    raise KeyError(name)


@pytest.fixture(scope="module")
def spectra_models():
    return models_from_xml_string(SPECTRA_XML)


@pytest.mark.parametrize(
    "name", ["pl", "pl2", "bpl", "lp", "expcut", "plsec", "plsec2", "plsec4", "band", "const"]
)
def test_spectra_match_published_formulas(spectra_models, name):
    model = spectra_models[name].spectral_model
    energy = ENERGIES if name != "band" else np.geomspace(0.01, 100, 301) * u.MeV
    e = energy.to_value("MeV")
    actual = model(energy).to_value("cm-2 s-1 MeV-1")
    np.testing.assert_allclose(actual, published(name, e), rtol=1e-9)


def test_plsec4_taylor_region(spectra_models):
    """Near E0 the model switches to the series expansion; it must still equal the formula."""
    model = spectra_models["plsec4"].spectral_model
    e = 1200.0 * np.array([0.999, 0.9999, 1.0, 1.0001, 1.001, 1.02])
    np.testing.assert_allclose(
        model(e * u.MeV).to_value("cm-2 s-1 MeV-1"), published("plsec4", e), rtol=1e-9
    )


def test_powerlaw2_integral_equals_parameter(spectra_models):
    model = spectra_models["pl2"].spectral_model
    # integrate in ln(E): dN = E dN/dE dlnE
    numeric, _ = quad(
        lambda t: np.exp(t) * model(np.exp(t) * u.MeV).to_value("cm-2 s-1 MeV-1"),
        np.log(100),
        np.log(1e5),
        epsrel=1e-11,
    )
    assert numeric == pytest.approx(2.5e-8, rel=1e-8)


def test_band_peak_at_ep(spectra_models):
    """E_p is the peak of E^2 dN/dE (for beta < -2)."""
    model = spectra_models["band"].spectral_model
    e = np.geomspace(0.05, 5, 20001)
    sed = e**2 * model(e * u.MeV).value
    assert e[np.argmax(sed)] == pytest.approx(0.4, rel=1e-3)
    # continuous at the break
    xb = 0.4 * (-0.9 + 2.4) / (-0.9 + 2)
    lo, hi = model([xb * (1 - 1e-9), xb * (1 + 1e-9)] * u.MeV).value
    assert lo == pytest.approx(hi, rel=1e-6)


def test_sign_conventions_and_bounds(spectra_models):
    pl = spectra_models["pl"].spectral_model
    # value 2.3 with scale -1 in [0, 5] -> true index -2.3 in [-5, 0] -> Gammapy 2.3 in [0, 5]
    assert pl.index.value == pytest.approx(2.3) and (pl.index.min, pl.index.max) == (0, 5)
    assert pl.amplitude.unit == u.Unit("cm-2 s-1 MeV-1")
    assert pl.amplitude.error == pytest.approx(0.5e-12)
    assert pl.reference.frozen and not pl.index.frozen
    pl2 = spectra_models["pl2"].spectral_model
    assert (pl2.index.min, pl2.index.max) == (1, 5)
    gauss = spectra_models["pl2"].spatial_model
    assert gauss.sigma.quantity == 0.2 * u.deg and not gauss.sigma.frozen
    disk = spectra_models["bpl"].spatial_model
    assert disk.r_0.quantity == 0.5 * u.deg


def test_all_spectra_round_trip(spectra_models, tmp_path):
    text = models_to_xml_string(spectra_models)
    assert_models_equal(spectra_models, models_from_xml_string(text))
    # YAML with the LAT models registered in Gammapy
    spectra_models.write(tmp_path / "m.yaml")
    assert_models_equal(spectra_models, Models.read(tmp_path / "m.yaml"))


def test_written_xml_uses_gtlike_conventions(spectra_models):
    root = ET.fromstring(models_to_xml_string(spectra_models))
    src = root.find("source[@name='pl']")
    assert src.get("type") == "PointSource"
    spec = src.find("spectrum")
    assert spec.get("type") == "PowerLaw"
    idx = spec.find("parameter[@name='Index']")
    true = float(idx.get("value")) * float(idx.get("scale"))
    assert true == pytest.approx(-2.3)
    pref = spec.find("parameter[@name='Prefactor']")
    assert float(pref.get("value")) * float(pref.get("scale")) == pytest.approx(3.2e-12)
    assert pref.get("free") == "1"


@pytest.mark.parametrize(
    "model",
    [
        ExpCutoffPowerLaw3FGLSpectralModel(amplitude="2e-10 cm-2 s-1 MeV-1", reference="900 MeV", index=1.5, ecut="2500 MeV"),
        SuperExpCutoffPowerLaw3FGLSpectralModel(
            amplitude="2e-10 cm-2 s-1 MeV-1", reference="900 MeV", index_1=1.5, index_2=0.7, ecut="2500 MeV"
        ),
        SuperExpCutoffPowerLaw4FGLSpectralModel(
            amplitude="2e-10 cm-2 s-1 MeV-1", reference="900 MeV", index_1=1.5, index_2=0.6667, expfactor=0.01
        ),
        ExpCutoffPowerLawSpectralModel(amplitude="2e-10 cm-2 s-1 MeV-1", reference="0.9 GeV", index=1.5, lambda_="0.4 GeV-1", alpha=0.9),
    ],
)
def test_catalog_forms_rewritten_exactly(model):
    lat = to_lat_spectral_model(model)
    assert lat is not model
    np.testing.assert_allclose(lat(ENERGIES).to_value("cm-2 s-1 MeV-1"), model(ENERGIES).to_value("cm-2 s-1 MeV-1"), rtol=1e-9)


def test_unsupported_elements():
    bad_spec = SPECTRA_XML.replace('type="BandFunction"', 'type="SmoothBrokenPowerLaw"')
    with pytest.raises(XMLModelError, match="SmoothBrokenPowerLaw"):
        models_from_xml_string(bad_spec)
    bad_spatial = SPECTRA_XML.replace('type="RadialDisk"', 'type="EllipticalDisk"')
    with pytest.raises(XMLModelError, match="EllipticalDisk"):
        models_from_xml_string(bad_spatial)
    bad_par = SPECTRA_XML.replace('name="Cutoff"', 'name="Ecut"')
    with pytest.raises(XMLModelError, match="Cutoff"):
        models_from_xml_string(bad_par)
    with pytest.raises(XMLModelError, match="not a number"):
        models_from_xml_string(SPECTRA_XML.replace('value="2.53"', 'value="abc"'))
    with pytest.raises(GammapyLATError):
        models_from_xml_string("<source_library><source")


def test_extended_source_templates(gammapy_data):
    folder = gammapy_data / "catalogs" / "fermi" / "LAT_extended_sources_16years"
    files = sorted((folder / "XML").glob("*.xml"))
    assert len(files) > 50
    # one file per (spectrum, spatial model) combination keeps the test fast
    chosen = {}
    for path in files:
        src = ET.parse(path).getroot().find("source")
        key = (src.find("spectrum").get("type"), src.find("spatialModel").get("type"))
        chosen.setdefault(key, path)
    assert len(chosen) >= 3
    for path in chosen.values():
        models = read_xml_models(path, variables={"LATEXTDIR": folder})
        assert len(models) == 1
        text = models_to_xml_string(models)
        assert_models_equal(models, models_from_xml_string(text))
    w44 = read_xml_models(folder / "XML" / "W44.xml", variables={"LATEXTDIR": folder})["W44"]
    assert w44.spatial_model.normalize
    # a normalised template integrates to one over the sky
    m = w44.spatial_model.map
    assert (m.data * m.geom.solid_angle().to_value("sr")).sum() == pytest.approx(1, rel=1e-3)
    assert w44.spectral_model.beta.value == pytest.approx(0.253)


def test_makers_isotropic_model_written_as_file_function(crab_day):
    from gammapy_lat.models import create_isotropic_model

    iso = create_isotropic_model(crab_day / "iso_P8R3_SOURCE_V2.txt", name="iso")
    iso.spectral_model.model2.norm.value = 1.2
    root = ET.fromstring(models_to_xml_string([iso]))
    spec = root.find("source/spectrum")
    assert spec.get("type") == "FileFunction"
    assert spec.get("file").endswith("iso_P8R3_SOURCE_V2.txt")
    back = models_from_xml_string(models_to_xml_string([iso]))["iso"]
    energy = np.geomspace(40, 8e5, 50) * u.MeV
    np.testing.assert_allclose(back.spectral_model(energy).value, iso.spectral_model(energy).value, rtol=1e-10)
    assert back.spectral_model.norm.value == 1.2 and not back.spectral_model.norm.frozen


def test_map_cube_cutout_with_geom(crab_xml_with_cube):
    from gammapy.maps import WcsGeom

    geom = WcsGeom.create(skydir=(184.5, -5.8), frame="galactic", binsz=0.5, width=1)
    full = read_xml_models(crab_xml_with_cube)["Galactic_diffuse"].spatial_model.map
    cut = read_xml_models(crab_xml_with_cube, geom=geom)["Galactic_diffuse"].spatial_model.map
    assert cut.data.size < full.data.size
    assert cut.unit == u.Unit("cm-2 s-1 MeV-1 sr-1")
