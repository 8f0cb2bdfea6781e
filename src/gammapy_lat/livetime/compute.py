"""Computation of livetime cubes from the spacecraft history, with gtltcube semantics.

Semantics (those of the Fermitools' ``gtltcube``)
--------------------------------------------------
For each spacecraft (FT2) interval ``[START, STOP)`` with livetime ``LIVETIME``:

- the interval contributes ``LIVETIME * f`` where ``f`` is the fraction of the interval inside the
  good time intervals; the weighted cube receives ``LIVETIME * f * LIVETIME / (STOP - START)``;
- every HEALPix pixel centre ``p`` with ``cos θ = p · SCZ > cosmin`` (0) receives it in the bin
  ``floor(nbins * sqrt(1 - cos θ))`` (``floor(nbins * (1 - cos θ) / (1 - cosmin))`` for linear
  binning), clipped to the last bin;
- with ``zmax < 180°``, only pixels with ``p · ZENITH > cos(zmax)`` receive it.

Algorithm
---------
Brute force costs (intervals × pixels). Here the sky is handled ring by ring of the HEALPix RING
scheme: on a ring of colatitude ϑ the pixel centres sit at equally spaced azimuths, and for one
interval the pixels with ``cos θ > c_k`` (``c_k`` a bin edge) form a single arc centred on the
azimuth of SCZ, of half-width ``arccos((c_k - cos ϑ cos ϑ_z) / (sin ϑ sin ϑ_z))``; the zenith cut
is one more arc. The arc ends are turned into pixel indices exactly (the pixel-centre result) and
accumulated in a difference array per edge; one cumulative sum per ring gives, for every pixel,
the livetime with ``cos θ > c_k``, and the bins are the differences between consecutive edges.
The work per interval is (rings in reach) × (edges crossing the ring), in a kernel compiled with
numba; the rings are shared out between threads, and each thread handles one ring at a time with
difference arrays of that ring's size.

Cost per arc: the arccos is a polynomial (error < 2e-8 rad), and the exact arccos decides only
when an arc end falls within that error of a pixel centre, so the result is the exact one. Rings
entirely above the zenith cut skip its arc. In region-of-interest mode each ring only needs an
azimuth window: the extreme ``cos θ`` over the window (found algebraically, without a cosine)
restrict the edges to those whose arc ends fall inside it, and the zenith cut is applied only
where it crosses the window.
"""
import logging
from concurrent.futures import ThreadPoolExecutor

import healpy as hp
import numpy as np
from astropy import units as u
from astropy.coordinates import SkyCoord
from gammapy.data import GTI
from gammapy.utils import parallel
from numba import config as numba_config
from numba import njit

from ..data.gti import header_float, merge_intervals, time_ref_from_header
from ..errors import LATDataError, LivetimeCubeError
from ..utils.resources import check_memory, livetime_cube_bytes
from .binning import costheta_edges

__all__ = [
    "roi_pixels",
    "gti_fractions",
    "validate_spacecraft_arrays",
    "livetime_weights",
    "accumulate_livetime",
    "accumulate_livetime_phi",
    "livetime_cube_arrays",
    "check_nside",
    "check_livetime_request",
]

log = logging.getLogger(__name__)

#: Time resolution of the accumulation (s): contributions are integer multiples of it, summed exactly.
QUANTUM = 1e-6


def roi_pixels(nside, nest, frame, lon, lat, radius):
    """HEALPix pixels of a region of interest, with a margin for bilinear look-up.

    The region keeps every pixel whose centre lies within ``radius`` plus twice the largest
    centre-to-corner distance of the scheme, so that the four pixels used by bilinear
    interpolation at any position inside ``radius`` are present.

    Parameters
    ----------
    nside : int
        HEALPix NSIDE.
    nest : bool
        NESTED ordering.
    frame : str
        Frame of ``lon``/``lat`` (that of the cube).
    lon, lat, radius : float
        Centre and radius in deg.

    Returns
    -------
    pixels : `~numpy.ndarray`
        Sorted pixel indices.
    """

    vec = hp.ang2vec(lon, lat, lonlat=True)
    margin = 2 * hp.max_pixrad(nside)
    pixels = hp.query_disc(nside, vec, min(np.radians(radius) + margin, np.pi), inclusive=False, nest=nest)
    return np.sort(pixels.astype(np.int64))


def _plain(value):
    """Python scalar of a numpy scalar (messages show ``33``, not ``np.int64(33)``)."""
    return value.item() if isinstance(value, np.generic) else value


#: Largest NSIDE healpy handles (order 29).
MAX_NSIDE = 2**29


def check_nside(nside, what="nside"):
    """``nside`` as an int, checked to be a power of 2 in [1, 2**29] before any healpy call.

    Raises
    ------
    LivetimeCubeError
        Naming ``what`` and the value.
    """
    try:
        value = int(nside)
    except (TypeError, ValueError):
        raise LivetimeCubeError(f"{what} must be an integer power of 2, got {_plain(nside)!r}") from None
    if value != nside or not 1 <= value <= MAX_NSIDE or value & (value - 1):
        raise LivetimeCubeError(f"{what} must be a power of 2 between 1 and {MAX_NSIDE}, got {_plain(nside)!r}")
    return value


