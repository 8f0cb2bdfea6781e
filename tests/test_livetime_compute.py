"""Livetime cube computation: parity with gtltcube, direct brute-force checks, bad input."""
import healpy as hp
import numpy as np
import pytest
from astropy import units as u
from astropy.coordinates import SkyCoord
from astropy.table import Table

from gammapy_lat.errors import LATDataError, LivetimeCubeError
from gammapy_lat.livetime import LivetimeCube


# --------------------------------------------------------------------------- reference inputs
@pytest.fixture(scope="module")
def crab_inputs(crab_day):
    from gammapy_lat.data import read_events, read_spacecraft

    spacecraft = read_spacecraft(crab_day / "ft2.fits.gz")
    events = read_events(crab_day / "ft1.fits.gz")
    return spacecraft, events


def _vec(ra, dec):
    ra, dec = np.radians(ra), np.radians(dec)
    return np.stack([np.cos(dec) * np.cos(ra), np.cos(dec) * np.sin(ra), np.sin(dec)], -1)


def brute_force(table, gti_start, gti_stop, nside, nest, nbins, zmax, binning="sqrt", frame="icrs", phibins=0):
    """Direct evaluation of gtltcube's definition, row by row and pixel by pixel (vectorised over pixels).

    Independent of the code under test: GTI overlap by an explicit loop over GTIs, pixel centres
    from healpy, bin index from the Fermitools formula floor(n * sqrt(1 - cos)).
    """
    start = np.asarray(table["START"], float)
    stop = np.asarray(table["STOP"], float)
    live = np.asarray(table["LIVETIME"], float)
    npix = 12 * nside**2
    lon, lat = hp.pix2ang(nside, np.arange(npix), nest=nest, lonlat=True)
    if frame == "galactic":
        c = SkyCoord(lon, lat, unit="deg", frame="galactic").icrs
        lon, lat = c.ra.deg, c.dec.deg
    pix = _vec(lon, lat)
    scz = _vec(np.asarray(table["RA_SCZ"], float), np.asarray(table["DEC_SCZ"], float))
    zen = _vec(np.asarray(table["RA_ZENITH"], float), np.asarray(table["DEC_ZENITH"], float))
    out = np.zeros((npix, nbins))
    wout = np.zeros((npix, nbins))
    for i in range(len(start)):
        good = 0.0
        for g0, g1 in zip(gti_start, gti_stop):
            good += max(0.0, min(stop[i], g1) - max(start[i], g0))
        if good <= 0:
            continue
        dt = live[i] * good / (stop[i] - start[i])
        cost = pix @ scz[i]
        ok = cost > 0
        if zmax < 180:
            ok &= pix @ zen[i] > np.cos(np.radians(zmax))
        f = 1 - cost[ok]
        if binning == "sqrt":
            f = np.sqrt(f)
        b = np.minimum((f * nbins).astype(int), nbins - 1)
        np.add.at(out, (np.flatnonzero(ok), b), dt)
        np.add.at(wout, (np.flatnonzero(ok), b), dt * live[i] / (stop[i] - start[i]))
    return out, wout


def _assert_close_above(actual, desired, rtol, frac=0.01):
    actual = np.asarray(actual)
    desired = np.asarray(desired)
    mask = desired > frac * desired.max()
    assert mask.sum() > 100
    rel = np.abs(actual - desired)[mask] / desired[mask]
    assert rel.max() < rtol, f"max relative deviation {rel.max():.3g}"


# --------------------------------------------------------------------------- parity
def test_parity_with_gtltcube(crab_inputs, crab_day):
    """Same binning as the reference gtltcube product: NSIDE 16, NESTED, 20 bins, zmax 180."""
    spacecraft, events = crab_inputs
    ref = LivetimeCube.read(crab_day / "ltcube.fits.gz")
    cube = LivetimeCube.compute(spacecraft, events.gti, nside=16, nbins=20, zmax=180 * u.deg)
    assert cube.nest and cube.frame == "icrs"
    _assert_close_above(cube.livetime.value, ref.livetime.value, 1e-5)
    _assert_close_above(cube.weighted_livetime.value, ref.weighted_livetime.value, 1e-5)
    # the reference has zeros where we have zeros (cos theta <= 0 everywhere in the day)
    np.testing.assert_array_equal(cube.livetime.value == 0, ref.livetime.value == 0)


