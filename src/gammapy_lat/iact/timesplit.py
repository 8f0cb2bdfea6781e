"""Observations split into time bins, for light curves with bins shorter than a run.

Gammapy's `~gammapy.estimators.LightCurveEstimator` only uses datasets whose good time intervals
lie inside a light-curve bin, so bins shorter than a run need datasets made from pieces of runs.
Each run is cut into consecutive intervals of the bin width from its start (the last one holds the
remainder); `~gammapy.data.Observation.select_time` keeps the events and good time of each piece,
so the pieces' live times (and exposures) add up to the run's.
"""
import astropy.units as u
import numpy as np
from astropy.time import Time
from gammapy.data import Observations

from ..errors import SelectionError

__all__ = ["split_observations", "time_bins"]


def time_bins(observation, time_bin, min_fraction=0.1):
    """Time intervals of width ``time_bin`` covering an observation's good time.

    A last piece shorter than ``min_fraction`` of a bin is merged into the one before.

    Returns
    -------
    intervals : list of `~astropy.time.Time`
        ``[start, stop]`` pairs.
    """
    width = u.Quantity(time_bin).to_value("s")
    if width <= 0:
        raise SelectionError(f"time bin must be positive, got {time_bin}")
    start, stop = observation.tstart, observation.tstop
    duration = (stop - start).to_value("s")
    n = max(int(np.ceil(duration / width - 1e-9)), 1)
    edges = [min(k * width, duration) for k in range(n + 1)]
    if n > 1 and edges[-1] - edges[-2] < min_fraction * width:
        edges.pop(-2)
    return [Time([start + a * u.s, start + b * u.s]) for a, b in zip(edges[:-1], edges[1:])]


def split_observations(observations, time_bin, min_fraction=0.1):
    """Split every observation into time bins.

    Parameters
    ----------
    observations : `~gammapy.data.Observations`
        Runs.
    time_bin : `~astropy.units.Quantity`
        Bin width (e.g. ``10 min``).
    min_fraction : float
        A last piece shorter than this fraction of a bin joins the previous one.

    Returns
    -------
    pieces : `~gammapy.data.Observations`
        One observation per piece, with the run's ``obs_id``.
    intervals : list of `~astropy.time.Time`
        The pieces' ``[start, stop]``, in the same order.
    """

    pieces, intervals = [], []
    for obs in observations:
        for interval in time_bins(obs, time_bin, min_fraction):
            piece = obs.select_time(interval)
            if piece.observation_time_duration.to_value("s") <= 0:
                continue
            pieces.append(piece)
            intervals.append(interval)
    return Observations(pieces), intervals
