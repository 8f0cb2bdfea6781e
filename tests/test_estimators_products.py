"""Fit products: TS distribution on simulations, band fluxes, joint fits, SEDs, maps, plots."""
import astropy.units as u
import numpy as np
import pytest
from astropy.coordinates import SkyCoord
from astropy.time import Time
from gammapy.data import GTI
from gammapy.datasets import Datasets, MapDataset
from gammapy.maps import MapAxis, WcsGeom
from gammapy.modeling import Fit
from gammapy.modeling.models import (
    FoVBackgroundModel,
    Models,
    PointSpatialModel,
    PowerLawSpectralModel,
    SkyModel,
)

from gammapy_lat.estimators import (
    band_flux,
    fit_results_table,
    light_curve,
    npred_source,
    plot_energy_residuals,
    plot_maps,
    plot_spectrum,
    plot_ts_map,
    residual_maps,
    sed_points,
    source_ts,
    ts_map,
)

CENTER = SkyCoord(83.63, 22.01, unit="deg")


def make_dataset(name="sim", exposure=3e10, bkg_per_bin=0.5, tstart=0.0):
    """Small LAT-like dataset: 1-100 GeV, 0.1 deg pixels, flat exposure, flat background."""
    energy = MapAxis.from_energy_bounds("1 GeV", "100 GeV", nbin=4, name="energy")
    geom = WcsGeom.create(skydir=CENTER, binsz=0.1, width=1.5, frame="icrs", axes=[energy])
    ds = MapDataset.create(geom, energy_axis_true=energy.copy(name="energy_true"), name=name)
    assert ds.exposure.unit == u.Unit("m2 s")
    ds.exposure.data[...] = exposure * 1e-4  # cm2 s -> m2 s
    ds.background.data[...] = bkg_per_bin
    ds.mask_safe.data[...] = True
    ds.psf = None
    ds.edisp = None
    t0 = Time("2008-08-04T00:00:00", scale="tt")
    ds.gti = GTI.create([tstart] * u.s, [tstart + 86400] * u.s, reference_time=t0)
    return ds


def source_model(amplitude="1e-12 cm-2 s-1 MeV-1", name="src"):
    return SkyModel(
        spatial_model=PointSpatialModel(lon_0=CENTER.ra, lat_0=CENTER.dec, frame="icrs"),
        spectral_model=PowerLawSpectralModel(index=2.0, amplitude=amplitude, reference="3 GeV"),
        name=name,
    )


def fit_model(ds, start="1e-14 cm-2 s-1 MeV-1"):
    """Fit hypothesis: point source with free (non-negative) amplitude, known index/position."""
    src = source_model(amplitude=start)
    src.spectral_model.index.frozen = True
    src.spatial_model.freeze()
    src.spectral_model.amplitude.min = 0
    bkg = FoVBackgroundModel(dataset_name=ds.name)
    return Models([src, bkg])


def simulate_ts(true_amplitude, n, seed0):
    ts = []
    ds = make_dataset()
    for i in range(n):
        truth = [FoVBackgroundModel(dataset_name=ds.name)]
        if true_amplitude:
            truth.append(source_model(amplitude=true_amplitude))
        ds.models = Models(truth)
        ds.fake(random_state=seed0 + i)
        ds.models = fit_model(ds, start=true_amplitude or "1e-14 cm-2 s-1 MeV-1")
        Fit().optimize(ds)
        ts.append(source_ts(Datasets([ds]), ["src"])["src"])
    return np.array(ts)


def asimov_ts(true_amplitude):
    """TS on the Asimov data set (counts = expected counts): the non-centrality of the TS."""
    ds = make_dataset()
    ds.models = Models([source_model(amplitude=true_amplitude), FoVBackgroundModel(dataset_name=ds.name)])
    ds.counts = ds.npred()
    ds.models = fit_model(ds)
    Fit().optimize(ds)
    return source_ts(Datasets([ds]), ["src"])["src"]


def test_ts_absent_source():
    """No source: TS follows ½χ²₀ + ½χ²₁ (amplitude ≥ 0), mean 0.5."""
    ts = simulate_ts(None, n=20, seed0=100)
    assert np.all(ts > -1e-3)
    # mean 0.5, sd of the mean sqrt(1.25/20) = 0.25
    assert abs(ts.mean() - 0.5) < 1.0
    assert np.mean(ts < 1e-2) == pytest.approx(0.5, abs=0.25)
    assert np.max(ts) < 16


