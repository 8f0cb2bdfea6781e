"""Effective area, efficiency, PSF and energy dispersion against the CALDB tables.

References are computed here directly from the FITS columns (astropy) and by numerical
integration, independently of the interpolation code under test.
"""
import astropy.units as u
import numpy as np
import pytest
from astropy.io import fits
from scipy.special import gamma as gamma_function

from gammapy_lat.irf import CALDB, LATIRFs


@pytest.fixture(scope="module")
def caldb(caldb_path):
    return CALDB(caldb_path)


@pytest.fixture(scope="module")
def irfs_fb(caldb):
    return LATIRFs.from_caldb("P8R2_SOURCE_V6", 3, caldb=caldb)


@pytest.fixture(scope="module")
def irfs_psf(caldb):
    return LATIRFs.from_caldb("P8R2_SOURCE_V6", 60, caldb=caldb, edisp=False)


@pytest.fixture(scope="module")
def irfs_edisp(caldb):
    return LATIRFs.from_caldb("P8R3_SOURCE_V2", 960, caldb=caldb, psf=False)


def _table(caldb, irf, evtype, cnam):
    path, ext = caldb.hdu_location(irf, evtype, cnam)
    with fits.open(path) as hdulist:
        data = hdulist[ext].data
        return {name: np.array(data[name][0], dtype=float) for name in data.columns.names}


# ---------------------------------------------------------------------------- effective area
def test_aeff_at_table_nodes(caldb, irfs_fb):
    """At CALDB bin centres the bilinear interpolation returns the tabulated value."""
    for comp in irfs_fb:
        t = _table(caldb, "P8R2_SOURCE_V6", comp.event_type, "EFF_AREA")
        energy = np.sqrt(t["ENERG_LO"] * t["ENERG_HI"])
        cth = 0.5 * (t["CTHETA_LO"] + t["CTHETA_HI"])
        table = t["EFFAREA"].reshape(len(cth), len(energy))
        ie = [10, 30, 50, 70]
        ic = [3, 15, 31]
        values = comp.aeff.evaluate(energy[ie][None, :] * u.MeV, cth[ic][:, None]).to_value("m2")
        np.testing.assert_allclose(values, table[np.ix_(ic, ie)], rtol=1e-6)
        # halfway between two energy nodes: mean of the two (linear in log E)
        e_mid = np.sqrt(energy[40] * energy[41]) * u.MeV
        mid = comp.aeff.evaluate(e_mid, cth[20]).to_value("m2")
        np.testing.assert_allclose(mid, 0.5 * (table[20, 40] + table[20, 41]), rtol=1e-6)
        # zero below the tabulated inclination range, the top bin value at normal incidence
        assert comp.aeff.evaluate(1 * u.GeV, 0.1).value == 0
        np.testing.assert_allclose(
            comp.aeff.evaluate(energy[50] * u.MeV, 1.0).to_value("m2"), table[-1, 50], rtol=1e-6
        )


def test_aeff_published_values(irfs_fb):
    """P8R2_SOURCE_V6 FRONT+BACK on-axis area near 1 m2 above 1 GeV (published performance)."""
    total = sum(c.aeff.evaluate([1, 10] * u.GeV, 1.0) for c in irfs_fb).to_value("m2")
    assert np.all((total > 0.8) & (total < 1.0))


def test_efficiency_factor(caldb, irfs_fb):
    """p0, p1 are piecewise-linear in log10 E with the tabulated slopes and breaks."""
    path, ext = caldb.hdu_location("P8R2_SOURCE_V6", "FRONT", "EFFICIENCY_PARS")
    with fits.open(path) as hdulist:
        pars = np.array(hdulist[ext].data["EFFICIENCY_PARS"], dtype=float)
    eff = irfs_fb["FRONT"].efficiency
    for row, index in ((0, 1), (1, 0)):  # p0 multiplies the weighted livetime (f2), p1 the livetime (f1)
        a0, b0, a1, loge1, a2, loge2 = pars[row]
        for loge in (1.5, 0.5 * (loge1 + loge2), 5.5):
            value = eff.livetime_factors(10**loge * u.MeV)[index]
            # integrate the slopes from the first segment: continuity at the breaks
            expected = a0 * min(loge, loge1) + b0
            if loge > loge1:
                expected += a1 * (min(loge, loge2) - loge1)
            if loge > loge2:
                expected += a2 * (loge - loge2)
            np.testing.assert_allclose(value, expected, rtol=1e-10)
    # at the typical livetime fraction the correction is close to 1
    assert 0.9 < eff.evaluate(1 * u.GeV, 0.9) < 1.05