@pytest.mark.parametrize(("zmax", "binning", "nest", "frame"), [(60, "sqrt", True, "icrs"), (100, "linear", False, "galactic")])
def test_brute_force_direct(crab_inputs, zmax, binning, nest, frame):
    """Other zmax, linear binning, RING order and the Galactic frame against a direct computation.

    Contributions are accumulated in whole microseconds, so the tolerance is 0.5 µs per interval
    (~1e-3 s for the day); a single interval in a wrong bin would differ by ~10 s.
    """
    spacecraft, events = crab_inputs
    table = spacecraft.table
    nbins, nside = 12, 8
    expected, wexpected = brute_force(
        table, events.gti_start, events.gti_stop, nside, nest, nbins, zmax, binning=binning, frame=frame
    )
    cube = LivetimeCube.compute(
        spacecraft, events.gti, nside=nside, nbins=nbins, zmax=zmax, binning=binning, nest=nest, frame=frame
    )
    np.testing.assert_allclose(cube.livetime.value, expected, rtol=1e-9, atol=2e-3)
    np.testing.assert_allclose(cube.weighted_livetime.value, wexpected, rtol=1e-9, atol=2e-3)


def test_zmax_cut_removes_livetime(crab_inputs):
    spacecraft, events = crab_inputs
    full = LivetimeCube.compute(spacecraft, events.gti, nside=8, nbins=10, zmax=180)
    cut = LivetimeCube.compute(spacecraft, events.gti, nside=8, nbins=10, zmax=60)
    total_full = full.livetime.sum(axis=1).value
    total_cut = cut.livetime.sum(axis=1).value
    assert np.all(total_cut <= total_full + 1e-9)
    assert total_cut.sum() < 0.9 * total_full.sum()


def test_ring_vs_nested(crab_inputs):
    spacecraft, events = crab_inputs
    nested = LivetimeCube.compute(spacecraft, events.gti, nside=8, nbins=10, zmax=90, nest=True)
    ring = LivetimeCube.compute(spacecraft, events.gti, nside=8, nbins=10, zmax=90, nest=False)
    # NESTED pixel i is RING pixel nest2ring(i)
    np.testing.assert_allclose(nested.livetime.value, ring.livetime.value[hp.nest2ring(8, np.arange(768))], rtol=1e-12)


def test_galactic_lookup_matches_equatorial(crab_inputs):
    """At a Galactic-cube pixel centre, the livetime equals the direct computation for that direction."""
    spacecraft, events = crab_inputs
    gal = LivetimeCube.compute(spacecraft, events.gti, nside=8, nbins=10, zmax=180, frame="galactic")
    expected, _ = brute_force(spacecraft.table, events.gti_start, events.gti_stop, 8, True, 10, 180, frame="galactic")
    pos = gal.pixel_skycoord()[::17]
    live, _ = gal.get_livetime(pos.icrs)
    np.testing.assert_allclose(live.value, expected[::17], rtol=1e-9, atol=2e-3)


