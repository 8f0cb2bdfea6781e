"""Event (FT1) simulation against direct integrations of the response along the pointing history."""
import numpy as np
import pytest
from astropy import units as u
from astropy.coordinates import SkyCoord
from astropy.io import fits
from gammapy.modeling.models import (
    ConstantSpatialModel,
    PointSpatialModel,
    PowerLawSpectralModel,
    SkyModel,
)
from scipy import stats
from scipy.optimize import minimize_scalar

from gammapy_lat.irf import LATIRFs
from gammapy_lat.simulate import simulate_events, simulate_spacecraft
from gammapy_lat.simulate.response import SYNTHETIC_IRF_NAME, synthetic_caldb

TSTART = 239557417.0
RA0, DEC0 = 83.63, 22.01
INDEX = 2.3


def unit(ra, dec):
    ra, dec = np.radians(np.asarray(ra, float)), np.radians(np.asarray(dec, float))
    return np.stack([np.cos(dec) * np.cos(ra), np.cos(dec) * np.sin(ra), np.sin(dec)], axis=-1)


@pytest.fixture(scope="module")
def irfs(tmp_path_factory):
    root = synthetic_caldb(tmp_path_factory.mktemp("caldb"))
    return LATIRFs.from_caldb(SYNTHETIC_IRF_NAME, 3, caldb=root)


@pytest.fixture(scope="module")
def spacecraft():
    return simulate_spacecraft(TSTART, TSTART + 86400.0)


def point_source(amplitude="6e-7 cm-2 s-1 MeV-1"):
    return SkyModel(
        PowerLawSpectralModel(index=INDEX, amplitude=amplitude, reference="100 MeV"),
        PointSpatialModel(lon_0=f"{RA0} deg", lat_0=f"{DEC0} deg", frame="icrs"),
        name="src",
    )


def exposure_vs_energy(spacecraft, irfs, energy, ra=RA0, dec=DEC0):
    """Direct integration: sum over rows of livetime x summed Aeff (trapezoid over each row)."""
    t = spacecraft
    good = (np.asarray(t["LIVETIME"]) > 0) & (np.asarray(t["DATA_QUAL"]) > 0)
    src = unit(ra, dec)
    scz = unit(t["RA_SCZ"], t["DEC_SCZ"])
    zen = unit(t["RA_ZENITH"], t["DEC_ZENITH"])
    radius = np.linalg.norm(np.asarray(t["SC_POSITION"], float), axis=1)
    earth = 180 - np.degrees(np.arcsin(6378137.0 / radius))
    cth = scz @ src
    visible = np.degrees(np.arccos(np.clip(zen @ src, -1, 1))) < earth
    # value at the end of row i = value at the start of row i+1 (contiguous rows)
    cth_end = np.append(cth[1:], cth[-1])
    vis_end = np.append(visible[1:], visible[-1])
    live = np.asarray(t["LIVETIME"], float) * good
    exposure = np.zeros(len(energy))
    for c, v in ((cth, visible), (cth_end, vis_end)):
        aeff = sum(comp.aeff.evaluate(energy[:, None], c[None, :]).to_value("cm2") for comp in irfs)
        exposure += 0.5 * (aeff * (live * v)[None, :]).sum(axis=1)
    return exposure  # cm2 s


@pytest.fixture(scope="module")
def source_exposure(spacecraft, irfs):
    energy = np.geomspace(100, 1e5, 200)
    return energy, exposure_vs_energy(spacecraft, irfs, energy * u.MeV)


@pytest.fixture(scope="module")
def bright(spacecraft, irfs):
    """A bright point source, no energy dispersion, whole sky: every accepted photon is kept."""
    erange = (100 * u.MeV, 100 * u.GeV)
    events = simulate_events(
        point_source(), spacecraft, irfs, energy_range=erange, true_energy_range=erange,
        apply_edisp=False, random_state=42,
    )
    return events


def test_counts_match_exposure_times_flux(bright, source_exposure):
    energy, exposure = source_exposure
    energy = energy * u.MeV
    flux = point_source().spectral_model(energy).to_value("cm-2 s-1 MeV-1")
    expected = np.trapezoid(flux * exposure, energy.value)
    n = len(bright)
    assert expected > 2000
    assert abs(n - expected) < 3.5 * np.sqrt(expected), (n, expected)