def test_phi_modulation_mean_one(irfs_fb):
    aeff = irfs_fb["FRONT"].aeff
    phi = np.linspace(0, 360, 3601)[:-1] * u.deg
    values = aeff.evaluate(1 * u.GeV, 0.7, phi=phi)
    ref = aeff.evaluate(1 * u.GeV, 0.7)
    assert np.std(values.value) > 0
    np.testing.assert_allclose(values.mean().value, ref.value, rtol=0.05)


# ---------------------------------------------------------------------------- PSF
RAD = np.concatenate([[0.0], np.geomspace(1e-7, np.pi, 40000)])


def _sphere_integral(values, rad=RAD):
    integrand = values * 2 * np.pi * np.sin(rad)
    return np.concatenate([[0.0], np.cumsum(0.5 * (integrand[1:] + integrand[:-1]) * np.diff(rad))])


def _containment(values, fraction=0.68, rad=RAD):
    cumulative = _sphere_integral(values, rad)
    return np.degrees(np.interp(fraction * cumulative[-1], cumulative, rad))


@pytest.mark.parametrize("irf,evtype", [("P8R2_SOURCE_V6", 3), ("P8R2_SOURCE_V6", 60), ("P8R3_SOURCE_V2", 960), ("P7REP_SOURCE_V15", 3)])
def test_psf_normalised_on_sphere(caldb, irf, evtype):
    irfs = LATIRFs.from_caldb(irf, evtype, caldb=caldb, edisp=False)
    for comp in irfs:
        for energy in (30, 100, 1e3, 3.16e4, 1e6) * u.MeV:
            for cth in (0.25, 0.62, 0.97, 1.0):
                psf = comp.psf.evaluate(energy, cth, RAD * u.rad).to_value("sr-1")
                assert abs(_sphere_integral(psf)[-1] - 1) < 1e-3, (comp, energy, cth)


def _king(rad, sigma, gamma):
    return (1 - 1 / gamma) * (1 + (rad / sigma) ** 2 / (2 * gamma)) ** (-gamma)


def _direct_psf(caldb, irf, evtype, energy, rad):
    """PSF at normal incidence, written from the CALDB columns (Psf3 scheme).

    Normal incidence lies above the top cos θ bin centre, where only the top row counts; the
    energy lies between two tabulated bin centres: the two node functions (each with the scaling
    at its own node energy, normalised here by numerical integration over the sphere) are mixed
    linearly in log E.
    """
    t = _table(caldb, irf, evtype, "RPSF")
    path, ext = caldb.hdu_location(irf, evtype, "PSF_SCALING")
    with fits.open(path) as hdulist:
        c0, c1, beta = np.array(hdulist[ext].data["PSFSCALE"][0], dtype=float)
    loge_nodes = np.log10(np.sqrt(t["ENERG_LO"] * t["ENERG_HI"]))
    ncth = len(t["CTHETA_LO"])
    k = np.searchsorted(loge_nodes, np.log10(energy)) - 1
    frac = (np.log10(energy) - loge_nodes[k]) / (loge_nodes[k + 1] - loge_nodes[k])
    total = 0
    for kk, weight in ((k, 1 - frac), (k + 1, frac)):
        par = {name: t[name].reshape(ncth, -1)[-1, kk] for name in ("NCORE", "NTAIL", "SCORE", "STAIL", "GCORE", "GTAIL")}
        node_energy = 10 ** loge_nodes[kk]
        scale = np.sqrt((c0 * (node_energy / 100) ** beta) ** 2 + c1**2)
        values = par["NCORE"] * _king(rad, par["SCORE"] * scale, par["GCORE"]) + par["NTAIL"] * par["NCORE"] * _king(
            rad, par["STAIL"] * scale, par["GTAIL"]
        )
        total = total + weight * values / _sphere_integral(values, rad)[-1]
    return total


def test_psf_containment_fb_normal_incidence(caldb, irfs_fb):
    """68 % containment of P8R2_SOURCE_V6 FRONT+BACK on axis, vs a direct CALDB integration."""
    limits = {1e3: (0.5, 1.0), 1e4: (0.08, 0.25)}
    for energy, (lo, hi) in limits.items():
        areas = [c.aeff.evaluate(energy * u.MeV, 1.0).value for c in irfs_fb]
        ours = sum(a * c.psf.evaluate(energy * u.MeV, 1.0, RAD * u.rad).value for a, c in zip(areas, irfs_fb))
        direct = sum(a * _direct_psf(caldb, "P8R2_SOURCE_V6", c.event_type, energy, RAD) for a, c in zip(areas, irfs_fb))
        r68 = _containment(ours / sum(areas))
        r68_direct = _containment(direct / sum(areas))
        assert lo < r68 < hi
        np.testing.assert_allclose(r68, r68_direct, rtol=2e-3)
        # and per type
        for comp in irfs_fb:
            np.testing.assert_allclose(
                _containment(comp.psf.evaluate(energy * u.MeV, 1.0, RAD * u.rad).value),
                _containment(_direct_psf(caldb, "P8R2_SOURCE_V6", comp.event_type, energy, RAD)),
                rtol=2e-3,
            )