def test_phi_bins_against_direct(crab_inputs):
    spacecraft, events = crab_inputs
    table = spacecraft.table
    nside, nbins, nphi = 4, 8, 3
    cube = LivetimeCube.compute(spacecraft, events.gti, nside=nside, nbins=nbins, zmax=90, phibins=nphi)
    plain = LivetimeCube.compute(spacecraft, events.gti, nside=nside, nbins=nbins, zmax=90)
    np.testing.assert_allclose(cube.livetime.value, plain.livetime.value, rtol=1e-9, atol=2e-3)
    # phi bins partition the phi-integrated livetime
    np.testing.assert_allclose(cube.livetime_phi.value.sum(axis=1), cube.livetime.value, rtol=1e-9, atol=2e-3)
    # one pixel, direct: azimuth of the pixel around SCZ from SCX, folded into [0, 45] deg
    ipix = 100
    p = np.array(hp.pix2vec(nside, ipix, nest=True))
    scz = _vec(np.asarray(table["RA_SCZ"]), np.asarray(table["DEC_SCZ"]))
    scx = _vec(np.asarray(table["RA_SCX"]), np.asarray(table["DEC_SCX"]))
    zen = _vec(np.asarray(table["RA_ZENITH"]), np.asarray(table["DEC_ZENITH"]))
    scy = np.cross(scz, scx)
    phi = np.degrees(np.arctan2(scy @ p, scx @ p)) % 360
    folded = 45 - np.abs(45 - phi % 90)
    cost = scz @ p
    start, stop = np.asarray(table["START"]), np.asarray(table["STOP"])
    good = np.zeros(len(start))
    for g0, g1 in zip(events.gti_start, events.gti_stop):
        good += np.clip(np.minimum(stop, g1) - np.maximum(start, g0), 0, None)
    dt = np.asarray(table["LIVETIME"]) * good / (stop - start)
    ok = (cost > 0) & (zen @ p > 0) & (dt > 0)
    expected = np.zeros((nphi, nbins))
    cbin = np.minimum((np.sqrt(1 - cost[ok]) * nbins).astype(int), nbins - 1)
    pbin = np.minimum((folded[ok] / 45 * nphi).astype(int), nphi - 1)
    np.add.at(expected, (pbin, cbin), dt[ok])
    np.testing.assert_allclose(cube.livetime_phi.value[ipix], expected, rtol=1e-9, atol=2e-3)


# --------------------------------------------------------------------------- synthetic spacecraft tables
def _table(start, stop, live, ra_scz=0.0, dec_scz=0.0, ra_zen=0.0, dec_zen=0.0):
    n = len(start)
    full = lambda v: np.full(n, v, dtype=float) if np.ndim(v) == 0 else np.asarray(v, float)  # noqa: E731
    return Table(
        {
            "START": np.asarray(start, float),
            "STOP": np.asarray(stop, float),
            "LIVETIME": full(live),
            "RA_SCZ": full(ra_scz),
            "DEC_SCZ": full(dec_scz),
            "RA_ZENITH": full(ra_zen),
            "DEC_ZENITH": full(dec_zen),
        }
    )


def test_gti_edges_split_intervals():
    """A GTI boundary inside an FT2 interval takes the covered fraction of its livetime."""
    table = _table([0, 30, 60], [30, 60, 90], [24.0, 27.0, 30.0], dec_scz=90, dec_zen=90)
    gti = (np.array([10.0, 50.0]), np.array([20.0, 75.0]))
    cube = LivetimeCube.compute(table, gti, nside=4, nbins=5, zmax=180)
    # pixels within the first bin around the north pole (SCZ) get all the accepted livetime
    expected = 24 * 10 / 30 + 27 * 10 / 30 + 30 * 15 / 30
    wexpected = 24 * 10 / 30 * 24 / 30 + 27 * 10 / 30 * 27 / 30 + 30 * 15 / 30 * 30 / 30
    north = hp.ang2pix(4, 0, 89, lonlat=True, nest=True)
    np.testing.assert_allclose(cube.livetime.value[north].sum(), expected, rtol=1e-12)
    np.testing.assert_allclose(cube.weighted_livetime.value[north].sum(), wexpected, rtol=1e-12)
    # southern hemisphere: cos(theta) <= 0 gets nothing
    south = hp.ang2pix(4, 0, -30, lonlat=True, nest=True)
    assert cube.livetime.value[south].sum() == 0


def test_empty_gti_gives_empty_cube():
    table = _table([0, 30], [30, 60], 25.0)
    cube = LivetimeCube.compute(table, (np.zeros(0), np.zeros(0)), nside=4, nbins=5)
    assert cube.livetime.shape == (192, 5)
    assert np.all(cube.livetime.value == 0) and np.all(cube.weighted_livetime.value == 0)


