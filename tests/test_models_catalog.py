"""Catalog ROI models: selection, free-parameter rules, exact spectra, XML round trip."""
import astropy.units as u
import numpy as np
import pytest
from astropy.coordinates import SkyCoord
from astropy.table import Table
from scipy.stats import chi2

from gammapy_lat.errors import LATFileError
from gammapy_lat.models import (
    models_from_xml_string,
    models_to_xml_string,
    read_xml_models,
)
from gammapy_lat.models.catalog import catalog_roi_models, write_catalog_roi_xml
from test_models_xml import assert_models_equal

CRAB = SkyCoord(83.6331, 22.0145, unit="deg")
W44 = SkyCoord(284.0, 1.38, unit="deg")


@pytest.fixture(scope="module")
def fermi_dir(gammapy_data):
    return gammapy_data / "catalogs" / "fermi"


@pytest.fixture(scope="module")
def cat3fgl(fermi_dir):
    from gammapy.catalog import SourceCatalog3FGL

    return SourceCatalog3FGL(fermi_dir / "gll_psc_v16.fit.gz")


@pytest.fixture(scope="module")
def crab_roi(cat3fgl, fermi_dir):
    return catalog_roi_models(
        cat3fgl, CRAB, "8 deg", margin="4 deg", free_radius="3 deg",
        extended_dir=fermi_dir / "LAT_extended_sources_16years",
    )


def test_selection_and_free_rules(crab_roi, fermi_dir):
    table = Table.read(fermi_dir / "gll_psc_v16.fit.gz", hdu="LAT_Point_Source_Catalog")
    pos = SkyCoord(table["RAJ2000"], table["DEJ2000"], unit="deg")
    sep = pos.separation(CRAB).deg
    names = [n.strip() for n in table["Source_Name"]]
    expected = {n for n, s in zip(names, sep) if s <= 12.0}
    assert set(crab_roi.names) == expected
    threshold = chi2.ppf(0.99, 47)  # 48 monthly bins in 3FGL
    assert threshold == pytest.approx(72.44, abs=0.01)
    row = {n: i for i, n in enumerate(names)}
    n_free = 0
    for model in crab_roi:
        i = row[model.name]
        signif = float(table["Signif_Avg"][i])
        variable = float(table["Variability_Index"][i]) > threshold
        near = sep[i] <= 3.0
        free_names = model.parameters.free_parameters.names
        should_free = (near and np.isfinite(signif) and signif >= 5) or (near and variable)
        norm_name = "amplitude"
        assert (norm_name in free_names) == should_free, model.name
        n_free += should_free
        # positions are always frozen
        assert not set(free_names) & {"lon_0", "lat_0"}
    assert n_free >= 3
    # the fixed inverse-Compton component of the Crab stays frozen
    assert crab_roi["3FGL J0534.5+2201i"].parameters.free_parameters.names == []
    pulsar = crab_roi["3FGL J0534.5+2201"]
    assert set(pulsar.parameters.free_parameters.names) == {"amplitude", "index_1", "ecut"}


def test_spectra_equal_catalog(crab_roi, cat3fgl):
    energy = np.geomspace(100, 3e5, 50) * u.MeV
    for model in crab_roi:
        ref = cat3fgl[model.name].spectral_model()
        np.testing.assert_allclose(
            model.spectral_model(energy).to_value("cm-2 s-1 MeV-1"),
            ref(energy).to_value("cm-2 s-1 MeV-1"),
            rtol=1e-6,
            err_msg=model.name,
        )


def test_catalog_model_xml_round_trip(crab_roi, tmp_path):
    text = models_to_xml_string(crab_roi)
    back = models_from_xml_string(text)
    assert_models_equal(crab_roi, back, rtol=1e-10)
    assert_models_equal(back, models_from_xml_string(models_to_xml_string(back)), rtol=1e-10)


def test_extended_sources(cat3fgl, fermi_dir, tmp_path):
    ext = fermi_dir / "LAT_extended_sources_16years"
    models = write_catalog_roi_xml(tmp_path / "w44.xml", cat3fgl, W44, "3 deg", margin="1 deg", extended_dir=ext)
    kinds = {type(m.spatial_model).__name__ for m in models}
    assert "TemplateSpatialModel" in kinds  # W44 (ring template)
    back = read_xml_models(tmp_path / "w44.xml")
    assert_models_equal(models, back, rtol=1e-10)
    with pytest.raises(LATFileError, match="W44"):
        catalog_roi_models(cat3fgl, W44, "3 deg", margin="1 deg", extended_dir=tmp_path)
    skipped = catalog_roi_models(cat3fgl, W44, "3 deg", margin="1 deg", extended_dir=tmp_path, missing_templates="skip")
    assert len(skipped) == len(models) - 1


def test_3fhl(fermi_dir):
    from gammapy.catalog import SourceCatalog3FHL

    cat = SourceCatalog3FHL(fermi_dir / "gll_psch_v13.fit.gz")
    models = catalog_roi_models(cat, CRAB, "5 deg", margin="2 deg", extended_dir=fermi_dir / "LAT_extended_sources_16years")
    assert len(models) >= 2
    assert_models_equal(models, models_from_xml_string(models_to_xml_string(models)), rtol=1e-10)
