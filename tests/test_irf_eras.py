"""IRFs of the older passes: the Pass 6 PSF (NCORE, SIGMA, GCORE, GTAIL) and the Pass 7 efficiency.

References are the CALDB tables read here with astropy, the formulas of the Fermitools
(``latResponse::Psf`` of Pass 6, ``EfficiencyFactor`` of the ScienceTools up to 2015) written out
independently, and direct numerical integrations.
"""
import astropy.units as u
import numpy as np
import pytest
from astropy.io import fits
from gammapy.maps import MapAxis, WcsGeom
from scipy import integrate
from scipy.interpolate import RegularGridInterpolator

from gammapy_lat.irf import CALDB, LATIRFs, make_exposure_map
from gammapy_lat.livetime import LivetimeCube


@pytest.fixture(scope="module")
def caldb(caldb_path):
    return CALDB(caldb_path)


def _table(caldb, irf, event_type, cnam):
    path, ext = caldb.hdu_location(irf, event_type, cnam)
    with fits.open(path) as hdulist:
        return hdulist[ext].data, hdulist


def _psf_columns(caldb, event_type):
    path, ext = caldb.hdu_location("P6_V3_DIFFUSE", event_type, "RPSF")
    with fits.open(path) as hdulist:
        data = hdulist[ext].data
        columns = {name: np.asarray(data[name][0], float) for name in data.columns.names}
        scale = np.asarray(hdulist["PSF_SCALING_PARAMS"].data["PSFSCALE"][0], float)
    return columns, scale


def _king(u_, g):
    return (1 - 1 / g) * (1 + u_ / g) ** (-g)


@pytest.mark.parametrize("event_type", ["FRONT", "BACK"])
@pytest.mark.parametrize("ie, ic", [(1, 4), (2, 6), (3, 6), (5, 3), (9, 7), (14, 5)])
def test_pass6_psf_at_table_nodes(caldb, event_type, ie, ic):
    """At a CALDB node the PSF is the table's King pair, normalised as the Fermitools do.

    The normalisation is integrated here with scipy: over the plane to r = pi/2 (small-angle,
    above 120 MeV) or over the sphere to theta = pi/2 (below 120 MeV).
    """
    columns, scale = _psf_columns(caldb, event_type)
    ne, nc = columns["ENERG_LO"].size, columns["CTHETA_LO"].size
    energy = np.sqrt(columns["ENERG_LO"][ie] * columns["ENERG_HI"][ie])
    costheta = 0.5 * (columns["CTHETA_LO"][ic] + columns["CTHETA_HI"][ic])
    pars = {k: columns[k].reshape(nc, ne)[ic, ie] for k in ("SIGMA", "GCORE", "GTAIL")}
    c0, c1 = (scale[0], scale[1]) if event_type == "FRONT" else (scale[2], scale[3])
    sigma = pars["SIGMA"] * np.hypot(c0 * (energy / 100) ** scale[4], c1)
    gc, gt = pars["GCORE"], pars["GTAIL"]

    def shape(r):
        uu = 0.5 * (r / sigma) ** 2
        return _king(uu, gc) + _king(10, gc) / _king(10, gt) * _king(uu, gt)

    if energy < 120:
        norm = integrate.quad(lambda t: shape(t) * 2 * np.pi * np.sin(t), 0, np.pi / 2, points=[sigma, 10 * sigma], limit=500)[0]
    else:
        norm = integrate.quad(lambda r: shape(r) * 2 * np.pi * r, 0, np.pi / 2, points=[sigma, 10 * sigma, 100 * sigma], limit=500)[0]
    rad = np.array([0.0, 0.3, 1.0, 3.0, 10.0]) * sigma
    psf = LATIRFs.from_caldb("P6_V3_DIFFUSE", event_type, caldb=caldb, edisp=False)[0].psf
    actual = psf.evaluate(energy * u.MeV, costheta, rad * u.rad).to_value("sr-1")
    np.testing.assert_allclose(actual, shape(rad) / norm, rtol=1e-5)