def check_livetime_request(nside, nbins, phibins=0, roi=None, n_chunks=1, copies=None):
    """Validate the binning of a livetime cube and refuse one that would not fit in memory.

    Runs in microseconds, before any spacecraft data are read or arrays allocated.

    Parameters
    ----------
    nside, nbins, phibins : int
        HEALPix NSIDE, number of cos θ bins and of φ bins.
    roi : tuple, optional
        ``(lon, lat, radius)`` in deg.
    n_chunks : int
        Number of partial cubes held at once (time chunks, parallel jobs).
    copies : int, optional
        Number of (livetime, weighted livetime) array pairs held at once; default
        ``n_chunks + 3`` (the partial cubes, their sum and the reordered result).

    Raises
    ------
    LivetimeCubeError
        Invalid NSIDE, bins or region.
    ResourceLimitError
        The estimated memory exceeds the limit (`gammapy_lat.utils.resources`).
    """

    nside = check_nside(nside)
    if not int(nbins) >= 1:
        raise LivetimeCubeError(f"The number of cos(theta) bins must be >= 1, got {nbins}")
    if not int(phibins) >= 0:
        raise LivetimeCubeError(f"phibins must be >= 0, got {phibins}")
    npix = 12.0 * nside**2
    what = f"A livetime cube of NSIDE {nside} with {int(nbins)} cos(theta) bins"
    if phibins:
        what += f" and {int(phibins)} phi bins"
    if roi is not None:
        try:
            lon, lat, radius = (float(v) for v in roi)
        except (TypeError, ValueError):
            raise LivetimeCubeError(f"roi must be (lon, lat, radius) in deg, got {roi!r}") from None
        if not np.isfinite(lon):
            raise LivetimeCubeError(f"roi: longitude {lon:g} deg is not finite")
        if not -90 <= lat <= 90:
            raise LivetimeCubeError(f"roi: latitude {lat:g} deg is outside [-90, 90]")
        if not 0 < radius <= 180:
            raise LivetimeCubeError(f"roi: radius {radius:g} deg must be in (0, 180]")
        # pixels within radius plus the margin of roi_pixels (twice the largest pixel radius)
        margin = 2 * 1.4 * np.sqrt(np.pi / 3) / nside
        npix *= (1 - np.cos(min(np.radians(radius) + margin, np.pi))) / 2
        what += f" in a {radius:g} deg region"
    copies = int(n_chunks) + 3 if copies is None else int(copies)
    nbytes = livetime_cube_bytes(npix, int(nbins), int(phibins), copies=copies)
    check_memory(nbytes, what, advice="use a smaller NSIDE or a region of interest")
    return nside


# ----------------------------------------------------------------------------- time weighting
def gti_fractions(start, stop, gti_start, gti_stop):
    """Fraction of each interval ``[start, stop)`` inside the union of the GTIs.

    Parameters
    ----------
    start, stop : `~numpy.ndarray`
        Interval bounds (MET s).
    gti_start, gti_stop : `~numpy.ndarray`
        Good time intervals (MET s), any order, may overlap.

    Returns
    -------
    fraction : `~numpy.ndarray`
        Between 0 and 1; 0 for empty intervals.
    """
    start = np.asarray(start, float)
    stop = np.asarray(stop, float)
    g0, g1 = merge_intervals(gti_start, gti_stop)
    if len(g0) == 0:
        return np.zeros(len(start))
    # cumulative good time before the end of each GTI; covered(t) = good time in (-inf, t]
    cum_end = np.cumsum(g1 - g0)
    cum_start = cum_end - (g1 - g0)

    def covered(t):
        i = np.searchsorted(g0, t, side="right") - 1
        inside = np.clip(t - g0[np.maximum(i, 0)], 0, (g1 - g0)[np.maximum(i, 0)])
        return np.where(i >= 0, cum_start[np.maximum(i, 0)] + inside, 0.0)

    length = stop - start
    good = covered(stop) - covered(start)
    with np.errstate(invalid="ignore", divide="ignore"):
        fraction = np.where(length > 0, good / np.where(length > 0, length, 1), 0.0)
    return np.clip(fraction, 0.0, 1.0)


def validate_spacecraft_arrays(start, stop, gti_start, gti_stop, filename="spacecraft data", tol=1e-6):
    """Check that spacecraft intervals are sorted, disjoint and cover the GTIs.

    Raises
    ------
    LATDataError
        Naming the column and the offending row.
    """
    start = np.asarray(start, float)
    stop = np.asarray(stop, float)
    if len(start) == 0:
        raise LATDataError(f"{filename}: the spacecraft table has no rows")
    bad = np.flatnonzero(~np.isfinite(start) | ~np.isfinite(stop))
    if len(bad):
        raise LATDataError(f"{filename}: non-finite START/STOP in row {bad[0]}")
    bad = np.flatnonzero(stop < start)
    if len(bad):
        i = bad[0]
        raise LATDataError(f"{filename}: row {i} has START={float(start[i])!r} > STOP={float(stop[i])!r}")
    bad = np.flatnonzero(np.diff(start) < 0)
    if len(bad):
        i = bad[0]
        raise LATDataError(
            f"{filename}: rows are not sorted by START (row {i + 1} START={float(start[i + 1])!r} < row {i} "
            f"START={float(start[i])!r})"
        )
    bad = np.flatnonzero(start[1:] < stop[:-1] - tol)
    if len(bad):
        i = bad[0]
        raise LATDataError(
            f"{filename}: rows {i} and {i + 1} overlap (STOP={float(stop[i])!r} > next START={float(start[i + 1])!r})"
        )
    gti_start = np.asarray(gti_start, float)
    gti_stop = np.asarray(gti_stop, float)
    bad = np.flatnonzero(~np.isfinite(gti_start) | ~np.isfinite(gti_stop))
    if len(bad):
        raise LATDataError(f"good time intervals: non-finite START/STOP in GTI {bad[0]}")
    bad = np.flatnonzero(gti_stop < gti_start)
    if len(bad):
        i = bad[0]
        raise LATDataError(f"good time intervals: GTI {i} has START={float(gti_start[i])!r} > STOP={float(gti_stop[i])!r}")
    g0, g1 = merge_intervals(gti_start, gti_stop)
    if len(g0) == 0:
        return
    # good time not covered by any spacecraft interval; tiny gaps between rows (rounding of the
    # row boundaries) are tolerated up to max(1 s, 1e-4 of the good time) in total
    covered = gti_fractions(g0, g1, start, stop) * (g1 - g0)
    missing = (g1 - g0) - covered
    total_missing = float(missing.sum())
    bad = np.flatnonzero(missing > tol)
    if len(bad) and total_missing > max(1.0, 1e-4 * float(np.sum(g1 - g0))):
        i = bad[0]
        raise LATDataError(
            f"{filename}: the spacecraft intervals do not cover the good time intervals: "
            f"{total_missing:.6g} s of GTI time in {len(bad)} GTI(s) has no spacecraft data, first GTI "
            f"[{float(g0[i])!r}, {float(g1[i])!r}] (spacecraft data span [{float(start[0])!r}, {float(stop[-1])!r}])"
        )
    if len(bad):
        log.warning(f"{filename}: {total_missing:.3g} s of GTI time falls in gaps between spacecraft rows")


