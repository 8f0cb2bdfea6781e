"""θ² distributions with wobble OFF positions and the Li & Ma significance of the excess.

For each run the OFF positions are the target position rotated about the pointing by
``k·360°/(n_off+1)``, ``k = 1..n_off`` (as Gammapy's `~gammapy.makers.WobbleRegionsFinder`). ON and
OFF counts inside the θ cut give the excess ``N_on - α N_off`` (``α = 1/n_off`` per run) and its
significance (Li & Ma 1983, eq. 17, Gammapy's `~gammapy.stats.WStatCountsStatistic`). With
point-like IRFs the cut is the energy-dependent ``RAD_MAX`` of each run, applied event by event.
"""
import logging
from dataclasses import dataclass, field

import astropy.units as u
import numpy as np
from astropy.coordinates import Angle
from astropy.table import Table
from gammapy.stats import WStatCountsStatistic

from ..errors import SelectionError

__all__ = ["Theta2Result", "make_theta2", "off_positions", "theta2_signal"]

log = logging.getLogger(__name__)


def off_positions(pointing, position, n_off):
    """OFF positions: ``position`` rotated about ``pointing`` by ``k·360°/(n_off+1)``."""
    pa = pointing.position_angle(position)
    sep = pointing.separation(position)
    angles = pa + Angle(np.arange(1, n_off + 1) * 360.0 / (n_off + 1), "deg")
    return pointing.directional_offset_by(angles, sep)


def _rad_max_cut(observation, energy, position):
    """Per-event θ cut (deg) from the run's RAD_MAX at the event energies and target offset."""
    rad_max = observation.rad_max
    offset = observation.get_pointing_icrs(observation.tmid).separation(position)
    kwargs = {"energy": energy}
    if "offset" in rad_max.axes.names:
        kwargs["offset"] = offset
    values = rad_max.evaluate(method="nearest", **kwargs)
    return np.broadcast_to(u.Quantity(values).to_value("deg"), energy.shape)


def _has_rad_max(observation):
    """Whether the run has point-like IRFs with a RAD_MAX (table or header keyword)."""
    try:
        return observation.rad_max is not None
    except Exception:  # missing or unreadable HDU
        return False


@dataclass
class Theta2Result:
    """θ² histogram, per-run numbers and the signal inside the cut.

    Attributes
    ----------
    table : `~astropy.table.Table`
        Per θ² bin: ``theta2_min``, ``theta2_max``, ``counts``, ``counts_off``, ``alpha``,
        ``excess``, ``sqrt_ts``.
    runs : `~astropy.table.Table`
        Per run: ON, OFF, α, excess, significance and live time inside the cut.
    summary : dict
        All runs together: ``n_on``, ``n_off``, ``alpha``, ``excess``, ``excess_err``,
        ``significance``, ``livetime`` (h), ``excess_rate`` and ``background_rate`` (per minute),
        ``theta_cut`` (deg or ``"RAD_MAX"``), ``energy_range``.
    """

    table: Table
    runs: Table
    summary: dict = field(default_factory=dict)

    @property
    def cut_theta2(self):
        """θ² cut (deg²) for plots: the fixed cut, or the mean RAD_MAX² of the runs."""
        return self.summary["theta2_cut"]


