"""PNG plots of likelihood-analysis products: maps, spectrum with SED points, residuals, TS map.

Every function writes one PNG atomically (`~gammapy_lat.utils.atomic_output`) and returns its path.
"""
from pathlib import Path

import astropy.units as u
import matplotlib
import matplotlib.pyplot as plt
import numpy as np

from ..utils import atomic_output

__all__ = ["plot_maps", "plot_spectrum", "plot_energy_residuals", "plot_ts_map"]


def _figure(**kwargs):
    matplotlib.use("Agg", force=False)

    return plt.figure(**kwargs)


def _save(fig, filename, overwrite):
    filename = Path(filename)
    with atomic_output(filename, overwrite=overwrite) as tmp:
        fig.savefig(tmp, format="png", dpi=100, bbox_inches="tight")
    plt.close(fig)
    return filename


def plot_maps(maps, filename, overwrite=False):
    """Counts, model, residual and significance maps side by side.

    Parameters
    ----------
    maps : dict of `~gammapy.maps.Map`
        Output of `~gammapy_lat.estimators.products.residual_maps`.
    filename : str or `~pathlib.Path`
        PNG file.
    overwrite : bool
        Replace an existing file.
    """
    geom = maps["counts"].geom.to_image()
    fig = _figure(figsize=(16, 4.2))
    panels = [
        ("counts", "Counts", "viridis", None),
        ("npred", "Model counts", "viridis", None),
        ("residual", "Counts − model", "RdBu_r", "sym"),
        ("significance", "Residual significance (σ)", "RdBu_r", "sym"),
    ]
    for i, (key, title, cmap, sym) in enumerate(panels):
        m = maps[key]
        if m.geom.is_image is False:
            m = m.sum_over_axes(keepdims=False)
        ax = fig.add_subplot(1, 4, i + 1, projection=geom.wcs)
        data = np.nan_to_num(m.data)
        kwargs = {}
        if sym:
            vmax = np.nanmax(np.abs(data)) or 1.0
            kwargs = {"vmin": -vmax, "vmax": vmax}
        im = ax.imshow(data, origin="lower", cmap=cmap, **kwargs)
        ax.set_title(title)
        fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
    return _save(fig, filename, overwrite)


def plot_spectrum(model, filename, flux_points=None, energy_bounds=None, sed_type="e2dnde", overwrite=False):
    """Spectral model with its 1σ band and SED points.

    Parameters
    ----------
    model : `~gammapy.modeling.models.SkyModel` or `~gammapy.modeling.models.SpectralModel`
        Fitted model (its covariance gives the band).
    filename : str or `~pathlib.Path`
        PNG file.
    flux_points : `~gammapy.estimators.FluxPoints`, optional
        SED points.
    energy_bounds : `~astropy.units.Quantity`, optional
        Energy range; default is that of the flux points, or 100 MeV–100 GeV.
    sed_type : str
        ``"e2dnde"``, ``"dnde"``, ``"flux"``...
    overwrite : bool
        Replace an existing file.
    """
    spectral = getattr(model, "spectral_model", model)
    if energy_bounds is None:
        if flux_points is not None:
            axis = flux_points.geom.axes["energy"]
            energy_bounds = u.Quantity([axis.edges[0], axis.edges[-1]])
        else:
            energy_bounds = [100, 1e5] * u.MeV
    energy_bounds = u.Quantity(energy_bounds).to("MeV")
    fig = _figure(figsize=(7, 5))
    ax = fig.add_subplot(1, 1, 1)
    spectral.plot(energy_bounds, ax=ax, sed_type=sed_type, energy_power=0, label="model")
    try:
        spectral.plot_error(energy_bounds, ax=ax, sed_type=sed_type, facecolor="C0", alpha=0.3)
    except Exception:
        pass
    if flux_points is not None:
        flux_points.plot(ax=ax, sed_type=sed_type, color="k", label="SED points")
    ax.legend()
    ax.set_title(getattr(model, "name", ""))
    return _save(fig, filename, overwrite)


def plot_energy_residuals(dataset, filename, overwrite=False):
    """Counts and model counts per energy bin (summed over the ROI) and their residuals.

    Parameters
    ----------
    dataset : `~gammapy.datasets.MapDataset`
        Dataset with its models.
    filename : str or `~pathlib.Path`
        PNG file.
    overwrite : bool
        Replace an existing file.
    """
    mask = dataset.mask
    counts = dataset.counts * mask if mask is not None else dataset.counts
    npred = dataset.npred() * mask if mask is not None else dataset.npred()
    c = counts.data.sum(axis=(1, 2))
    n = npred.data.sum(axis=(1, 2))
    axis = dataset.counts.geom.axes["energy"]
    e = axis.center.to_value("MeV")
    xerr = [e - axis.edges[:-1].to_value("MeV"), axis.edges[1:].to_value("MeV") - e]
    fig = _figure(figsize=(7, 6))
    ax1 = fig.add_axes([0.12, 0.35, 0.83, 0.6])
    ax2 = fig.add_axes([0.12, 0.1, 0.83, 0.23], sharex=ax1)
    ax1.errorbar(e, c, xerr=xerr, yerr=np.sqrt(c), fmt="o", color="k", label="counts")
    ax1.step(axis.edges.to_value("MeV"), np.append(n, n[-1]), where="post", label="model")
    ax1.set_xscale("log")
    ax1.set_yscale("log")
    ax1.set_ylabel("Counts per bin")
    ax1.legend()
    with np.errstate(invalid="ignore", divide="ignore"):
        res = (c - n) / np.sqrt(n)
    ax2.errorbar(e, res, xerr=xerr, yerr=np.where(n > 0, np.sqrt(np.maximum(c, 1) / n), np.nan), fmt="o", color="k")
    ax2.axhline(0, color="C0")
    ax2.set_xlabel("Energy (MeV)")
    ax2.set_ylabel("(counts − model)/√model")
    return _save(fig, filename, overwrite)


def plot_ts_map(maps, filename, overwrite=False):
    """√TS map.

    Parameters
    ----------
    maps : `~gammapy.estimators.FluxMaps` or `~gammapy.maps.Map`
        Output of `~gammapy_lat.estimators.products.ts_map` (its ``sqrt_ts``) or a map.
    filename : str or `~pathlib.Path`
        PNG file.
    overwrite : bool
        Replace an existing file.
    """
    m = maps["sqrt_ts"] if not hasattr(maps, "geom") or hasattr(maps, "available_quantities") else maps
    if not m.geom.is_image:
        data = np.nanmax(m.data.reshape((-1,) + m.data.shape[-2:]), axis=0)
        m = m.__class__.from_geom(m.geom.to_image(), data=data)
    fig = _figure(figsize=(6, 5))
    ax = fig.add_subplot(1, 1, 1, projection=m.geom.wcs)
    im = ax.imshow(np.nan_to_num(m.data), origin="lower", cmap="magma")
    fig.colorbar(im, ax=ax, label="√TS")
    ax.set_title("TS map")
    return _save(fig, filename, overwrite)