def livetime_weights(start, stop, livetime, gti_start, gti_stop):
    """Livetime and weighted livetime contributed by each spacecraft interval (gtltcube).

    Returns
    -------
    weight, weight_weighted : `~numpy.ndarray`
        ``LIVETIME * f`` and ``LIVETIME * f * LIVETIME / (STOP - START)``, with ``f`` the fraction
        of the interval inside the GTIs.
    """
    start = np.asarray(start, float)
    stop = np.asarray(stop, float)
    livetime = np.asarray(livetime, float)
    fraction = gti_fractions(start, stop, gti_start, gti_stop)
    length = stop - start
    weight = livetime * fraction
    with np.errstate(invalid="ignore", divide="ignore"):
        efficiency = np.where(length > 0, livetime / np.where(length > 0, length, 1), 0.0)
    return weight, weight * efficiency


# ----------------------------------------------------------------------------- geometry
def _unit_vectors(lon, lat):
    lon = np.radians(np.asarray(lon, float))
    lat = np.radians(np.asarray(lat, float))
    cl = np.cos(lat)
    return np.stack([cl * np.cos(lon), cl * np.sin(lon), np.sin(lat)], axis=-1)


def _polar_rows(lon, lat):
    """Per direction (deg): ``cos ϑ, sin ϑ, φ, cos φ, sin φ`` (colatitude ϑ, azimuth φ in rad)."""
    lat = np.radians(np.asarray(lat, float))
    phi = np.radians(np.asarray(lon, float))
    rows = np.empty((len(phi), 5))
    np.sin(lat, out=rows[:, 0])
    np.cos(lat, out=rows[:, 1])
    rows[:, 2] = phi
    np.cos(phi, out=rows[:, 3])
    np.sin(phi, out=rows[:, 4])
    return rows


class _RingGeometry:
    """Rings of the HEALPix RING scheme: colatitude, number of pixels, azimuth of pixel 0."""

    def __init__(self, nside, rings=None):
        self.nside = nside
        ring_numbers = np.arange(1, 4 * nside) if rings is None else np.asarray(rings) + 1
        startpix, ringpix, costheta, sintheta, shifted = hp.ringinfo(nside, ring_numbers)
        self.index = ring_numbers - 1
        self.startpix = np.asarray(startpix, np.int64)
        self.npix = np.asarray(ringpix, np.int64)
        # use the exact pixel centres of healpy for cos/sin of the colatitude
        theta, _ = hp.pix2ang(nside, self.startpix)
        self.cos = np.cos(theta)
        self.sin = np.sin(theta)
        self.dphi = 2 * np.pi / self.npix
        self.phi0 = np.where(shifted, 0.5, 0.0) * self.dphi


# Polynomial approximation of arccos on [0, 1] (Abramowitz & Stegun 4.4.46): arccos(x) is
# sqrt(1 - x) times this polynomial, with an absolute error below 2e-8 rad.
_ACOS_COEFFS = (
    1.5707963050, -0.2145988016, 0.0889789874, -0.0501743046,
    0.0308918810, -0.0170881256, 0.0066700901, -0.0012624911,
)
#: Bound (rad) on the error of `_fast_arccos`, with a margin: an arc end closer than this to a pixel
#: centre is decided by the exact arccos.
ACOS_TOLERANCE = 3e-8


@njit(cache=True, nogil=True, inline="always")
def _fast_arccos(t):  # pragma: no cover - compiled
    """``arccos(t)`` for ``t`` in [-1, 1] to better than ``ACOS_TOLERANCE``.

    The polynomial is evaluated in Estrin's scheme: a short chain of dependent operations, so that
    the arcs of consecutive edges overlap in the processor's pipeline.
    """
    at = abs(t)
    c0, c1, c2, c3, c4, c5, c6, c7 = _ACOS_COEFFS
    at2 = at * at
    at4 = at2 * at2
    poly = ((c0 + c1 * at) + (c2 + c3 * at) * at2) + ((c4 + c5 * at) + (c6 + c7 * at) * at2) * at4
    h = np.sqrt(1.0 - at) * poly
    return np.pi - h if t < 0 else h


@njit(cache=True, nogil=True, inline="always")
def _arc(u, t, inv_dphi, eps, nf):  # pragma: no cover - compiled
    """Pixels ``j`` of a ring with ``cos((j - u) Δφ) > t``: first index ``lo`` and their number.

    The arc ends ``u ± arccos(t) / Δφ`` come from `_fast_arccos` unless one of them lies within
    ``eps`` (its error in pixel units) of a pixel centre; then the exact arccos decides.
    """
    h = _fast_arccos(t) * inv_dphi
    a = u - h
    b = u + h
    fa = np.floor(a)
    fb = np.floor(b)
    if (a - fa < eps) | (fa + 1.0 - a < eps) | (b - fb < eps) | (fb + 1.0 - b < eps):
        h = np.arccos(t) * inv_dphi
        fa = np.floor(u - h)
        up = np.ceil(u + h)
    else:
        up = fb + 1.0
    lo = fa + 1.0
    return lo, min(max(up - lo, 0.0), nf)


@njit(cache=True, nogil=True, inline="always")
def _wrap(value, nf, inv_n):  # pragma: no cover - compiled
    """``value`` modulo ``nf`` for an integer-valued float (``inv_n = 1 / nf``); may give ``nf`` for 0."""
    return value - nf * np.floor(value * inv_n)


@njit(cache=True, nogil=True, inline="always")
def _add_range(diff, p, q, w0, w1):  # pragma: no cover - compiled
    """Add ``w0, w1`` to positions ``[p, q)`` of a difference array of weight pairs (flat, unsigned indices)."""
    i = np.uint64(2 * p)
    j = np.uint64(2 * q)
    one = np.uint64(1)
    diff[i] += w0
    diff[i + one] += w1
    diff[j] -= w0
    diff[j + one] -= w1