def _alpha(alpha, n_off):
    alpha = np.asarray(alpha, dtype=float)
    n_off = np.asarray(n_off, dtype=float)
    total = n_off.sum(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        weighted = np.where(total > 0, (alpha * n_off).sum(axis=0) / total, alpha.mean(axis=0))
    return weighted


def make_theta2(observations, position, theta_cut=None, theta2_max="0.3 deg2", nbins=30, n_off=3,
                energy_range=None):
    """θ² distributions and the signal of a target.

    Parameters
    ----------
    observations : `~gammapy.data.Observations`
        Runs.
    position : `~astropy.coordinates.SkyCoord`
        Target.
    theta_cut : `~astropy.coordinates.Angle` or None
        θ cut. None: the run's ``RAD_MAX`` (point-like IRFs), else 0.11 deg.
    theta2_max : `~astropy.units.Quantity`
        Upper end of the θ² histogram.
    nbins : int
        Number of θ² bins.
    n_off : int
        OFF positions per run (fewer are used when they would overlap the ON region).
    energy_range : tuple of `~astropy.units.Quantity`, optional
        Reconstructed-energy range of the events.

    Returns
    -------
    result : `Theta2Result`
    """

    theta2_max = u.Quantity(theta2_max).to_value("deg2")
    edges = np.linspace(0, theta2_max, nbins + 1)
    counts = np.zeros(nbins)
    runs = []
    off_hists, alphas = [], []
    cuts = []
    for obs in observations:
        events = obs.events
        if energy_range is not None:
            events = events.select_energy(u.Quantity(energy_range))
        pointing = obs.get_pointing_icrs(obs.tmid)
        sep_on = events.radec.separation(position).deg
        wobble = pointing.separation(position).deg
        if theta_cut is not None:
            cut = np.full(len(sep_on), Angle(theta_cut).deg)
        elif _has_rad_max(obs):
            cut = _rad_max_cut(obs, events.energy, position)
        else:
            cut = np.full(len(sep_on), 0.11)
        max_cut = float(np.max(cut)) if len(cut) else 0.11
        # OFF positions closer than twice the cut to the ON position (or each other) would overlap
        n_run = n_off
        while n_run > 1 and 2 * wobble * np.sin(np.pi / (n_run + 1)) < 2 * max_cut:
            n_run -= 1
        if wobble < max_cut or 2 * wobble * np.sin(np.pi / (n_run + 1)) < 2 * max_cut:
            log.warning(f"run {obs.obs_id}: target {wobble:.2f} deg from the pointing, no OFF "
                        "position outside the ON region; run not used")
            continue
        offs = off_positions(pointing, position, n_run)
        sep_off = np.array([events.radec.separation(o).deg for o in offs])
        counts += np.histogram(sep_on**2, edges)[0]
        off_hist = sum(np.histogram(s**2, edges)[0] for s in sep_off)
        off_hists.append(off_hist)
        alphas.append(np.full(nbins, 1.0 / n_run))
        n_on = int(np.sum(sep_on < cut))
        n_off_run = int(np.sum(sep_off < cut[None, :]))
        livetime = obs.observation_live_time_duration.to_value("h")
        stat = WStatCountsStatistic(n_on, n_off_run, 1.0 / n_run)
        runs.append((obs.obs_id, n_on, n_off_run, 1.0 / n_run, float(stat.n_sig), float(stat.sqrt_ts),
                     livetime, wobble))
        cuts.append(np.mean(cut))
    if not runs:
        raise SelectionError("θ²: no run has OFF positions outside the ON region")
    off_hists = np.array(off_hists, dtype=float)
    alpha_bins = _alpha(alphas, off_hists)
    stat = WStatCountsStatistic(counts, off_hists.sum(axis=0), alpha_bins)
    table = Table()
    table["theta2_min"] = edges[:-1] * u.deg**2
    table["theta2_max"] = edges[1:] * u.deg**2
    table["counts"] = counts
    table["counts_off"] = off_hists.sum(axis=0)
    table["alpha"] = alpha_bins
    table["excess"] = stat.n_sig
    table["sqrt_ts"] = stat.sqrt_ts

    run_table = Table(rows=runs, names=["OBS_ID", "N_ON", "N_OFF", "ALPHA", "EXCESS", "SIGNIFICANCE",
                                        "LIVETIME", "WOBBLE"])
    run_table["LIVETIME"].unit = "h"
    run_table["WOBBLE"].unit = "deg"
    n_on = int(run_table["N_ON"].sum())
    n_off_tot = int(run_table["N_OFF"].sum())
    alpha = float(_alpha(run_table["ALPHA"][:, None], run_table["N_OFF"][:, None])[0])
    total = WStatCountsStatistic(n_on, n_off_tot, alpha)
    livetime = float(run_table["LIVETIME"].sum())
    minutes = livetime * 60
    summary = dict(
        n_on=n_on,
        n_off=n_off_tot,
        alpha=alpha,
        excess=float(total.n_sig),
        excess_err=float(total.error),
        significance=float(total.sqrt_ts),
        livetime=livetime,
        excess_rate=float(total.n_sig) / minutes,
        background_rate=alpha * n_off_tot / minutes,
        theta_cut="RAD_MAX" if theta_cut is None and any(_has_rad_max(o) for o in observations)
        else float(np.mean(cuts)),
        theta2_cut=float(np.mean(np.square(cuts))),
        energy_range=None if energy_range is None else [str(u.Quantity(e)) for e in energy_range],
        n_runs=len(run_table),
    )
    return Theta2Result(table, run_table, summary)


def theta2_signal(table, theta_cut, livetime=None):
    """Signal inside a θ cut from a θ² table (``counts``, ``counts_off``, ``alpha`` per bin, as
    written by Gammapy's `~gammapy.makers.utils.ThetaSquaredTable` or `make_theta2`).

    The bins whose upper edge is within ``theta_cut`` (to 1 % of a bin) are summed.

    Returns
    -------
    summary : dict
        ``n_on``, ``n_off``, ``alpha``, ``excess``, ``excess_err``, ``significance`` (Li & Ma),
        ``theta_cut``, ``theta2_cut`` (the bin edge used, deg²) and ``livetime`` (h, if given).
    """

    cut2 = Angle(theta_cut).deg ** 2
    upper = u.Quantity(table["theta2_max"], "deg2").value
    width = np.diff(u.Quantity(table["theta2_min"], "deg2").value[:2])[0] if len(table) > 1 else upper[0]
    inside = upper <= cut2 + 0.01 * width
    if not np.any(inside):
        inside[0] = True
    n_on = float(np.sum(table["counts"][inside]))
    n_off = np.asarray(table["counts_off"][inside], dtype=float)
    alpha_bins = np.asarray(table["alpha"][inside], dtype=float)
    alpha = float(np.sum(alpha_bins * n_off) / n_off.sum()) if n_off.sum() > 0 else float(alpha_bins.mean())
    stat = WStatCountsStatistic(n_on, n_off.sum(), alpha)
    summary = dict(n_on=int(n_on), n_off=int(n_off.sum()), alpha=alpha, excess=float(stat.n_sig),
                   excess_err=float(stat.error), significance=float(stat.sqrt_ts),
                   theta_cut=float(np.sqrt(upper[inside][-1])), theta2_cut=float(upper[inside][-1]))
    if livetime is not None:
        summary["livetime"] = float(u.Quantity(livetime).to_value("h"))
    return summary
