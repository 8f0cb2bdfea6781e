"""Closed loop of the unbinned likelihood on a simulated 1000-s transient (GRB-like).

A point source of a few tens of events (power law, integral flux above 100 MeV and index
injected) on an isotropic background of Galactic-plane intensity is simulated along a simulated
1000-s spacecraft history with the real CALDB (``gammapy_lat.simulate``: instantaneous
inclination, PSF and energy dispersion drawn per photon) and fitted with
`~gammapy_lat.datasets.UnbinnedLATDataset`. References are the injected parameters and the
asymptotic distribution of the test statistic of an absent source (half a delta at zero, half a
chi2 with one degree of freedom).

The exposures are computed once; each realisation only replaces the events
(`UnbinnedLATDataset.with_events`).
"""
import logging

import astropy.units as u
import numpy as np
import pytest
from astropy.coordinates import SkyCoord
from gammapy.maps import MapAxis
from gammapy.modeling import Fit
from gammapy.modeling.models import (
    ConstantSpatialModel,
    Models,
    PointSpatialModel,
    PowerLaw2SpectralModel,
    PowerLawSpectralModel,
    SkyModel,
)
from scipy import stats

from gammapy_lat.data import LATObservation, SpacecraftData
from gammapy_lat.datasets import UnbinnedLATDataset
from gammapy_lat.irf import LATIRFs
from gammapy_lat.irf.unbinned import spacecraft_attitude, vectors_to_lonlat
from gammapy_lat.makers import UnbinnedLATDatasetMaker
from gammapy_lat.simulate import EventSimulator, simulate_spacecraft

IRF = "P8R3_SOURCE_V2"
TSTART = 239557417.0
DURATION = 1000.0
FLUX = 1e-5  # cm-2 s-1 above 100 MeV: ~43 events
INDEX = 2.1
BACKGROUND = "2.5e-8 cm-2 s-1 MeV-1"  # at 1 GeV, per sr: ~150 events in the 10 deg cone
CONE = 10 * u.deg


class Transient:
    """The simulated sky and the dataset of one energy range."""

    def __init__(self, caldb, energy_range, background=BACKGROUND, seed=1):
        logging.getLogger("gammapy").setLevel(logging.ERROR)
        self.irfs = LATIRFs.from_caldb(IRF, 3, caldb=caldb)
        table = simulate_spacecraft(TSTART, TSTART + DURATION)
        self.spacecraft = SpacecraftData(table)
        # 10 deg from the boresight at mid-time
        scz, _, _ = spacecraft_attitude(table, [TSTART + DURATION / 2])
        lon, lat = vectors_to_lonlat(scz[0])
        self.position = SkyCoord(lon + 25, lat, unit="deg")
        self.emin, self.emax = energy_range
        self.background = background
        self.simulator = EventSimulator(
            table, self.irfs, energy_range=energy_range, roi=(self.position, CONE), roi_margin=20 * u.deg,
            healpix_nside=64, apply_edisp=False, random_state=seed,
        )
        events = self.simulator.simulate(self.models(), random_state=seed)
        observation = LATObservation(events, self.spacecraft, obs_id=0, irf_name=IRF)
        nbin = max(int(round(4 * np.log10(self.emax / self.emin))), 2)
        axis = MapAxis.from_energy_bounds(self.emin, self.emax, nbin, name="energy")
        reference = UnbinnedLATDataset.create(axis, self.position, CONE, name="transient")
        self.dataset = UnbinnedLATDatasetMaker(caldb=caldb, ltcube_kwargs={"nside": 64}).run(reference, observation)

    def models(self, flux=FLUX, index=INDEX, source=True):
        src = SkyModel(
            PowerLaw2SpectralModel(amplitude=flux * u.Unit("cm-2 s-1"), index=index, emin=100 * u.MeV, emax=100 * u.GeV),
            PointSpatialModel.from_position(self.position),
            name="grb",
        )
        src.spatial_model.parameters.freeze_all()
        src.spectral_model.amplitude.min = 0
        bkg = SkyModel(
            PowerLawSpectralModel(index=2.3, amplitude=self.background, reference="1 GeV"),
            ConstantSpatialModel(value="1 sr-1"),
            name="background",
            # an isotropic intensity is unchanged by the PSF: its density is the effective area
            apply_irf={"psf": False, "exposure": True, "edisp": False},
        )
        bkg.spectral_model.amplitude.min = 0
        bkg.spectral_model.index.frozen = True
        return Models([src, bkg] if source else [bkg])

    def realisation(self, seed, source=True):
        events = self.simulator.simulate(self.models(source=source), random_state=seed)
        return self.dataset.with_events(events, self.spacecraft, name=f"r{seed}")

    def absent_source_ts(self, seed):
        """TS of a point source (index 2, flux >= 0) at the position, in a background-only sky."""
        dataset = self.realisation(seed, source=False)
        null = self.models(source=False)
        dataset.models = null
        Fit().optimize([dataset])
        stat_null = dataset.stat_sum()
        alt = self.models(flux=1e-7, index=2.0)
        alt["grb"].spectral_model.index.frozen = True
        alt["background"].spectral_model.amplitude.value = null["background"].spectral_model.amplitude.value
        dataset.models = alt
        Fit().optimize([dataset])
        return max(stat_null - dataset.stat_sum(), 0.0), dataset.n_events