@njit(cache=True, nogil=True)
def _ring_kernel(
    rings, c_k, rcos, rsin, rnpix, rphi0, rdphi, rowoff, rows, zen, wq, use_zenith, zcut, window, out,
):  # pragma: no cover - compiled
    """Livetime of the pixels of the rings ``rings`` (see `accumulate_livetime`).

    ``rows`` holds, per interval, ``cos ϑ, sin ϑ, φ, cos φ, sin φ`` of SCZ, ``zen`` the same for the
    zenith, ``wq`` the two integer weights; ``window`` holds per ring ``cos, sin`` of the
    azimuth-window centre and of its half-width (no row: the whole ring is needed). The pixels of
    ring ``r`` are rows ``rowoff[r]`` to ``rowoff[r] + n - 1`` of ``out[weight, pixel, bin]``.

    Each ring is done in turn, with difference arrays of its own size: for edge ``k``,
    ``arcs[k * (2 n + 1) + p]`` receives ``+w`` where an arc ``cos θ > c_k`` starts and ``-w``
    where it ends; positions ``p`` are relative to pixel 0 of the ring and run over ``[0, 2 n]``
    so that no arc wraps (pixel ``j`` is ``p = j`` and ``p = j + n``). ``whole`` receives the arc
    of the zenith cut (or the whole ring) once, at the first edge with ``cos θ > c_k`` everywhere
    on the ring: it is summed along the edges first. The caller shares the rings out between
    threads: the kernel releases the GIL, and each ring is written by one thread only.
    """
    nbins = len(c_k)
    nmax = rnpix.max()
    size = 2 * nbins * (2 * nmax + 1)
    arcs = np.empty(size, np.int64)
    whole = np.empty(size, np.int64)
    scratch = np.empty((3, 2 * nmax), np.int64)
    for r in rings:
        used = 2 * nbins * (2 * rnpix[r] + 1)
        arcs[:used] = 0
        whole[:used] = 0
        _one_ring(r, c_k, rcos, rsin, rnpix, rphi0, rdphi, rows, zen, wq, use_zenith, zcut, window, arcs, whole)
        _ring_cumsum(rnpix[r], nbins, arcs, whole, out, rowoff[r], scratch)


@njit(cache=True, nogil=True, inline="always")
def _ring_cumsum(n, nbins, arcs, whole, out, row0, scratch):  # pragma: no cover - compiled
    """Pixel values of one ring from its difference arrays into ``out[weight, row0 + j, bin]``.

    ``scratch`` is a work array of at least 3 × 2 n integers.
    """
    width = 2 * n + 1
    run_whole, previous, g = scratch[0, :2 * n], scratch[1, :n], scratch[2, :n]
    for iw in range(2):
        # G_k(p): livetime with cos θ > c_k at position p; the whole-ring records summed along k first
        run_whole[:] = 0
        previous[:] = 0
        for k in range(nbins):
            col = 2 * k * width + iw
            acc = 0
            for p in range(n):
                run_whole[p] += whole[col + 2 * p]
                acc += arcs[col + 2 * p] + run_whole[p]
                g[p] = acc
            for p in range(n, 2 * n):
                run_whole[p] += whole[col + 2 * p]
                acc += arcs[col + 2 * p] + run_whole[p]
                g[p - n] += acc
            # bin k lies between edges k and k - 1 (G_{-1} = 0)
            for j in range(n):
                out[iw, row0 + j, k] = g[j] - previous[j]
                previous[j] = g[j]


@njit(cache=True, nogil=True, inline="always")
def _window_range(x, y, cp, sp, wc, ws, hc, hs):  # pragma: no cover - compiled
    """Largest and smallest ``x + y cos(φ - φ_w)`` over an azimuth window (algebraic, no cosine).

    ``cp, sp``: cos, sin of φ; ``wc, ws``: of the window centre; ``hc, hs``: of its half-width.
    """
    cd = cp * wc + sp * ws  # cos of the distance between φ and the window centre
    sd = abs(sp * wc - cp * ws)  # its sine (the distance is in [0, π])
    vmax = x + y if cd >= hc else x + y * (cd * hc + sd * hs)
    vmin = x - y if cd <= -hc else x + y * (cd * hc - sd * hs)
    return vmax, vmin


@njit(cache=True, nogil=True, error_model="numpy")
def _one_ring(
    r, c_k, rcos, rsin, rnpix, rphi0, rdphi, rows, zen, wq, use_zenith, zcut, window, arcs, whole,
):  # pragma: no cover - compiled
    """The contributions of all intervals to ring ``r`` (see `_ring_kernel`)."""
    nbins = len(c_k)
    cosmin = c_k[nbins - 1]
    windowed = window.shape[0] > 0
    n = rnpix[r]
    nf = float(n)
    inv_n = 1.0 / nf
    width = 2 * n + 1
    rc = rcos[r]
    rs = rsin[r]
    phi0 = rphi0[r]
    inv_dphi = 1.0 / rdphi[r]
    eps = ACOS_TOLERANCE * inv_dphi
    if windowed:
        wc, ws, hc, hs = window[r, 0], window[r, 1], window[r, 2], window[r, 3]
    else:
        wc, ws, hc, hs = 1.0, 0.0, -1.0, 0.0
    k_first = 0
    k_whole = 0
    for i in range(rows.shape[0]):
        x = rc * rows[i, 0]
        y = rs * rows[i, 1]
        # the ring lies outside the field of view or below zmax altogether
        if not x + y > cosmin:
            continue
        cut = False
        if use_zenith:
            xz = rc * zen[i, 0]
            yz = rs * zen[i, 1]
            if not xz + yz > zcut:
                continue
            zmax_over, zmin_over = _window_range(xz, yz, zen[i, 3], zen[i, 4], wc, ws, hc, hs)
            if not zmax_over > zcut:
                continue
            # does the zenith cut remove part of the (window of the) ring?
            cut = not zmin_over > zcut
        cmax, cmin = _window_range(x, y, rows[i, 3], rows[i, 4], wc, ws, hc, hs)
        if not cmax > cosmin:
            continue
        u = (rows[i, 2] - phi0) * inv_dphi
        w0 = wq[i, 0]
        w1 = wq[i, 1]
        if cut:
            # arc of the zenith cut on this ring: [zstart, zstart + zcount)
            tz = min(max((zcut - xz) / yz, -1.0), 1.0)
            zlo, zcount = _arc((zen[i, 2] - phi0) * inv_dphi, tz, inv_dphi, eps, nf)
            zstart = _wrap(zlo, nf, inv_n)
            zs_idx = int(zstart)
        # edges [k_first, k_whole) cut the ring in an arc; from k_whole on, the whole ring. The
        # search starts from the previous interval's values (the boresight moves slowly).
        while k_first > 0 and c_k[k_first - 1] < cmax:
            k_first -= 1
        while k_first < nbins and c_k[k_first] >= cmax:
            k_first += 1
        k_whole = max(k_whole, k_first)
        while k_whole > k_first and c_k[k_whole - 1] <= cmin:
            k_whole -= 1
        while k_whole < nbins and c_k[k_whole] > cmin:
            k_whole += 1
        if k_whole < nbins:
            p = k_whole * width
            if cut:
                p += zs_idx
                q = p + int(zcount)
            else:
                q = p + n
            _add_range(whole, p, q, w0, w1)
        if k_whole == k_first:
            continue
        inv_y = 1.0 / y
        nk = k_whole - k_first
        for m in range(nk):
            t = min(max((c_k[k_first + m] - x) * inv_y, -1.0), 1.0)
            lo, count = _arc(u, t, inv_dphi, eps, nf)
            col = (k_first + m) * width
            if not cut:
                p = col + int(_wrap(lo, nf, inv_n))
                q = p + int(count)
                _add_range(arcs, p, q, w0, w1)
                continue
            # the arc relative to the start of the zenith arc, intersected with it
            rel = _wrap(lo - zstart, nf, inv_n)
            end = rel + count
            wrap = end - nf
            end = max(min(end, zcount), rel)
            col += zs_idx
            p = col + int(rel)
            q = col + int(end)
            _add_range(arcs, p, q, w0, w1)
            if wrap > 0:
                # the part of the arc past the start of the zenith arc
                q = col + int(min(wrap, zcount))
                _add_range(arcs, col, q, w0, w1)