def test_energy_spectrum_and_slope(bright, source_exposure):
    true_energy = bright.meta_simulation["true_energy"]
    # reconstructed = true without dispersion
    assert np.allclose(np.asarray(bright.table["ENERGY"]), true_energy, rtol=1e-6)
    grid, exposure = source_exposure

    def nll(index):
        pdf = grid**-index * exposure
        norm = np.trapezoid(pdf, grid)
        return -np.sum(np.log(np.interp(true_energy, grid, pdf) / norm))

    fit = minimize_scalar(nll, bounds=(1.5, 3.5), method="bounded")
    sigma = (INDEX - 1) / np.sqrt(len(true_energy))
    assert abs(fit.x - INDEX) < 4 * sigma, (fit.x, sigma)
    # histogram against the expected counts per energy bin
    edges = np.geomspace(100, 1e5, 10)
    counts, _ = np.histogram(true_energy, edges)
    flux = point_source().spectral_model(grid * u.MeV).to_value("cm-2 s-1 MeV-1")
    cum = np.concatenate([[0], np.cumsum(0.5 * np.diff(grid) * (flux * exposure)[1:] + 0.5 * np.diff(grid) * (flux * exposure)[:-1])])
    mu = np.diff(np.interp(edges, grid, cum))
    ok = mu > 5
    chi2 = np.sum((counts[ok] - mu[ok]) ** 2 / mu[ok])
    assert chi2 < ok.sum() + 4 * np.sqrt(2 * ok.sum())


def test_columns_geometry(bright, spacecraft):
    t = bright.table
    direction = unit(t["RA"], t["DEC"])
    # THETA / ZENITH_ANGLE against the spacecraft row holding each event (pointing moves < 2 deg per row)
    row = np.searchsorted(np.asarray(spacecraft["START"]), np.asarray(t["TIME"]), side="right") - 1
    scz = unit(spacecraft["RA_SCZ"][row], spacecraft["DEC_SCZ"][row])
    zen = unit(spacecraft["RA_ZENITH"][row], spacecraft["DEC_ZENITH"][row])
    theta = np.degrees(np.arccos(np.clip(np.sum(direction * scz, axis=1), -1, 1)))
    zenith = np.degrees(np.arccos(np.clip(np.sum(direction * zen, axis=1), -1, 1)))
    # away from the north/south rocking switches the axis moves < 2 deg per 30 s row
    steady = np.abs(np.asarray(spacecraft["ROCK_ANGLE"], float))[np.minimum(row + 1, len(spacecraft) - 1)] > 49.9
    steady &= np.abs(np.asarray(spacecraft["ROCK_ANGLE"], float))[row] > 49.9
    assert steady.mean() > 0.8
    assert np.max(np.abs(theta - t["THETA"])[steady]) < 2.5
    assert np.max(np.abs(zenith - t["ZENITH_ANGLE"])) < 2.5
    # no photon from outside the field of view (Aeff = 0 below cos theta = 0.2)
    assert np.all(bright.meta_simulation["costheta"] >= 0.2)
    # no photon from below the Earth's limb (112.6 deg at 550 km; the zenith moves < 2 deg per row)
    true_zenith = np.degrees(np.arccos(np.clip(np.sum(bright.meta_simulation["true_direction"] * zen, axis=1), -1, 1)))
    assert np.all(true_zenith < 112.7 + 2)
    gal = SkyCoord(t["RA"], t["DEC"], unit="deg").galactic
    assert np.allclose(gal.l.deg, t["L"], atol=1e-3) and np.allclose(gal.b.deg, t["B"], atol=1e-3)
    assert np.all(np.diff(t["TIME"]) >= 0)
    assert np.all(np.diff(t["LIVETIME"]) >= 0)
    # events only inside the GTIs, which exclude SAA rows
    saa = np.asarray(spacecraft["IN_SAA"])[row]
    assert not saa.any()


@pytest.fixture(scope="module")
def dispersed(spacecraft, irfs):
    return simulate_events(
        point_source("3e-7 cm-2 s-1 MeV-1"), spacecraft, irfs, energy_range=(100 * u.MeV, 100 * u.GeV),
        roi=(SkyCoord(RA0, DEC0, unit="deg"), 30 * u.deg), random_state=7,
    )


def test_psf_offsets_follow_irf(dispersed, irfs):
    """Probability integral transform of the PSF offsets with the IRF's own PSF: uniform."""
    meta = dispersed.meta_simulation
    t = dispersed.table
    src = unit(RA0, DEC0)
    offset = np.degrees(np.arccos(np.clip(unit(t["RA"], t["DEC"]) @ src, -1, 1)))
    types = np.asarray(t["CONVERSION_TYPE"])
    pit = np.empty(len(t))
    frac = np.linspace(0, 1, 401)
    for k, comp in enumerate(irfs):
        m = types == k
        rad = offset[m][:, None] * frac[None, :]
        dens = comp.psf.evaluate(meta["true_energy"][m][:, None] * u.MeV, meta["costheta"][m][:, None], rad * u.deg)
        integrand = 2 * np.pi * np.sin(np.radians(rad)) * dens.to_value("sr-1")
        pit[m] = np.trapezoid(integrand, np.radians(rad), axis=1)
    # events leave the 30 deg cone only in the far tail: negligible
    assert len(pit) > 300
    assert stats.kstest(pit, "uniform").pvalue > 1e-3
    # 68 % containment
    assert np.mean(pit < 0.68) == pytest.approx(0.68, abs=4 * np.sqrt(0.68 * 0.32 / len(pit)))