def test_psf_type_ordering(irfs_psf, irfs_fb):
    """PSF3 sharpest ... PSF0 broadest; FRONT sharper than BACK."""
    for energy in (0.3, 1, 10, 100) * u.GeV:
        for cth in (1.0, 0.7):
            r68 = [_containment(c.psf.evaluate(energy, cth, RAD * u.rad).value) for c in irfs_psf]
            assert np.all(np.diff(r68) < 0), (energy, cth, r68)
            front, back = (_containment(c.psf.evaluate(energy, cth, RAD * u.rad).value) for c in irfs_fb)
            assert front < back


# ---------------------------------------------------------------------------- energy dispersion
def _thibaut(x, sigma, k, bias, p):
    uu = x - bias
    norm = p / (sigma * gamma_function(1 / p)) * k / (1 + k * k)
    return norm * np.exp(-((k * np.maximum(uu, 0) / sigma) ** p) - (np.maximum(-uu, 0) / (k * sigma)) ** p)


def test_edisp_at_node_matches_caldb_formula(caldb, irfs_fb):
    """At a grid node (bin centres) the density is the CALDB formula with that bin's parameters."""
    for comp in irfs_fb:
        t = _table(caldb, "P8R2_SOURCE_V6", comp.event_type, "EDISP")
        path, ext = caldb.hdu_location("P8R2_SOURCE_V6", comp.event_type, "EDISP_SCALING")
        with fits.open(path) as hdulist:
            c = np.array(hdulist[ext].data["EDISPSCALE"][0], dtype=float)
        loge = np.log10(np.sqrt(t["ENERG_LO"] * t["ENERG_HI"]))
        cth = 0.5 * (t["CTHETA_LO"] + t["CTHETA_HI"])
        for ie, ic in ((8, 7), (12, 4), (16, 6)):
            par = {n: t[n].reshape(len(cth), -1)[ic, ie] for n in ("F", "S1", "K1", "BIAS", "BIAS2", "S2", "K2", "PINDEX1", "PINDEX2")}
            sd = c[0] * loge[ie] ** 2 + c[1] * cth[ic] ** 2 + c[2] * loge[ie] + c[3] * cth[ic] + c[4] * loge[ie] * cth[ic] + c[5]
            energy = 10 ** loge[ie]
            ereco = energy * np.linspace(0.5, 1.6, 23)
            def density(x):
                return par["F"] * _thibaut(x, par["S1"], par["K1"], par["BIAS"], par["PINDEX1"]) + (
                    1 - par["F"]
                ) * _thibaut(x, par["S2"], par["K2"], par["BIAS2"], par["PINDEX2"])

            # normalised to E' > 0 (x > -1 / sd)
            xs = np.linspace(-1 / sd, 60, 400_001)
            norm = np.trapezoid(density(xs), xs)
            x = (ereco - energy) / (energy * sd)
            expected = density(x) / (energy * sd) / norm
            ours = comp.edisp.evaluate(energy * u.MeV, cth[ic], ereco * u.MeV).to_value("MeV-1")
            np.testing.assert_allclose(ours, expected, rtol=1e-5)


MIGRA = np.linspace(0, 10, 200001)
# log grid reaching the far high-energy tail of the worst-resolution types
MIGRA_LOG = np.concatenate([[0.0], np.geomspace(1e-4, 1e3, 20001)])
MIGRA_CORE = np.linspace(0.8, 1.2, 4001)


@pytest.fixture(scope="module")
def irfs_p7(caldb):
    return LATIRFs.from_caldb("P7REP_SOURCE_V15", 3, caldb=caldb, psf=False)


@pytest.mark.parametrize("selection", ["fb", "edisp", "p7"])
def test_edisp_normalised(selection, irfs_fb, irfs_edisp, irfs_p7):
    irfs = {"fb": irfs_fb, "edisp": irfs_edisp, "p7": irfs_p7}[selection]
    for comp in irfs:
        for energy in (50, 300, 1e3, 1e4, 3e5) * u.MeV:
            for cth in (0.3, 0.75, 0.98):
                density = comp.edisp.evaluate_migration(energy, cth, MIGRA_LOG)
                integral = np.trapezoid(density, MIGRA_LOG)
                assert abs(integral - 1) < 1e-3, (comp, energy, cth, integral)
                # the closed-form CDF agrees with the numerical integral of the density
                density = comp.edisp.evaluate_migration(energy, cth, MIGRA_CORE)
                cdf = comp.edisp.cdf(energy, cth, [0.8, 1.2] * energy)
                # (Pass 7: cumulative tabulated on 8001 points per node)
                atol = 1e-5 if selection == "p7" else 1e-6
                np.testing.assert_allclose(cdf[1] - cdf[0], np.trapezoid(density, MIGRA_CORE), atol=atol)