def accumulate_livetime(
    nside,
    costheta_edges,
    scz_ra,
    scz_dec,
    weights,
    zenith_ra=None,
    zenith_dec=None,
    zmax=180.0,
    rings=None,
    quantum=QUANTUM,
    in_quanta=False,
    windows=None,
    threads=None,
):
    """Accumulate livetime per HEALPix pixel (RING order) and cos θ bin, exactly at pixel centres.

    The weights are rounded to integer multiples of ``quantum`` (1 µs) and accumulated as
    64-bit integers, which are summed exactly: pixels without livetime get exactly zero and the
    result does not depend on the order of summation (time chunks, parallel workers).

    Parameters
    ----------
    nside : int
        HEALPix NSIDE.
    costheta_edges : `~numpy.ndarray`
        Decreasing cos θ edges (``nbins + 1``, first 1, last cosmin).
    scz_ra, scz_dec : `~numpy.ndarray`
        Spacecraft z-axis per interval (deg, in the frame of the HEALPix grid).
    weights : sequence of `~numpy.ndarray`
        One or more weight arrays per interval (e.g. livetime and weighted livetime); intervals
        with all weights zero are skipped.
    zenith_ra, zenith_dec : `~numpy.ndarray`, optional
        Zenith direction per interval (needed when ``zmax < 180``).
    zmax : float
        Maximum zenith angle in deg.
    rings : `~numpy.ndarray`, optional
        Ring indices (0-based) to compute; all by default.
    windows : tuple of `~numpy.ndarray`, optional
        ``(phi_centre, half_width)`` in rad per computed ring: only the pixels of the ring within
        this azimuth window are needed (region-of-interest mode); others may be wrong.
    quantum : float
        Time resolution of the accumulation (s).
    in_quanta : bool
        Return the values in units of ``quantum`` (``int64``) instead of seconds.
    threads : int, optional
        Number of threads running the compiled kernel (the rings are shared out between them); by
        default ``NUMBA_NUM_THREADS`` (the number of cores). The result does not depend on it.

    Returns
    -------
    ring_index : `~numpy.ndarray`
        RING-scheme pixel index of each output row.
    values : list of `~numpy.ndarray`
        For each weight array, the accumulated values, shape ``(len(ring_index), nbins)``.

    Notes
    -----
    The loops over rings, intervals and edges run in a compiled kernel (numba): per ring and
    interval, the edges ``k`` split into three ranges: ``cos θ > c_k`` nowhere on the ring
    (nothing to do), on an arc (one arccos, two arc ends), or everywhere (the arc of the zenith
    cut, recorded once and summed along the edges). The weights are processed in pairs.
    """
    edges = np.asarray(costheta_edges, float)
    nbins = len(edges) - 1
    use_zenith = zmax < 180.0
    zcut = np.cos(np.radians(zmax))
    wq = np.array([np.round(np.asarray(w, float) / quantum) for w in weights]).astype(np.int64)
    active = np.any(wq != 0, axis=0)
    wq = np.ascontiguousarray(wq[:, active].T)
    scz = _polar_rows(np.asarray(scz_ra, float)[active], np.asarray(scz_dec, float)[active])
    if use_zenith:
        if zenith_ra is None or zenith_dec is None:
            raise LivetimeCubeError("zmax < 180 needs the zenith direction of every interval")
        zen = _polar_rows(np.asarray(zenith_ra, float)[active], np.asarray(zenith_dec, float)[active])
    else:
        zen = scz

    geom = _RingGeometry(nside, rings)
    rowoff = np.concatenate([[0], np.cumsum(geom.npix)[:-1]]).astype(np.int64)
    if windows is None:
        window = np.zeros((0, 4))
    else:
        centre, half = (np.asarray(v, dtype=float) for v in windows)
        window = np.stack([np.cos(centre), np.sin(centre), np.cos(half), np.sin(half)], axis=-1)
    nweights = wq.shape[1]
    # the kernel takes the weights in pairs
    wq = np.concatenate([wq, np.zeros((len(wq), nweights % 2), np.int64)], axis=1)
    out = np.empty((wq.shape[1], int(geom.npix.sum()), nbins), np.int64)
    # rings shared out between threads (interleaved, for balance); each ring has one writer
    nthreads = max(1, min(int(numba_config.NUMBA_NUM_THREADS if threads is None else threads), len(geom.npix)))
    parts = [np.arange(i, len(geom.npix), nthreads) for i in range(nthreads)]
    c_k = np.ascontiguousarray(edges[1:])
    jobs = []
    for i0 in range(0, wq.shape[1], 2):
        pair = np.ascontiguousarray(wq[:, i0:i0 + 2])
        common = (c_k, geom.cos, geom.sin, geom.npix, geom.phi0, geom.dphi, rowoff, scz, zen, pair, use_zenith,
                  zcut, window, out[i0:i0 + 2])
        jobs += [(part,) + common for part in parts]
    if nthreads == 1:
        for job in jobs:
            _ring_kernel(*job)
    else:

        with ThreadPoolExecutor(nthreads) as pool:
            for future in [pool.submit(_ring_kernel, *job) for job in jobs]:
                future.result()
    ring_index = np.concatenate([s + np.arange(n) for s, n in zip(geom.startpix, geom.npix)])
    out = out[:nweights]
    values = list(out) if in_quanta else [v * quantum for v in out]
    return ring_index, values