def test_sum_of_halves_equals_whole(crab_inputs):
    spacecraft, events = crab_inputs
    g0, g1 = events.gti_start, events.gti_stop
    # split inside a GTI and inside an FT2 interval
    tsplit = 0.5 * (g0[5] + g1[5]) + 7.3
    first = (np.append(g0[g0 < tsplit], [])[: np.sum(g0 < tsplit)], np.minimum(g1[g0 < tsplit], tsplit))
    second = (np.maximum(g0[g1 > tsplit], tsplit), g1[g1 > tsplit])
    kw = dict(nside=8, nbins=10, zmax=90)
    whole = LivetimeCube.compute(spacecraft, events.gti, **kw)
    half1 = LivetimeCube.compute(spacecraft, first, **kw)
    half2 = LivetimeCube.compute(spacecraft, second, **kw)
    total = half1 + half2
    np.testing.assert_allclose(total.livetime.value, whole.livetime.value, rtol=1e-10, atol=2e-6)
    np.testing.assert_allclose(total.weighted_livetime.value, whole.weighted_livetime.value, rtol=1e-10, atol=2e-6)
    stacked = LivetimeCube.stack([half1, half2])
    np.testing.assert_array_equal(stacked.livetime.value, total.livetime.value)
    assert len(total.gti.table) == len(g0) + 1
    with pytest.raises(LivetimeCubeError, match="overlap"):
        half1 + half1


def test_parallel_identical_to_serial(crab_inputs):
    spacecraft, events = crab_inputs
    kw = dict(nside=8, nbins=10, zmax=90, n_chunks=3)
    serial = LivetimeCube.compute(spacecraft, events.gti, n_jobs=1, **kw)
    parallel = LivetimeCube.compute(spacecraft, events.gti, n_jobs=2, parallel_backend="multiprocessing", **kw)
    np.testing.assert_array_equal(serial.livetime.value, parallel.livetime.value)
    np.testing.assert_array_equal(serial.weighted_livetime.value, parallel.weighted_livetime.value)
    single = LivetimeCube.compute(spacecraft, events.gti, nside=8, nbins=10, zmax=90, n_chunks=1)
    np.testing.assert_allclose(serial.livetime.value, single.livetime.value, rtol=1e-12, atol=1e-9)


def test_kernel_threads_identical(crab_inputs):
    """The rings shared out between 1 or 3 threads give the same integers; in seconds they match
    the direct evaluation."""
    from gammapy_lat.livetime import costheta_edges
    from gammapy_lat.livetime.compute import accumulate_livetime

    spacecraft, events = crab_inputs
    t = spacecraft.table[:400]
    live = np.asarray(t["LIVETIME"], float)
    args = (8, costheta_edges(10), t["RA_SCZ"], t["DEC_SCZ"], [live, 0.5 * live], t["RA_ZENITH"], t["DEC_ZENITH"])
    ring_index, one = accumulate_livetime(*args, zmax=100.0, in_quanta=True, threads=1)
    _, three = accumulate_livetime(*args, zmax=100.0, in_quanta=True, threads=3)
    for a, b in zip(one, three):
        assert a.dtype == np.int64
        np.testing.assert_array_equal(a, b)
    gti = (np.asarray(t["START"], float)[:1], np.asarray(t["STOP"], float)[-1:])
    expected, _ = brute_force(t, gti[0], gti[1], nside=8, nest=False, nbins=10, zmax=100.0)
    np.testing.assert_allclose(one[0] * 1e-6, expected[ring_index], rtol=0, atol=1e-5)


def test_roi_local_matches_allsky(crab_inputs, tmp_path):
    spacecraft, events = crab_inputs
    kw = dict(nside=16, nbins=10, zmax=90)
    full = LivetimeCube.compute(spacecraft, events.gti, **kw)
    roi = LivetimeCube.compute(spacecraft, events.gti, roi=(83.63, 22.01, 12.0), **kw)
    assert not roi.is_allsky and len(roi.pixels) < full.npix / 10
    np.testing.assert_allclose(roi.livetime.value, full.livetime.value[roi.pixels], rtol=1e-12, atol=1e-9)
    pos = SkyCoord([83.63, 90.0], [22.01, 15.0], unit="deg")
    for interp in ("nearest", "bilinear"):
        a, wa = roi.get_livetime(pos, interp=interp)
        b, wb = full.get_livetime(pos, interp=interp)
        np.testing.assert_allclose(a.value, b.value, rtol=1e-12)
    with pytest.raises(LivetimeCubeError, match="outside"):
        roi.get_livetime(SkyCoord(0, 0, unit="deg"))
    # round trip keeps the region
    roi.write(tmp_path / "roi.fits")
    back = LivetimeCube.read(tmp_path / "roi.fits")
    np.testing.assert_array_equal(back.pixels, roi.pixels)
    np.testing.assert_allclose(back.livetime.value, roi.livetime.value, rtol=1e-6)