def test_pass6_psf_normalisation_and_width(caldb):
    """Between nodes: unit integral as defined, widths of the published P6_V3_DIFFUSE performance."""
    irfs = LATIRFs.from_caldb("P6_V3_DIFFUSE", 3, caldb=caldb, edisp=False)
    theta = np.concatenate([[0], np.geomspace(1e-7, np.pi / 2, 200001)])
    for comp in irfs:
        for energy in (90.0, 300.0, 2500.0, 40000.0):
            values = comp.psf.evaluate(energy * u.MeV, 0.77, theta * u.rad).to_value("sr-1")
            weight = np.sin(theta) if energy < 120 else theta
            assert integrate.trapezoid(values * 2 * np.pi * weight, theta) == pytest.approx(1, abs=2e-4)
    # 68 % containment on axis: ~3.5 deg (FRONT) at 100 MeV, ~0.6 deg at 1 GeV, BACK ~1.7x wider
    def r68(comp, energy):
        values = comp.psf.evaluate(energy * u.MeV, 0.95, theta * u.rad).to_value("sr-1")
        cum = integrate.cumulative_trapezoid(values * 2 * np.pi * theta, theta, initial=0)
        return np.degrees(np.interp(0.68, cum / cum[-1], theta))

    front, back = irfs["FRONT"], irfs["BACK"]
    assert 2.5 < r68(front, 100) < 4.5 and 0.4 < r68(front, 1000) < 0.8
    assert 1.4 < r68(back, 1000) / r68(front, 1000) < 2.0


RTOL_SYNTHETIC = 1e-5  # the FRONT-pair-only rule is 1e-3 to 7e-3 off


def _efficiency_rows(caldb, irf):
    data, _ = _table(caldb, irf, "FRONT", "EFFICIENCY_PARS")
    return np.array(data["EFFICIENCY_PARS"], dtype=float)


def _meta_parameter(pars, loge):
    """The Fermitools' EfficiencyParameter: continuous broken line with two breaks in log10 E."""
    a0, b0, a1, loge1, a2, loge2 = pars
    value = a0 * np.minimum(loge, loge1) + b0
    value = value + a1 * (np.clip(loge, loge1, loge2) - loge1)
    return value + a2 * (np.maximum(loge, loge2) - loge2)


@pytest.mark.parametrize("irf", ["P7SOURCE_V6", "P7REP_SOURCE_V15"])
def test_pass7_efficiency_averages_front_and_back(caldb, irf):
    """4 rows (p0, p1 FRONT; p0, p1 BACK): the livetime factors are the pair averages."""
    rows = _efficiency_rows(caldb, irf)
    assert rows.shape == (4, 6)
    loge = np.linspace(1.5, 5.5, 41)
    p0f, p1f, p0b, p1b = (_meta_parameter(r, loge) for r in rows)
    irfs = LATIRFs.from_caldb(irf, 3, caldb=caldb, psf=False, edisp=False)
    assert irfs.efficiency.has_conversion_pairs
    f1, f2 = irfs.efficiency.livetime_factors(10**loge * u.MeV)
    np.testing.assert_allclose(f1, 0.5 * (p1f + p1b), rtol=1e-12)
    np.testing.assert_allclose(f2, 0.5 * (p0f + p0b), rtol=1e-12)
    # per conversion type: p0 f + p1 of its own pair
    for front, (p0, p1) in ((True, (p0f, p1f)), (False, (p0b, p1b))):
        value = irfs.efficiency.evaluate(10**loge * u.MeV, 0.87, front=front)
        np.testing.assert_allclose(value, p0 * 0.87 + p1, rtol=1e-12)
    # the two pairs differ by 0.1-1 % at typical livetime fractions: the rule matters
    assert np.max(np.abs((p0f * 0.88 + p1f) / (0.5 * (p0f + p0b) * 0.88 + 0.5 * (p1f + p1b)) - 1)) > 1e-3