def accumulate_livetime_phi(
    pixel_vectors,
    costheta_edges,
    binning,
    nphibins,
    scz,
    scx,
    weights,
    zenith=None,
    zmax=180.0,
    chunk_size=2048,
    quantum=QUANTUM,
    in_quanta=False,
):
    """Accumulate livetime with φ bins, per pixel (direct evaluation at pixel centres).

    φ is the azimuth of the pixel direction around SCZ measured from SCX, folded into [0°, 45°]
    by the four-fold symmetry of the LAT as in the Fermitools (``CosineBinner::folded_phi``).

    Returns
    -------
    values : list of `~numpy.ndarray`
        Per weight: ``(npix, nbins * (1 + nphibins))``, the φ-integrated bins first.
    """
    edges = np.asarray(costheta_edges, float)
    nbins = len(edges) - 1
    cosmin = edges[-1]
    use_zenith = zmax < 180.0
    zcut = np.cos(np.radians(zmax))
    scy = np.cross(scz, scx)
    npix = len(pixel_vectors)
    out = [np.zeros((npix, nbins * (1 + nphibins))) for _ in weights]
    for i0 in range(0, len(scz), chunk_size):
        sl = slice(i0, i0 + chunk_size)
        cz = pixel_vectors @ scz[sl].T
        cx = pixel_vectors @ scx[sl].T
        cy = pixel_vectors @ scy[sl].T
        ok = cz > cosmin
        if use_zenith:
            ok &= (pixel_vectors @ zenith[sl].T) > zcut
        f = (1.0 - cz) / (1.0 - cosmin)
        if binning == "sqrt":
            f = np.sqrt(np.clip(f, 0, None))
        ci = np.minimum((f * nbins).astype(np.int64), nbins - 1)
        phi = np.arctan2(cy, cx)
        phi = np.where(phi < 0, phi + 2 * np.pi, phi)
        folded = 1.0 - np.abs(np.pi / 4 - np.fmod(phi, np.pi / 2)) / (np.pi / 4)
        pi_ = np.minimum((folded * nphibins).astype(np.int64), nphibins - 1)
        pp, rr = np.nonzero(ok)
        ci, pi_ = ci[pp, rr], pi_[pp, rr]
        size = npix * nbins * (1 + nphibins)
        idx_total = pp * nbins * (1 + nphibins) + ci
        idx_phi = pp * nbins * (1 + nphibins) + (pi_ + 1) * nbins + ci
        for iw, w in enumerate(weights):
            wr = np.round(w[sl][rr] / quantum)
            acc = np.bincount(idx_total, weights=wr, minlength=size)
            acc += np.bincount(idx_phi, weights=wr, minlength=size)
            out[iw] += acc.reshape(npix, -1)
    if not in_quanta:
        out = [v * quantum for v in out]
    return out


# ----------------------------------------------------------------------------- driver
_REQUIRED = ("START", "STOP", "LIVETIME", "RA_SCZ", "DEC_SCZ", "RA_ZENITH", "DEC_ZENITH")
ROWS_PER_CHUNK = 200_000


def _column(table, name, filename):
    names = {n.upper(): n for n in table.colnames}
    if name not in names:
        raise LATDataError(f"{filename}: spacecraft table has no column {name} (columns: {table.colnames})")
    col = table[names[name]]
    return np.asarray(getattr(col, "value", col), dtype=float)


def _gti_arrays(gti):
    """MET start/stop arrays from a `~gammapy.data.GTI`, a table or a ``(start, stop)`` pair."""
    if gti is None:
        raise LivetimeCubeError("Good time intervals are required to compute a livetime cube")
    if hasattr(gti, "gti_start") and hasattr(gti, "gti_stop"):
        return np.asarray(gti.gti_start, float), np.asarray(gti.gti_stop, float)
    if hasattr(gti, "met_start"):
        if len(gti.table) == 0:
            return np.zeros(0), np.zeros(0)
        return np.asarray(gti.met_start.to_value("s"), float), np.asarray(gti.met_stop.to_value("s"), float)
    if hasattr(gti, "colnames"):
        return np.asarray(gti["START"], float), np.asarray(gti["STOP"], float)
    start, stop = gti
    return np.atleast_1d(np.asarray(start, float)), np.atleast_1d(np.asarray(stop, float))


def _to_frame(ra, dec, frame):
    if frame == "icrs":
        return ra, dec

    coord = SkyCoord(ra, dec, unit="deg", frame="icrs").transform_to(frame)
    return coord.spherical.lon.deg, coord.spherical.lat.deg


def _rings_of_pixels(nside, ring_pixels):
    startpix = hp.ringinfo(nside, np.arange(1, 4 * nside))[0]
    return np.unique(np.searchsorted(startpix, ring_pixels, side="right") - 1)