def test_ts_bright_source():
    """Bright source: TS ~ non-central χ²₁ with non-centrality = Asimov TS, mean λ + 1."""
    amp = "1e-13 cm-2 s-1 MeV-1"
    lam = asimov_ts(amp)
    assert lam > 50
    ts = simulate_ts(amp, n=12, seed0=300)
    sd_mean = np.sqrt(2 + 4 * lam) / np.sqrt(len(ts))
    assert abs(ts.mean() - (lam + 1)) < 4 * sd_mean
    assert ts.min() > 25


def test_band_flux_linear_propagation():
    """Power law: flux errors equal the analytic derivative propagation of the covariance."""
    pl = PowerLawSpectralModel(index=2.3, amplitude="2e-11 cm-2 s-1 MeV-1", reference="1 GeV")
    s_a, s_g, rho = 2e-12, 0.05, -0.4
    cov = np.zeros((3, 3))  # order: index, amplitude, reference
    cov[0, 0] = s_g**2
    cov[1, 1] = s_a**2
    cov[0, 1] = cov[1, 0] = rho * s_a * s_g
    pl.covariance = cov
    emin, emax, e0 = 100.0, 1e5, 1000.0
    res = band_flux(pl, emin * u.MeV, emax * u.MeV)
    g, a = 2.3, 2e-11

    def flux(a, g, k):  # integral of a (E/e0)^-g E^k over the band, MeV units
        p = k + 1 - g
        return a * e0**g * (emax**p - emin**p) / p

    for key, k, unit in (("flux", 0, 1.0), ("energy_flux", 1, u.MeV.to("erg"))):
        f = flux(a, g, k)
        p = k + 1 - g
        dfa = f / a
        dfg = f * np.log(e0) + a * e0**g * (
            -(emax**p * np.log(emax) - emin**p * np.log(emin)) / p + (emax**p - emin**p) / p**2
        )
        grad = np.array([dfg, dfa])
        err = np.sqrt(grad @ cov[:2, :2] @ grad)
        assert res[key].value == pytest.approx(f * unit, rel=1e-6)
        assert res[key + "_err"].value == pytest.approx(err * unit, rel=1e-4)


def test_joint_fit_two_components_and_table():
    """Two event-type-like components fitted jointly recover the injected spectrum."""
    truth = dict(amplitude=2e-13, index=2.2)
    datasets = Datasets()
    for name, expo, seed in (("FRONT", 2e10, 1), ("BACK", 3e10, 2)):
        ds = make_dataset(name=name, exposure=expo)
        ds.models = Models([source_model(amplitude=f"{truth['amplitude']} cm-2 s-1 MeV-1"), FoVBackgroundModel(dataset_name=name)])
        ds.models["src"].spectral_model.index.value = truth["index"]
        ds.fake(random_state=seed)
        datasets.append(ds)
    src = source_model(amplitude="1e-13 cm-2 s-1 MeV-1")
    src.spatial_model.freeze()
    datasets.models = Models([src] + [FoVBackgroundModel(dataset_name=d.name) for d in datasets])
    result = Fit().run(datasets)
    assert result.success
    pl = datasets.models["src"].spectral_model
    for key in ("amplitude", "index"):
        par = pl.parameters[key]
        assert abs(par.value - truth[key]) < 4 * par.error, key

    ts = source_ts(datasets)
    sources, params = fit_results_table(datasets, ts=ts, energy_band=("1 GeV", "100 GeV"))
    row = sources[sources["name"] == "src"][0]
    assert row["ts"] == ts["src"] > 25
    # Npred summed over both components equals the sum of the per-dataset model counts
    npred = sum(float(d.npred_signal(model_names=["src"]).data.sum()) for d in datasets)
    assert row["npred"] == pytest.approx(npred, rel=1e-10)
    assert npred_source(datasets, "src") == pytest.approx(npred, rel=1e-10)
    flux_true = PowerLawSpectralModel(
        index=truth["index"], amplitude=f"{truth['amplitude']} cm-2 s-1 MeV-1", reference="3 GeV"
    ).integral(1 * u.GeV, 100 * u.GeV).to_value("cm-2 s-1")
    assert abs(row["flux"] - flux_true) < 4 * row["flux_err"]
    idx = params[(params["source"] == "src") & (params["parameter"] == "Index")][0]
    assert idx["value"] == pytest.approx(-pl.index.value) and idx["free"]
    pref = params[(params["source"] == "src") & (params["parameter"] == "Prefactor")][0]
    assert pref["unit"] == "cm-2 s-1 MeV-1"
    assert sources.meta["-logL"] == pytest.approx(datasets.stat_sum() / 2)
    # models restored by source_ts
    assert datasets.models["src"].spectral_model.index.value == pl.index.value

    t0 = datasets[0].gti.time_ref
    lc = light_curve(datasets, "src", time_intervals=[(t0, t0 + 1 * u.day)], selection_optional=[])
    # one bin holding both components: its flux is the joint-fit flux
    assert lc.norm.data.ravel() == pytest.approx([1.0], abs=0.05)