def test_roundtrip_computed_cube(crab_inputs, tmp_path):
    spacecraft, events = crab_inputs
    cube = LivetimeCube.compute(spacecraft, events.gti, nside=8, nbins=10, zmax=95, binning="linear", nest=False,
                                frame="galactic", phibins=2)
    cube.write(tmp_path / "lt.fits")
    back = LivetimeCube.read(tmp_path / "lt.fits")
    assert (back.nside, back.nest, back.frame, back.binning, back.nphibins) == (8, False, "galactic", "linear", 2)
    assert back.zmax == 95 * u.deg
    np.testing.assert_allclose(back.livetime.value, cube.livetime.value, rtol=1e-6)
    np.testing.assert_allclose(back.weighted_livetime_phi.value, cube.weighted_livetime_phi.value, rtol=1e-6)
    np.testing.assert_allclose(back.costheta_edges, cube.costheta_edges, rtol=0, atol=1e-15)


# --------------------------------------------------------------------------- bad input
def test_error_ft2_not_covering_gti():
    table = _table([0, 30], [30, 60], 25.0)
    with pytest.raises(LATDataError, match="do not cover"):
        LivetimeCube.compute(table, (np.array([10.0]), np.array([100.0])), nside=4, nbins=5)
    # a gap inside the spacecraft data within a GTI
    table = _table([0, 40], [30, 60], 25.0)
    with pytest.raises(LATDataError, match="do not cover"):
        LivetimeCube.compute(table, (np.array([10.0]), np.array([50.0])), nside=4, nbins=5)


def test_error_unsorted_or_overlapping_rows():
    with pytest.raises(LATDataError, match="not sorted"):
        LivetimeCube.compute(_table([30, 0], [60, 30], 25.0), (np.array([0.0]), np.array([60.0])), nside=4, nbins=5)
    with pytest.raises(LATDataError, match="overlap"):
        LivetimeCube.compute(_table([0, 20], [30, 50], 25.0), (np.array([0.0]), np.array([50.0])), nside=4, nbins=5)


def test_error_nan_direction():
    table = _table([0, 30], [30, 60], 25.0, dec_scz=[10.0, np.nan])
    with pytest.raises(LATDataError, match="DEC_SCZ.*row 1"):
        LivetimeCube.compute(table, (np.array([0.0]), np.array([60.0])), nside=4, nbins=5)
    # outside the GTIs a NaN row is harmless
    cube = LivetimeCube.compute(table, (np.array([0.0]), np.array([30.0])), nside=4, nbins=5)
    assert cube.livetime.value.sum() > 0


def test_error_missing_column():
    table = _table([0], [30], 25.0)
    table.remove_column("RA_ZENITH")
    with pytest.raises(LATDataError, match="RA_ZENITH"):
        LivetimeCube.compute(table, (np.array([0.0]), np.array([30.0])), nside=4, nbins=5)


def test_error_adding_incompatible_cubes():
    table = _table([0, 30], [30, 60], 25.0)
    a = LivetimeCube.compute(table, (np.array([0.0]), np.array([30.0])), nside=4, nbins=5)
    gti_b = (np.array([30.0]), np.array([60.0]))
    for kwargs, what in (
        (dict(nside=4, nbins=6), "nbins"),
        (dict(nside=8, nbins=5), "nside"),
        (dict(nside=4, nbins=5, binning="linear"), "binning"),
        (dict(nside=4, nbins=5, zmax=90), "zmax"),
        (dict(nside=4, nbins=5, nest=False), "nest"),
        (dict(nside=4, nbins=5, frame="galactic"), "frame"),
    ):
        b = LivetimeCube.compute(table, gti_b, **kwargs)
        with pytest.raises(LivetimeCubeError, match=what):
            a + b
    ok = a + LivetimeCube.compute(table, gti_b, nside=4, nbins=5)
    assert ok.livetime.value.sum() == pytest.approx(2 * a.livetime.value.sum())


