"""3FGL catalog ROI model fitted on the one-day LAT Crab data set.

The dataset is made by `LATMapDatasetMaker` from the FT1/FT2 files, the gtltcube livetime cube and
the CALDB. The Galactic diffuse background is the Fermitools' own prediction for this data set:
the ``Galactic_diffuse`` source map of gtsrcmaps (counts per MeV at the 21 energy-bin edges),
integrated over each bin (trapezoid in ln E) and used as a template with free norm and tilt. The
isotropic background is the P8R2 isotropic spectrum with a free norm. The Crab pulsar
(3FGL J0534.5+2201) has free normalisation and index; everything else is fixed at the catalog.
"""
import logging

import astropy.units as u
import numpy as np
import pytest
from astropy.coordinates import SkyCoord
from astropy.io import fits
from gammapy.datasets import Datasets
from gammapy.maps import Map, MapAxis, WcsGeom
from gammapy.modeling import Fit
from gammapy.modeling.models import Models, TemplateNPredModel

from gammapy_lat.estimators import band_flux, fit_results_table, source_ts
from gammapy_lat.models import models_from_xml_string, models_to_xml_string
from gammapy_lat.models.catalog import catalog_roi_models

CRAB = SkyCoord(83.6331, 22.0145, unit="deg")
PULSAR = "3FGL J0534.5+2201"


def gtsrcmaps_npred(srcmap_path, hdu, geom):
    """Counts per bin of a gtsrcmaps diffuse source map (planes at the energy-bin edges)."""
    with fits.open(srcmap_path) as h:
        eb = h["EBOUNDS"].data
        edges = np.append(eb["E_MIN"], eb["E_MAX"][-1]).astype(float)  # keV, only ratios matter
        cube = h[hdu].data.astype(float)
    e_mev = edges / 1000.0
    w = 0.5 * np.log(e_mev[1:] / e_mev[:-1])
    npred = (cube[:-1] * e_mev[:-1, None, None] + cube[1:] * e_mev[1:, None, None]) * w[:, None, None]
    return Map.from_geom(geom, data=npred)


@pytest.fixture(scope="module")
def crab_day_fit(crab_day, caldb_path, gammapy_data):
    from gammapy.catalog import SourceCatalog3FGL

    from gammapy_lat.makers import LATMapDatasetMaker, create_lat_map_dataset
    from gammapy_lat.models import create_isotropic_model
    from gammapy_lat.observations import LATObservation

    logging.getLogger("gammapy").setLevel(logging.ERROR)
    counts = Map.read(crab_day / "cntmap.fits.gz")
    # the gtbin geometry with 0.4 deg pixels and 10 energy bins (fast evaluation); no energy
    # dispersion, so true and reconstructed energy axes are the same; PSF out to 15 deg
    edges = counts.geom.axes["energy"].edges
    axis = MapAxis.from_edges(edges[::2], name="energy", interp="log")
    geom = WcsGeom.create(
        skydir=counts.geom.center_skydir, binsz=0.4, width=20, frame="galactic", proj="CAR", axes=[axis]
    )
    rad = MapAxis.from_nodes(np.linspace(0, np.sqrt(15), 60) ** 2, unit="deg", name="rad")
    obs = LATObservation.read(crab_day / "ft1.fits.gz", crab_day / "ft2.fits.gz")
    empty = create_lat_map_dataset(geom, energy_axis_true=axis.copy(name="energy_true"), rad_axis=rad, name="crab-day")
    maker = LATMapDatasetMaker(
        irf_name="P8R2_SOURCE_V6", caldb=caldb_path, ltcube=crab_day / "ltcube.fits.gz",
        selection=["counts", "exposure", "psf"],
    )
    ds = maker.run(empty, obs)
    assert ds.counts.data.sum() == counts.data.sum()
    gal_npred = gtsrcmaps_npred(crab_day / "srcmap.fits.gz", "Galactic_diffuse", counts.geom)
    gal_map = Map.from_geom(geom, data=gal_npred.downsample(2, preserve_counts=True).resample_axis(axis).data)
    galactic = TemplateNPredModel(gal_map, datasets_names=[ds.name], name="galactic")
    galactic.spectral_model.tilt.frozen = False
    galactic.spectral_model.reference.quantity = 1 * u.GeV
    isotropic = create_isotropic_model(crab_day / "iso_P8R2_SOURCE_V6_v06.txt", name="isotropic", datasets_names=[ds.name])

    cat = SourceCatalog3FGL(gammapy_data / "catalogs" / "fermi" / "gll_psc_v16.fit.gz")
    roi = catalog_roi_models(
        cat, CRAB, "5 deg", margin="1 deg", free_radius="0.5 deg", min_significance=20,
        free_shape=False, free_variable=False,
        extended_dir=gammapy_data / "catalogs" / "fermi" / "LAT_extended_sources_16years",
    )
    # the catalog model round-trips through XML before the fit
    roi = models_from_xml_string(models_to_xml_string(roi))
    for model in roi:
        if model.name != PULSAR:
            model.parameters.freeze_all()
    roi[PULSAR].spectral_model.index_1.frozen = False
    catalog_spectrum = roi[PULSAR].spectral_model.copy()
    catalog_errors = {p.name: p.error for p in catalog_spectrum.parameters}

    datasets = Datasets([ds])
    datasets.models = Models(list(roi) + [galactic, isotropic])
    result = Fit().run(datasets)
    return datasets, result, catalog_spectrum, catalog_errors


def test_crab_day_catalog_fit(crab_day_fit):
    datasets, result, catalog_spectrum, catalog_errors = crab_day_fit
    assert result.success
    pulsar = datasets.models[PULSAR].spectral_model
    # index: one-day error ~0.15 against the catalog's ~0.01
    index, index_err = pulsar.index_1.value, pulsar.index_1.error
    assert 0.05 < index_err < 0.5
    assert abs(index - catalog_spectrum.index_1.value) < 3 * np.hypot(index_err, catalog_errors["index_1"])
    # photon flux in the data's band
    emin, emax = 200 * u.MeV, 20 * u.GeV
    fitted = band_flux(pulsar, emin, emax)
    ref = catalog_spectrum.integral(emin, emax).to_value("cm-2 s-1")
    f, df = fitted["flux"].value, fitted["flux_err"].value
    assert 0.03 < df / f < 0.4
    assert abs(f - ref) < 3 * df
    # the backgrounds are consistent with their nominal normalisations
    gal = datasets.models["galactic"].spectral_model
    assert abs(gal.norm.value - 1) < 3 * gal.norm.error
    # a clear detection, and the table in gtlike terms
    ts = source_ts(datasets, [PULSAR])
    assert ts[PULSAR] > 50
    sources, params = fit_results_table(datasets, ts=ts, energy_band=(emin, emax))
    row = sources[sources["name"] == PULSAR][0]
    assert row["flux"] == pytest.approx(f)
    assert 30 < row["npred"] < 300
    idx = params[(params["source"] == PULSAR) & (params["parameter"] == "Index1")][0]
    assert idx["value"] == pytest.approx(-index)