@pytest.fixture(scope="module")
def crab_3fhl(gammapy_data):
    """Gammapy's Fermi-LAT 3FHL Crab dataset with the Crab as a power law pivoting at 50 GeV."""
    folder = gammapy_data / "fermi-3fhl-crab"
    datasets = Datasets.read(folder / "Fermi-LAT-3FHL_datasets.yaml", filename_models=folder / "Fermi-LAT-3FHL_models.yaml")
    crab = datasets.models["Crab Nebula"]
    old = crab.spectral_model
    crab.spectral_model = PowerLawSpectralModel(index=2.2, amplitude=old(50 * u.GeV), reference=50 * u.GeV)
    result = Fit().run(datasets)
    assert result.success
    return datasets


def test_crab_3fhl_against_catalog(crab_3fhl, gammapy_data):
    """Flux and index of the Crab on the 3FHL data agree with the 3FHL catalog values."""
    from gammapy.catalog import SourceCatalog3FHL

    cat = SourceCatalog3FHL(gammapy_data / "catalogs" / "fermi" / "gll_psch_v13.fit.gz")
    ref = cat["3FHL J0534.5+2201"].data
    crab = crab_3fhl.models["Crab Nebula"]
    flux = band_flux(crab, 10 * u.GeV, 1 * u.TeV)
    f_cat, df_cat = ref["Flux"].to_value("cm-2 s-1"), ref["Unc_Flux"].to_value("cm-2 s-1")
    f, df = flux["flux"].value, flux["flux_err"].value
    assert abs(f - f_cat) < 3 * np.hypot(df, df_cat)
    # same data, same likelihood: the errors agree within 30 %
    assert df == pytest.approx(df_cat, rel=0.3)
    index = crab.spectral_model.index
    assert abs(index.value - ref["PowerLaw_Index"]) < 3 * np.hypot(index.error, ref["Unc_PowerLaw_Index"])
    sources, params = fit_results_table(crab_3fhl, energy_band=("10 GeV", "1 TeV"))
    assert sources[0]["flux"] == pytest.approx(f)


def test_crab_3fhl_maps_sed_and_plots(crab_3fhl, tmp_path):
    ds = crab_3fhl[0]
    maps = residual_maps(ds, correlation_radius="0.3 deg")
    # summed model counts equal the dataset's npred within the mask
    assert maps["npred"].data.sum() == pytest.approx(float((ds.npred() * ds.mask).data.sum()), rel=1e-6)
    assert maps["residual"].data.sum() == pytest.approx(float(ds.residuals(method="diff").data[ds.mask.data].sum()), rel=1e-6, abs=1e-6)
    sig = maps["significance"].data
    assert np.nanmax(np.abs(sig)) < 6  # the fitted model leaves no strong residual

    # TS map with the Crab removed from the model: a bright source at the Crab position
    crab = crab_3fhl.models["Crab Nebula"]
    ds_null = ds.cutout(crab.spatial_model.position, width="3 deg", name="null")
    bkg = FoVBackgroundModel(dataset_name="null", spectral_model=crab_3fhl.models["Fermi-LAT-bkg"].spectral_model.copy())
    ds_null.models = Models([bkg])
    tsm = ts_map(ds_null, kernel_width="0.5 deg", sum_over_energy_groups=True)
    sqrt_ts = tsm["sqrt_ts"]
    peak = np.unravel_index(np.nanargmax(sqrt_ts.data), sqrt_ts.data.shape)
    coord = sqrt_ts.geom.pix_to_coord(peak[::-1])
    pos = SkyCoord(coord[0], coord[1], unit="deg", frame=sqrt_ts.geom.frame)
    assert pos.separation(crab.spatial_model.position).deg < 0.2
    assert np.nanmax(sqrt_ts.data) > 20

    edges = [10, 50, 200, 2000] * u.GeV
    fp = sed_points(crab_3fhl, "Crab Nebula", edges, selection_optional=[])
    norm = fp.norm.data.ravel()
    err = fp.norm_err.data.ravel()
    assert np.all(np.abs(norm[:2] - 1) < 3 * err[:2])

    out = [
        plot_maps(maps, tmp_path / "maps.png"),
        plot_spectrum(crab, tmp_path / "spec.png", flux_points=fp),
        plot_energy_residuals(ds, tmp_path / "eres.png"),
        plot_ts_map(tsm, tmp_path / "ts.png"),
    ]
    for path in out:
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(FileExistsError):
        plot_ts_map(tsm, tmp_path / "ts.png")