def test_pass8_efficiency_uses_its_two_rows(caldb):
    rows = _efficiency_rows(caldb, "P8R3_SOURCE_V2")
    assert rows.shape == (2, 6)
    loge = np.linspace(1.5, 5.5, 9)
    irfs = LATIRFs.from_caldb("P8R3_SOURCE_V2", "FRONT", caldb=caldb, psf=False, edisp=False)
    f1, f2 = irfs.efficiency.livetime_factors(10**loge * u.MeV)
    np.testing.assert_allclose(f1, _meta_parameter(rows[1], loge), rtol=1e-12)
    np.testing.assert_allclose(f2, _meta_parameter(rows[0], loge), rtol=1e-12)


def _aeff_interpolator(caldb, irf, event_type):
    """Bilinear effective area (cm2) between bin centres, padded as the Fermitools pad the table."""
    data, _ = _table(caldb, irf, event_type, "EFF_AREA")
    elo, ehi = np.asarray(data["ENERG_LO"][0], float), np.asarray(data["ENERG_HI"][0], float)
    clo, chi = np.asarray(data["CTHETA_LO"][0], float), np.asarray(data["CTHETA_HI"][0], float)
    table = np.asarray(data["EFFAREA"][0], float).reshape(clo.size, elo.size) * 1e4
    loge = np.concatenate([[0], np.log10(np.sqrt(elo * ehi)), [10]])
    cth = np.concatenate([[-1], 0.5 * (clo + chi), [1]])
    interp = RegularGridInterpolator((cth, loge), np.pad(table, 1, mode="edge"))
    top = cth[-2]

    def aeff(energy, costheta):
        value = interp((np.minimum(costheta, top), np.log10(energy)))
        return np.where(costheta < clo[0], 0.0, value)

    return aeff, clo[0]


@pytest.mark.parametrize("irf", ["P7SOURCE_V6", "P7REP_SOURCE_V15"])
def test_pass7_exposure_synthetic_ltcube(caldb, irf):
    """Exposure of a livetime cube uniform in cos theta (T per unit cos theta, livetime fraction f)
    equals T (f1 + f f2) times the integral of the effective area over cos theta."""
    nbins, total, fraction = 400, 1e6, 0.86
    edges = np.linspace(1, 0, nbins + 1)
    per_bin = np.full((12, nbins), total / nbins)
    ltcube = LivetimeCube(per_bin * u.s, fraction * per_bin * u.s, edges, nside=1, binning="linear")
    energy = np.array([100.0, 398.0, 2000.0, 30000.0])
    axis = MapAxis.from_nodes(energy * u.MeV, name="energy_true", interp="log")
    geom = WcsGeom.create(skydir=(10, 20), npix=1, binsz=1, axes=[axis])
    irfs = LATIRFs.from_caldb(irf, 3, caldb=caldb, psf=False, edisp=False)
    exposure = make_exposure_map(ltcube, irfs, geom).data.ravel()

    rows = _efficiency_rows(caldb, irf)
    loge = np.log10(energy)
    f1 = 0.5 * (_meta_parameter(rows[1], loge) + _meta_parameter(rows[3], loge))
    f2 = 0.5 * (_meta_parameter(rows[0], loge) + _meta_parameter(rows[2], loge))
    expected = np.zeros_like(energy)
    for event_type in ("FRONT", "BACK"):
        aeff, cmin = _aeff_interpolator(caldb, irf, event_type)
        for k, e in enumerate(energy):
            area = integrate.quad(lambda c: float(aeff(e, c)), cmin, 1, limit=200)[0]
            expected[k] += total * area * (f1[k] + fraction * f2[k])
    np.testing.assert_allclose(exposure, expected, rtol=RTOL_SYNTHETIC)