def _ring_windows(nside, rings, ring_pixels):
    """Azimuth window ``(centre, half-width)`` (rad) covering the given pixels of each ring."""

    geom = _RingGeometry(nside, rings)
    ring_of = np.searchsorted(geom.startpix, ring_pixels, side="right") - 1
    centre = np.zeros(len(rings))
    half = np.zeros(len(rings))
    for i in range(len(rings)):
        j = ring_pixels[ring_of == i] - geom.startpix[i]
        n = int(geom.npix[i])
        if len(j) >= n - 1:
            centre[i], half[i] = 0.0, np.pi
            continue
        # the pixels form an arc: find the largest gap between consecutive indices
        j = np.sort(j)
        gaps = np.diff(np.append(j, j[0] + n))
        k = int(np.argmax(gaps))
        first = j[(k + 1) % len(j)]
        span = (n - gaps[k]) * geom.dphi[i]
        centre[i] = geom.phi0[i] + first * geom.dphi[i] + 0.5 * span
        half[i] = 0.5 * span + 1e-9
    return centre, half


def _chunk_task(nside, edges, binning, nphibins, zmax, rings, pixel_vectors, arrays, windows=None, threads=None):
    """Livetime of one time chunk (module level so that it can run in a worker process)."""
    w, ww = arrays["w"], arrays["ww"]
    if nphibins:
        scz = _unit_vectors(arrays["scz_ra"], arrays["scz_dec"])
        scx = _unit_vectors(arrays["scx_ra"], arrays["scx_dec"])
        zen = _unit_vectors(arrays["zen_ra"], arrays["zen_dec"])
        live, wlive = accumulate_livetime_phi(
            pixel_vectors, edges, binning, nphibins, scz, scx, [w, ww], zenith=zen, zmax=zmax, in_quanta=True
        )
        return live, wlive
    _, (live, wlive) = accumulate_livetime(
        nside,
        edges,
        arrays["scz_ra"],
        arrays["scz_dec"],
        [w, ww],
        arrays["zen_ra"],
        arrays["zen_dec"],
        zmax=zmax,
        rings=rings,
        in_quanta=True,
        windows=windows,
        threads=threads,
    )
    return live, wlive


def livetime_cube_arrays(
    start,
    stop,
    livetime,
    scz_ra,
    scz_dec,
    zenith_ra,
    zenith_dec,
    gti_start,
    gti_stop,
    nside=64,
    nbins=40,
    zmax=180.0,
    binning="sqrt",
    nest=True,
    frame="icrs",
    phibins=0,
    scx_ra=None,
    scx_dec=None,
    roi=None,
    n_chunks=None,
    n_jobs=None,
    parallel_backend=None,
    filename="spacecraft data",
):
    """Livetime cube from plain arrays (MET s, deg in ICRS) with gtltcube semantics.

    Returns
    -------
    result : dict
        ``pixels`` (HEALPix indices in the requested ordering, or None for all-sky),
        ``livetime``, ``weighted_livetime`` (``(npix, nbins)``), ``livetime_phi``,
        ``weighted_livetime_phi`` (``(npix, phibins, nbins)`` or None), ``edges``.
    """


    edges = costheta_edges(nbins, binning)
    nbins = len(edges) - 1
    zmax = float(zmax)
    if not 0 < zmax <= 180:
        raise LivetimeCubeError(f"zmax must be in (0, 180] deg, got {zmax}")
    phibins = int(phibins)
    if phibins < 0:
        raise LivetimeCubeError(f"phibins must be >= 0, got {phibins}")
    nside = check_livetime_request(nside, nbins, phibins, roi, n_chunks=max(int(n_chunks or 1), int(n_jobs or 1)))

    start = np.asarray(start, float)
    stop = np.asarray(stop, float)
    gti_start = np.asarray(gti_start, float)
    gti_stop = np.asarray(gti_stop, float)
    validate_spacecraft_arrays(start, stop, gti_start, gti_stop, filename=filename)
    w, ww = livetime_weights(start, stop, livetime, gti_start, gti_stop)
    if np.any(~np.isfinite(w)):
        i = np.flatnonzero(~np.isfinite(w))[0]
        raise LATDataError(f"{filename}: non-finite LIVETIME in row {i}")
    active = np.flatnonzero(w != 0)
    if len(gti_start) == 0 or len(active) == 0:
        log.warning("No spacecraft interval overlaps the good time intervals: the livetime cube is empty")

    columns = {"scz_ra": scz_ra, "scz_dec": scz_dec, "zen_ra": zenith_ra, "zen_dec": zenith_dec}
    if phibins:
        if scx_ra is None or scx_dec is None:
            raise LivetimeCubeError("phi bins need the spacecraft x-axis (RA_SCX, DEC_SCX)")
        columns.update(scx_ra=scx_ra, scx_dec=scx_dec)
    arrays = {}
    for key, values in columns.items():
        values = np.asarray(values, float)[active]
        bad = np.flatnonzero(~np.isfinite(values))
        if len(bad):
            name = {"scz": "SCZ", "zen": "ZENITH", "scx": "SCX"}[key[:3]]
            col = ("RA_" if key.endswith("ra") else "DEC_") + name
            raise LATDataError(
                f"{filename}: {col} is NaN/infinite in row {active[bad[0]]} (START={float(start[active[bad[0]]])!r}), "
                "which lies inside the good time intervals"
            )
        arrays[key] = values
    for lon, lat in (("scz_ra", "scz_dec"), ("zen_ra", "zen_dec"), ("scx_ra", "scx_dec")):
        if lon in arrays:
            arrays[lon], arrays[lat] = _to_frame(arrays[lon], arrays[lat], frame)
    arrays["w"], arrays["ww"] = w[active], ww[active]

    # pixels to compute
    npix = 12 * nside**2
    if roi is not None:
        lon, lat, radius = (float(v) for v in roi)
        pixels = roi_pixels(nside, nest, frame, lon, lat, radius)
        ring_pixels = hp.nest2ring(nside, pixels) if nest else pixels
        rings = _rings_of_pixels(nside, ring_pixels)
        windows = _ring_windows(nside, rings, ring_pixels)
        # intervals whose boresight (or zenith) is too far from every pixel of the region add nothing
        centre = _unit_vectors(lon, lat)
        reach = np.arccos(np.clip(centre @ np.array(hp.pix2vec(nside, ring_pixels)), -1, 1)).max() + 1e-6
        near = np.ones(len(arrays["w"]), bool)
        for key, limit in (("scz", np.arccos(edges[-1]) + reach), ("zen", np.radians(zmax) + reach)):
            if limit < np.pi:
                near &= _unit_vectors(arrays[f"{key}_ra"], arrays[f"{key}_dec"]) @ centre > np.cos(limit)
        arrays = {key: value[near] for key, value in arrays.items()}
    else:
        pixels, rings, windows = None, None, None
        ring_pixels = np.arange(npix)
    pixel_vectors = None
    if phibins:
        theta, phi = hp.pix2ang(nside, ring_pixels)
        pixel_vectors = np.stack([np.sin(theta) * np.cos(phi), np.sin(theta) * np.sin(phi), np.cos(theta)], -1)

    nrows = len(arrays["w"])
    if n_chunks is None:
        # few chunks: each partial cube is (npix, nbins) doubles, all held until summed
        n_chunks = max(1, int(np.ceil(nrows / ROWS_PER_CHUNK)), int(n_jobs or 1))
    bounds = np.linspace(0, nrows, int(max(1, min(n_chunks, max(nrows, 1)))) + 1).astype(int)
    # chunks in parallel processes: one kernel thread each; otherwise numba's threads
    threads = 1 if int(n_jobs or 1) > 1 else None
    inputs = []
    for i0, i1 in zip(bounds[:-1], bounds[1:]):
        chunk = {key: value[i0:i1] for key, value in arrays.items()}
        inputs.append((nside, edges, binning, phibins, zmax, rings, pixel_vectors, chunk, windows, threads))
    pool_kwargs = None if n_jobs is None else {"processes": int(n_jobs)}
    results = parallel.run_multiprocessing(
        _chunk_task,
        inputs,
        backend=parallel_backend,
        pool_kwargs=pool_kwargs,
        task_name="Livetime cube",
    )
    live, wlive = results[0]
    live, wlive = live.copy(), wlive.copy()
    for a, b in results[1:]:
        live += a
        wlive += b
    live = live * QUANTUM
    wlive = wlive * QUANTUM

    # rows come in RING order of the computed rings; map to the requested ordering and region
    if phibins:
        computed = ring_pixels
    else:
        geom = _RingGeometry(nside, rings)
        computed = np.concatenate([s + np.arange(n) for s, n in zip(geom.startpix, geom.npix)])
    target_ring = ring_pixels if roi is not None else (hp.nest2ring(nside, np.arange(npix)) if nest else np.arange(npix))
    order = np.argsort(computed)
    rows = order[np.searchsorted(computed[order], target_ring)]
    live, wlive = live[rows], wlive[rows]
    live_phi = wlive_phi = None
    if phibins:
        live_phi = live[:, nbins:].reshape(len(live), phibins, nbins)
        wlive_phi = wlive[:, nbins:].reshape(len(wlive), phibins, nbins)
        live, wlive = live[:, :nbins], wlive[:, :nbins]
    return {
        "pixels": pixels,
        "livetime": live,
        "weighted_livetime": wlive,
        "livetime_phi": live_phi,
        "weighted_livetime_phi": wlive_phi,
        "edges": edges,
    }