@pytest.mark.parametrize(("roi", "zmax"), [((0.5, -10.0, 15.0), 90), ((30.0, 80.0, 20.0), 180), ((200.0, -60.0, 30.0), 70)])
def test_roi_local_wrap_and_poles(crab_inputs, roi, zmax):
    """ROI windows across RA = 0, around a pole and in the south give the all-sky values."""
    spacecraft, events = crab_inputs
    kw = dict(nside=16, nbins=12, zmax=zmax, nest=False)
    full = LivetimeCube.compute(spacecraft, events.gti, **kw)
    local = LivetimeCube.compute(spacecraft, events.gti, roi=roi, **kw)
    np.testing.assert_array_equal(local.livetime.value, full.livetime.value[local.pixels])
    np.testing.assert_array_equal(local.weighted_livetime.value, full.weighted_livetime.value[local.pixels])


@pytest.mark.slow
def test_parallel_ray_identical_to_serial(crab_inputs):
    pytest.importorskip("ray")
    spacecraft, events = crab_inputs
    kw = dict(nside=8, nbins=10, zmax=90, n_chunks=3)
    serial = LivetimeCube.compute(spacecraft, events.gti, n_jobs=1, **kw)
    ray = LivetimeCube.compute(spacecraft, events.gti, n_jobs=2, parallel_backend="ray", **kw)
    np.testing.assert_array_equal(serial.livetime.value, ray.livetime.value)
    np.testing.assert_array_equal(serial.weighted_livetime.value, ray.weighted_livetime.value)


def test_error_bad_gti():
    table = _table([0, 30], [30, 60], 25.0)
    with pytest.raises(LATDataError, match="non-finite"):
        LivetimeCube.compute(table, (np.array([0.0, np.nan]), np.array([10.0, 20.0])), nside=4, nbins=5)
    with pytest.raises(LATDataError, match="START=.*> STOP"):
        LivetimeCube.compute(table, (np.array([20.0]), np.array([10.0])), nside=4, nbins=5)


# --------------------------------------------------------------------------- compiled kernel pieces
def test_fast_arccos_within_tolerance():
    """The polynomial arccos of the kernel stays within its stated tolerance of numpy's arccos."""
    from gammapy_lat.livetime.compute import ACOS_TOLERANCE, _fast_arccos

    t = np.concatenate([np.linspace(-1, 1, 20001), [-1.0, -1 + 1e-15, -1e-300, 0.0, 1e-300, 1 - 1e-15, 1.0]])
    err = np.abs([_fast_arccos(v) - np.arccos(v) for v in t])
    assert err.max() < ACOS_TOLERANCE