def test_energy_dispersion_follows_irf(dispersed, irfs):
    meta = dispersed.meta_simulation
    t = dispersed.table
    true_energy = meta["true_energy"] * u.MeV
    types = np.asarray(t["CONVERSION_TYPE"])
    pit = np.empty(len(t))
    for k, comp in enumerate(irfs):
        m = types == k
        pit[m] = comp.edisp.cdf(true_energy[m], meta["costheta"][m], np.asarray(t["ENERGY"][m], float) * u.MeV)
    # the energy cut at 100 MeV truncates the low-energy photons: use those well inside
    inside = meta["true_energy"] > 200
    assert stats.kstest(pit[inside], "uniform").pvalue > 1e-3


def test_diffuse_counts_match_solid_angle(spacecraft, irfs):
    """Isotropic emission: counts in a cone = intensity x solid angle x sky-averaged exposure."""
    model = SkyModel(
        PowerLawSpectralModel(index=2.0, amplitude="2e-5 cm-2 s-1 MeV-1", reference="100 MeV"),
        ConstantSpatialModel(value="1 sr-1"),
        name="iso",
    )
    center = SkyCoord(RA0, DEC0, unit="deg")
    erange = (1 * u.GeV, 10 * u.GeV)
    events = simulate_events(
        model, spacecraft, irfs, energy_range=erange, true_energy_range=erange, apply_edisp=False,
        roi=(center, 3 * u.deg), roi_margin=0 * u.deg, healpix_nside=512, random_state=3,
    )
    # exposure averaged over the cone from a grid of directions
    import healpy as hp

    pix = hp.query_disc(512, unit(RA0, DEC0), np.radians(3))
    theta, phi = hp.pix2ang(512, pix[:: max(1, len(pix) // 16)])
    energy = np.geomspace(1e3, 1e4, 30) * u.MeV
    flux = model.spectral_model(energy).to_value("cm-2 s-1 MeV-1")
    rates = [
        np.trapezoid(flux * exposure_vs_energy(spacecraft, irfs, energy, np.degrees(ph), 90 - np.degrees(th)), energy.value)
        for th, ph in zip(theta, phi)
    ]
    solid_angle = 2 * np.pi * (1 - np.cos(np.radians(3)))
    expected = np.mean(rates) * solid_angle
    # the PSF moves photons across the cone boundary symmetrically for a flat sky; small margin
    assert abs(len(events) - expected) < 4 * np.sqrt(expected) + 0.03 * expected, (len(events), expected)


def test_ft1_passes_reader_and_selection(dispersed, tmp_path, crab_day):
    from gammapy_lat.data import read_events

    path = tmp_path / "ft1.fits"
    dispersed.write(path)
    events = read_events(path)
    assert len(events) == len(dispersed)
    with fits.open(path) as sim, fits.open(crab_day / "ft1.fits.gz") as real:
        assert [h.name for h in sim] == [h.name for h in real]
        real_cols = {c.name: c.format for c in real["EVENTS"].columns if not c.name.startswith("DIFRSP")}
        sim_cols = {c.name: c.format for c in sim["EVENTS"].columns}
        assert sim_cols == real_cols
        header = sim["EVENTS"].header
        assert header["IRF_NAME"] == SYNTHETIC_IRF_NAME and header["SYNTHET"] is True
    assert events.pass_ver == "P8R3"
    assert np.all(events.event_class & 128)
    types = events.event_type
    assert set(np.unique(types)) == {1, 2}
    assert np.all(np.asarray(events.table["CONVERSION_TYPE"]) == (types == 2))
    # gtselect-like selections apply and are recorded
    sel = events.select(evclass="SOURCE", evtype="FRONT", emin=300, emax=30000, ra=RA0, dec=DEC0, rad=10, zmax=90)
    assert 0 < len(sel) < len(events)
    assert sel.dss.energy_range == (300.0, 30000.0)
    # GTIs cover all events and exclude the SAA
    assert np.all((events.time >= events.gti_start[0]) & (events.time <= events.gti_stop[-1]))
    assert len(events.gti_start) > 5