def compute_livetime_arrays(cls, spacecraft, gti, nside, nbins, zmax, binning, nest, frame, phibins, roi,
                            n_chunks, n_jobs, parallel_backend):
    """Implementation of `LivetimeCube.compute` (see there)."""

    table = getattr(spacecraft, "table", spacecraft)
    files = [str(f) for f in getattr(spacecraft, "filenames", None) or []]
    if files:
        filename = f"FT2 file{'s' if len(files) > 1 else ''} {', '.join(files)}"
    else:
        filename = "spacecraft data"
    if not hasattr(table, "colnames"):
        raise LivetimeCubeError(
            f"spacecraft must be a SpacecraftData or an astropy Table, got {type(spacecraft).__name__}"
        )
    cols = {name: _column(table, name, filename) for name in _REQUIRED}
    if phibins:
        cols["RA_SCX"] = _column(table, "RA_SCX", filename)
        cols["DEC_SCX"] = _column(table, "DEC_SCX", filename)
    if frame not in ("icrs", "galactic"):
        raise LivetimeCubeError(f"Unknown frame {frame!r}; use 'icrs' or 'galactic'")
    gti_start, gti_stop = _gti_arrays(gti)
    zmax_deg = float(u.Quantity(zmax, "deg").value)
    result = livetime_cube_arrays(
        cols["START"],
        cols["STOP"],
        cols["LIVETIME"],
        cols["RA_SCZ"],
        cols["DEC_SCZ"],
        cols["RA_ZENITH"],
        cols["DEC_ZENITH"],
        gti_start,
        gti_stop,
        nside=int(nside),
        nbins=nbins,
        zmax=zmax_deg,
        binning=binning,
        nest=nest,
        frame=frame,
        phibins=phibins,
        scx_ra=cols.get("RA_SCX"),
        scx_dec=cols.get("DEC_SCX"),
        roi=roi,
        n_chunks=n_chunks,
        n_jobs=n_jobs,
        parallel_backend=parallel_backend,
        filename=filename,
    )
    if isinstance(gti, GTI):
        gti_obj = gti
    elif isinstance(getattr(gti, "gti", None), GTI):
        gti_obj = gti.gti
    else:
        # the MET reference of the FT2 file (MJDREFF may be a Fortran-style string)
        ref = time_ref_from_header(getattr(table, "meta", {}), source=str(filename or "spacecraft data"))
        gti_obj = GTI.create(gti_start * u.s, gti_stop * u.s, reference_time=ref)
    meta = {}
    tmeta = getattr(table, "meta", {})

    for key in ("MJDREFI", "MJDREFF"):
        value = header_float(tmeta, key, source=str(filename or "spacecraft data"))
        if value is not None:
            meta[key] = int(value) if key == "MJDREFI" and value == int(value) else value
    return cls(
        livetime=result["livetime"],
        weighted_livetime=result["weighted_livetime"],
        costheta_edges=result["edges"],
        nside=nside,
        nest=nest,
        frame=frame,
        gti=gti_obj,
        zmax=zmax_deg * u.deg,
        binning=binning,
        livetime_phi=result["livetime_phi"],
        weighted_livetime_phi=result["weighted_livetime_phi"],
        pixels=result["pixels"],
        roi=None if roi is None else tuple(float(v) for v in roi),
        meta=meta,
    )