def test_arc_ends_exact_near_pixel_centres():
    """Arc ends within the polynomial's error of a pixel centre are decided exactly.

    Reference: the pixels ``j`` with ``cos((j - u) Δφ) > t`` found by evaluating the cosine of every
    pixel, with ``t`` chosen so that an arc end falls 1e-9 to 1e-6 pixels from a pixel centre.
    """
    from gammapy_lat.livetime.compute import ACOS_TOLERANCE, _arc, _fast_arccos

    n = 256
    dphi = 2 * np.pi / n
    rng = np.random.default_rng(1)
    polynomial_wrong = 0
    for _ in range(300):
        u = rng.uniform(0, n)
        # the lower arc end u - half lies just beside the centre of pixel floor(u) - m
        m = rng.integers(1, n // 2 - 2)
        half = u - (np.floor(u) - m) - rng.choice([-1, 1]) * 10 ** rng.uniform(-9, -6)
        t = np.cos(half * dphi)
        j = np.arange(np.floor(u - n / 2), np.ceil(u + n / 2))
        inside = j[np.cos((j - u) * dphi) > t]
        lo, count = _arc(u, t, 1 / dphi, ACOS_TOLERANCE / dphi, float(n))
        assert (lo, count) == (inside[0], len(inside))
        h = _fast_arccos(t) / dphi
        polynomial_wrong += (np.floor(u - h) + 1, np.ceil(u + h) - np.floor(u - h) - 1) != (lo, count)
    # these cases do need the exact arccos
    assert polynomial_wrong > 0


def test_window_range_against_sampling():
    """Extreme ``x + y cos(φ - φ_w)`` over an azimuth window, against dense sampling of the window."""
    from gammapy_lat.livetime.compute import _window_range

    rng = np.random.default_rng(2)
    for _ in range(500):
        x, y = rng.uniform(-0.5, 0.5), rng.uniform(0, 1)
        phi, centre = rng.uniform(-np.pi, np.pi, 2)
        half = rng.choice([rng.uniform(0, np.pi), np.pi])
        vmax, vmin = _window_range(x, y, np.cos(phi), np.sin(phi), np.cos(centre), np.sin(centre),
                                   np.cos(half), np.sin(half))
        sampled = x + y * np.cos(centre + np.linspace(-half, half, 20001) - phi)
        assert sampled.max() - 1e-12 <= vmax <= sampled.max() + 1e-7
        assert sampled.min() - 1e-7 <= vmin <= sampled.min() + 1e-12


def test_weights_in_pairs():
    """One, two or three weight arrays give the same integers per weight."""
    from gammapy_lat.livetime import costheta_edges
    from gammapy_lat.livetime.compute import accumulate_livetime

    table = _table(np.arange(0, 600, 30), np.arange(30, 630, 30), 27.0, ra_scz=np.linspace(10, 80, 20),
                   dec_scz=np.linspace(-20, 30, 20), ra_zen=np.linspace(40, 90, 20), dec_zen=5.0)
    live = np.asarray(table["LIVETIME"], float)
    args = (8, costheta_edges(10), table["RA_SCZ"], table["DEC_SCZ"])
    kw = dict(zenith_ra=table["RA_ZENITH"], zenith_dec=table["DEC_ZENITH"], zmax=80.0, in_quanta=True)
    _, one = accumulate_livetime(*args, [live], **kw)
    _, three = accumulate_livetime(*args, [live, 0.5 * live, 0.25 * live], **kw)
    assert len(one) == 1 and len(three) == 3
    np.testing.assert_array_equal(one[0], three[0])
    assert one[0].sum() > 0
    # every row has the same livetime (27 s, whole microseconds): the halved and quartered weights
    # give exactly half and a quarter of the integers
    np.testing.assert_array_equal(2 * three[1], three[0])
    np.testing.assert_array_equal(4 * three[2], three[0])


def test_roi_nside64_against_direct():
    """ROI mode at the benchmark binning (NSIDE 64, 40 bins, zmax 90) on a simulated survey day,
    against the direct evaluation at the pixel centres of the region."""
    from gammapy_lat.simulate import simulate_spacecraft

    table = simulate_spacecraft(239557417.0, 239557417.0 + 21600.0)
    live = np.asarray(table["LIVETIME"], float)
    gti = (np.asarray(table["START"], float)[live > 0], np.asarray(table["STOP"], float)[live > 0])
    roi = (83.63, 22.01, 25.0)
    cube = LivetimeCube.compute(table, gti, nside=64, nbins=40, zmax=90, roi=roi)
    expected, wexpected = brute_force(table, *gti, nside=64, nest=True, nbins=40, zmax=90)
    assert len(cube.pixels) > 2000
    np.testing.assert_allclose(cube.livetime.value, expected[cube.pixels], rtol=1e-9, atol=2e-3)
    np.testing.assert_allclose(cube.weighted_livetime.value, wexpected[cube.pixels], rtol=1e-9, atol=2e-3)
    # the comparison is not vacuous: most pixels of the region saw the sky in these 6 hours
    assert np.mean(expected[cube.pixels].sum(axis=1) > 0) > 0.5