@pytest.fixture(scope="module")
def full_band(caldb_path):
    return Transient(caldb_path, (100 * u.MeV, 100 * u.GeV))


def test_transient_pulls_and_coverage(full_band):
    """100 realisations: the flux and index pulls have mean 0 and unit spread, and the 1-sigma
    errors cover the truth in 68 % of them."""
    sky = full_band
    npred = sky.dataset.copy()
    npred.models = sky.models()
    assert npred.npred_signal(["grb"]).data.sum() == pytest.approx(43, abs=5)
    pulls, n_source = [], []
    for i in range(100):
        dataset = sky.realisation(1000 + i)
        models = sky.models(flux=0.7 * FLUX, index=INDEX + 0.2)
        dataset.models = models
        assert Fit().run([dataset]).success
        spec = models["grb"].spectral_model
        pulls.append(((spec.amplitude.value - FLUX) / spec.amplitude.error, (spec.index.value - INDEX) / spec.index.error))
        n_source.append(dataset.n_events)
    pulls = np.array(pulls)
    for column in pulls.T:
        assert abs(np.mean(column)) < 0.3, np.mean(pulls, axis=0)
        assert 0.75 < np.std(column) < 1.25, np.std(pulls, axis=0)
        assert 0.55 < np.mean(np.abs(column) < 1) < 0.81
    # tens of source events on ~150 background events
    assert 150 < np.mean(n_source) < 240


@pytest.fixture(scope="module")
def soft_band(caldb_path):
    # below 300 MeV the PSF (68 % radius 3-6 deg) holds tens of background events
    return Transient(caldb_path, (100 * u.MeV, 300 * u.MeV), background="1e-7 cm-2 s-1 MeV-1")


def _check_chi2_half(ts, n, zero_tolerance):
    zero = np.mean(ts < 1e-3)
    assert abs(zero - 0.5) < zero_tolerance, zero
    positive = ts[ts >= 1e-3]
    assert stats.kstest(positive, stats.chi2(1).cdf).pvalue > 0.01
    # tail probabilities of the mixture, within three binomial standard deviations
    for threshold in (1.0, 2.71):
        expected = 0.5 * stats.chi2(1).sf(threshold)
        observed = np.mean(ts > threshold)
        assert abs(observed - expected) < 3 * np.sqrt(expected * (1 - expected) / n) + 0.01, (threshold, observed)


def test_absent_source_ts_is_chi2_half(soft_band):
    """TS of an absent source at the transient's position over 100 background-only realisations
    (1000 s, 100-300 MeV, ~390 background events): half zeros, half chi2(1)."""
    ts = np.array([soft_band.absent_source_ts(5000 + i)[0] for i in range(100)])
    _check_chi2_half(ts, 100, zero_tolerance=0.15)


@pytest.mark.slow
def test_absent_source_ts_is_chi2_half_long(soft_band):
    ts = np.array([soft_band.absent_source_ts(20000 + i)[0] for i in range(400)])
    _check_chi2_half(ts, 400, zero_tolerance=0.075)


@pytest.mark.slow
def test_absent_source_ts_full_band_small_counts(full_band):
    """Over the full band the 1000-s background is too small for the asymptotic distribution:
    the few high-energy background photons inside the narrow PSF core dominate the score, which
    is skewed, so that TS = 0 is more frequent than one half; the positive values still follow
    chi2(1) and the tail is not heavier than the asymptotic one (detections are not overstated)."""
    ts = np.array([full_band.absent_source_ts(30000 + i)[0] for i in range(300)])
    assert np.mean(ts < 1e-3) > 0.5
    positive = ts[ts >= 1e-3]
    assert stats.kstest(positive, stats.chi2(1).cdf).pvalue > 0.01
    assert np.mean(ts > 2.71) < 0.5 * stats.chi2(1).sf(2.71) + 3 * np.sqrt(0.05 * 0.95 / 300)