def test_edisp_pass7_at_node(caldb, irfs_p7):
    """Pass 7: at a grid node, the CALDB two-sided core/tail function of that bin, normalised over
    E/10 < E' < 10 E (formula and normalisation written here from the CALDB definition)."""
    for comp in irfs_p7:
        assert comp.edisp.version == "pass7"
        t = _table(caldb, "P7REP_SOURCE_V15", comp.event_type, "EDISP")
        path, ext = caldb.hdu_location("P7REP_SOURCE_V15", comp.event_type, "EDISP_SCALING")
        with fits.open(path) as hdulist:
            c = np.array(hdulist[ext].data["EDISPSCALE"][0], dtype=float)
        p1, p2, t0 = c[-3:]
        loge = np.log10(np.sqrt(t["ENERG_LO"] * t["ENERG_HI"]))
        cth = 0.5 * (t["CTHETA_LO"] + t["CTHETA_HI"])
        for ie, ic in ((6, 6), (10, 3), (14, 5)):
            par = {n: t[n].reshape(len(cth), -1)[ic, ie] for n in ("NORM", "LS1", "RS1", "BIAS", "LS2", "RS2")}
            sd = c[0] * loge[ie] ** 2 + c[1] * cth[ic] ** 2 + c[2] * loge[ie] + c[3] * cth[ic] + c[4] * loge[ie] * cth[ic] + c[5]

            def density(x):
                right = x > par["BIAS"]
                s1 = np.where(right, par["RS1"], par["LS1"])
                s2 = np.where(right, par["RS2"], par["LS2"])
                tt = np.abs(x - par["BIAS"])
                g1 = np.exp(-0.5 * (tt / s1) ** p1)
                g2 = np.exp(-0.5 * (tt / s2) ** p2) * np.exp(0.5 * ((t0 / s2) ** p2 - (t0 / s1) ** p1))
                return np.where(tt <= t0, g1, g2)

            xs = np.linspace(-0.9 / sd, 9 / sd, 2_000_001)
            norm = np.trapezoid(density(xs), xs)
            energy = 10 ** loge[ie]
            ereco = energy * np.linspace(0.5, 1.6, 23)
            x = (ereco - energy) / (energy * sd)
            expected = density(x) / (energy * sd) / norm
            ours = comp.edisp.evaluate(energy * u.MeV, cth[ic], ereco * u.MeV).to_value("MeV-1")
            np.testing.assert_allclose(ours, expected, rtol=1e-4)


def test_edisp_resolution_fb(irfs_fb):
    """FRONT+BACK 68 % half-width of the migration near normal incidence: 5-15 % at 1 and 10 GeV."""
    for energy in (1e3, 1e4) * u.MeV:
        areas = [c.aeff.evaluate(energy, 0.95).value for c in irfs_fb]
        density = sum(a * c.edisp.evaluate_migration(energy, 0.95, MIGRA) for a, c in zip(areas, irfs_fb)) / sum(areas)
        cumulative = np.concatenate([[0], np.cumsum(0.5 * (density[1:] + density[:-1]) * np.diff(MIGRA))])
        lo, hi = np.interp([0.16, 0.84], cumulative, MIGRA)
        half_width = 0.5 * (hi - lo)
        assert 0.05 < half_width < 0.15, (energy, half_width)


def test_psf_parameter_interpolation_scheme(caldb):
    """PSFVER = 2 scheme (interpolated parameters): normalised, and equal to the node scheme at a
    grid node, where both reduce to the CALDB parameters of that bin."""
    from gammapy_lat.irf import LATPSF

    node_psf = LATIRFs.from_caldb("P7REP_SOURCE_V15", "FRONT", caldb=caldb, edisp=False)[0].psf
    par_psf = LATPSF(node_psf.grid, node_psf.scale_pars, scheme="parameters", is_front=True)
    grid = node_psf.grid
    for ie, ic in ((5, 3), (9, 6), (14, 2)):
        energy = 10 ** grid.log_energy_center[ie] * u.MeV
        cth = grid.costheta_center[ic]
        a = node_psf.evaluate(energy, cth, RAD * u.rad).value
        b = par_psf.evaluate(energy, cth, RAD * u.rad).value
        np.testing.assert_allclose(b, a, rtol=1e-9)
    for energy in (100, 3e3, 1e5) * u.MeV:
        psf = par_psf.evaluate(energy, 0.66, RAD * u.rad).value
        assert abs(_sphere_integral(psf)[-1] - 1) < 1e-3
