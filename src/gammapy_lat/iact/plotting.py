"""Quick-look plots: θ², sky maps, significance distribution, SED, counts spectrum and light
curves. Each function draws on a new figure, writes a PNG atomically and returns its path."""
import warnings

import astropy.units as u
import matplotlib.dates as mdates
import matplotlib.pyplot as plt
import numpy as np
from scipy.stats import norm

from ..utils import atomic_output

__all__ = [
    "plot_theta2",
    "plot_sky_maps",
    "plot_significance_distribution",
    "plot_sed",
    "plot_counts_spectrum",
    "plot_light_curves",
]


def _save(fig, path):
    with atomic_output(path, overwrite=True) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)
    return path


def _figure(*args, **kwargs):
    return plt.figure(*args, **kwargs)


def plot_theta2(result, path, title):
    """ON counts and α-scaled OFF counts against θ², the cut and the signal numbers."""
    table, s = result.table, result.summary
    fig = _figure(figsize=(7, 5))
    ax = fig.add_subplot(111)
    lo, hi = table["theta2_min"].quantity.value, table["theta2_max"].quantity.value
    center = 0.5 * (lo + hi)
    off = np.asarray(table["alpha"] * table["counts_off"])
    off_err = np.asarray(table["alpha"] * np.sqrt(table["counts_off"]))
    ax.bar(center, 2 * off_err, bottom=off - off_err, width=hi - lo, color="tab:gray", alpha=0.35,
           label="OFF × α (±1σ)")
    ax.step(np.append(lo, hi[-1]), np.append(off, off[-1]), where="post", color="tab:gray")
    ax.errorbar(center, table["counts"], yerr=np.sqrt(table["counts"]), xerr=(hi - lo) / 2,
                fmt="o", ms=3, color="tab:blue", label="ON")
    cut = s["theta2_cut"]
    label = "cut (mean RAD_MAX²)" if s["theta_cut"] == "RAD_MAX" else f"cut θ² = {cut:.4f} deg²"
    ax.axvline(cut, ls="--", color="tab:red", label=label)
    ax.set_xlabel("θ² [deg²]")
    ax.set_ylabel("Counts")
    ax.set_xlim(0, hi[-1])
    ax.set_ylim(bottom=0)
    text = (
        f"N_on = {s['n_on']}\nN_off = {s['n_off']}, α = {s['alpha']:.3f}\n"
        f"excess = {s['excess']:.1f} ± {s['excess_err']:.1f}\n"
        f"significance (Li & Ma) = {s['significance']:.1f} σ\n"
        f"live time = {s['livetime']:.2f} h"
    )
    ax.text(0.97, 0.97, text, transform=ax.transAxes, ha="right", va="top", fontsize=9,
            bbox=dict(boxstyle="round", fc="white", ec="0.7"))
    ax.legend(loc="center right", fontsize=9)
    ax.set_title(title)
    fig.tight_layout()
    return _save(fig, path)


def plot_sky_maps(significance, excess, path, title, target=None, exclusion=None):
    """Significance and excess maps side by side (WCS axes, colour bars with units)."""
    fig = _figure(figsize=(12, 5))
    images = [(significance, "Significance [σ]", "RdBu_r", True), (excess, "Excess [counts]", "viridis", False)]
    for idx, (m, label, cmap, symmetric) in enumerate(images):
        image = m.sum_over_axes(keepdims=False) if m.geom.is_image is False else m
        ax = fig.add_subplot(1, 2, idx + 1, projection=image.geom.wcs)
        data = np.asarray(image.data, dtype=float)
        finite = data[np.isfinite(data)]
        if symmetric:
            # the same scale for positive and negative fluctuations; the source saturates and is
            # drawn with contours
            kwargs = dict(vmin=-5, vmax=5)
        else:
            kwargs = dict(vmin=np.nanpercentile(finite, 1) if finite.size else None,
                          vmax=np.nanmax(finite) if finite.size else None)
        im = ax.imshow(data, origin="lower", cmap=cmap, interpolation="nearest", **kwargs)
        if symmetric and finite.size:
            peak = np.nanmax(finite)
            levels = [lvl for lvl in (5, 10, 20, 40, 80) if lvl < peak]
            if levels:
                ax.contour(data, levels=levels, colors="k", linewidths=0.7)
            ax.text(0.02, 0.98, f"peak {peak:.1f} σ; contours " + ", ".join(f"{lvl}" for lvl in levels) + " σ",
                    transform=ax.transAxes, va="top", fontsize=8, bbox=dict(fc="white", ec="0.7", alpha=0.8))
        if exclusion is not None:
            ax.contour(exclusion.data.astype(float), levels=[0.5], colors="0.4" if symmetric else "w",
                       linewidths=0.8, linestyles="dotted")
        if target is not None:
            ax.scatter(target.icrs.ra.deg, target.icrs.dec.deg, transform=ax.get_transform("icrs"),
                       marker="+", s=80, color="k" if symmetric else "w")
        ax.coords[0].set_axislabel("Right ascension")
        ax.coords[1].set_axislabel("Declination")
        cbar = fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04, extend="both" if symmetric else "neither")
        cbar.set_label(label)
        ax.set_title(label.split(" [")[0])
    fig.suptitle(title)
    fig.tight_layout()
    return _save(fig, path)


def plot_significance_distribution(values, path, title):
    """Histogram of map significances outside the exclusion regions with a Gaussian fit."""

    values = np.asarray(values, dtype=float)
    values = values[np.isfinite(values)]
    mu, sigma = norm.fit(values) if values.size > 10 else (np.nan, np.nan)
    fig = _figure(figsize=(6.5, 4.5))
    ax = fig.add_subplot(111)
    bins = np.linspace(-6, 8, 57)
    ax.hist(values, bins=bins, histtype="stepfilled", alpha=0.5, color="tab:blue", label="pixels outside exclusion")
    x = np.linspace(-6, 8, 400)
    scale = values.size * (bins[1] - bins[0])
    ax.plot(x, scale * norm.pdf(x, 0, 1), color="k", ls="--", label="N(0, 1)")
    if np.isfinite(mu):
        ax.plot(x, scale * norm.pdf(x, mu, sigma), color="tab:red", label=f"fit: μ = {mu:.2f}, σ = {sigma:.2f}")
    ax.set_yscale("log")
    ax.set_ylim(0.5, None)
    ax.set_xlabel("Significance [σ]")
    ax.set_ylabel("Pixels")
    ax.legend(fontsize=9)
    ax.set_title(title)
    fig.tight_layout()
    _save(fig, path)
    return path, float(mu), float(sigma)


def plot_sed(flux_points, model, path, title, energy_range, reference=None):
    """E² dN/dE: flux points, the fitted model with its 1σ band, optionally a reference."""
    fig = _figure(figsize=(7, 5))
    ax = fig.add_subplot(111)
    kwargs = dict(energy_bounds=u.Quantity(energy_range), sed_type="e2dnde", ax=ax)
    model.plot(label="best fit", color="tab:red", **kwargs)
    model.plot_error(facecolor="tab:red", alpha=0.25, **kwargs)
    if reference is not None:
        reference[0].plot(label=reference[1], color="0.4", ls="--", **kwargs)
    if flux_points is not None:
        with warnings.catch_warnings():
            # matplotlib's unit converter is re-set by FluxPoints.plot
            warnings.filterwarnings("ignore", message=".*already has a converter.*")
            flux_points.plot(ax=ax, sed_type="e2dnde", color="k", label="flux points")
    energies = np.geomspace(*u.Quantity(energy_range).to_value("TeV"), 50) * u.TeV
    e2dnde = (energies**2 * model(energies)).to_value("TeV cm-2 s-1")
    ax.set_ylim(np.nanmin(e2dnde) / 5, np.nanmax(e2dnde) * 5)
    ax.set_xlabel("Energy [TeV]")
    ax.set_ylabel("E² dN/dE [TeV cm⁻² s⁻¹]")
    ax.legend(fontsize=9)
    ax.set_title(title)
    fig.tight_layout()
    return _save(fig, path)


def plot_counts_spectrum(dataset, path, title):
    """Excess counts per energy bin against the fitted model's predicted excess."""
    fig = _figure(figsize=(7, 5))
    ax = fig.add_subplot(111)
    axis = dataset.counts.geom.axes["energy"]
    mask = dataset.mask_safe.data.ravel() if dataset.mask_safe is not None else np.ones(axis.nbin, bool)
    excess = dataset.excess.data.ravel()
    err = np.sqrt(dataset.counts.data.ravel() + (dataset.alpha.data.ravel() ** 2) * dataset.counts_off.data.ravel())
    center = axis.center.to_value("TeV")
    ax.errorbar(center[mask], excess[mask], yerr=err[mask], fmt="o", color="k", label="excess (safe range)")
    if np.any(~mask):
        ax.errorbar(center[~mask], excess[~mask], yerr=err[~mask], fmt="o", color="0.7", label="outside safe range")
    if dataset.models is not None and len(dataset.models) > 0:
        npred = dataset.npred_signal().data.ravel()
        ax.step(axis.edges.to_value("TeV"), np.append(npred, npred[-1]), where="post", color="tab:red",
                label="model")
    ax.set_xscale("log")
    ax.set_xlabel("Reconstructed energy [TeV]")
    ax.set_ylabel("Excess counts")
    ax.axhline(0, color="0.5", lw=0.8)
    ax.legend(fontsize=9)
    ax.set_title(title)
    fig.tight_layout()
    return _save(fig, path)


def _nights(times, gap_hours=6):
    """Group sorted datetimes into nights separated by more than ``gap_hours``."""
    groups = [[times[0], times[0]]]
    for t in times[1:]:
        if (t - groups[-1][1]).total_seconds() > gap_hours * 3600:
            groups.append([t, t])
        else:
            groups[-1][1] = t
    return groups


def plot_light_curves(curves, path, title, unit="cm-2 s-1"):
    """Integral flux against time (UTC) for several light curves (label -> FluxPoints); one
    panel per night (up to four nights, else one panel)."""

    series = []
    for label, lc in curves.items():
        axis = lc.geom.axes["time"]
        t0 = list(axis.time_min.utc.datetime)
        t1 = list(axis.time_max.utc.datetime)
        flux = lc.flux.quantity.to_value(unit).ravel()
        err = lc.flux_err.quantity.to_value(unit).ravel()
        is_ul = lc.is_ul.data.ravel() if lc.is_ul is not None else np.zeros(flux.shape, bool)
        ul = lc.flux_ul.quantity.to_value(unit).ravel() if lc.flux_ul is not None else None
        series.append((label, t0, t1, flux, err, is_ul, ul))
    starts = sorted(t for s in series for t in s[1] + s[2])
    nights = _nights(starts)
    if len(nights) > 4:
        nights = [[starts[0], starts[-1]]]
    fig = _figure(figsize=(max(6, 4.5 * len(nights)), 4.8))
    styles = [dict(color="tab:blue", fmt="o", ms=5), dict(color="tab:orange", fmt="s", ms=3)]
    axes = [fig.add_subplot(1, len(nights), i + 1) for i in range(len(nights))]
    for ax, (n0, n1) in zip(axes, nights):
        for (label, t0, t1, flux, err, is_ul, ul), style in zip(series, styles):
            sel = np.array([(a >= n0) and (b <= n1) for a, b in zip(t0, t1)])
            if not np.any(sel):
                continue
            mid = np.array([a + (b - a) / 2 for a, b in zip(t0, t1)])
            xerr = np.array([[(m - a) for a, m in zip(t0, mid)], [(b - m) for b, m in zip(t1, mid)]])
            ok = sel & ~is_ul
            ax.errorbar(mid[ok], flux[ok], yerr=err[ok], xerr=xerr[:, ok], label=label, **style)
            if ul is not None and np.any(sel & is_ul):
                up = sel & is_ul
                ax.errorbar(mid[up], ul[up], yerr=0.15 * ul[up], xerr=xerr[:, up], uplims=True,
                            fmt="none", color=style["color"])
        ax.xaxis.set_major_formatter(mdates.DateFormatter("%H:%M"))
        ax.set_xlabel(f"Time [UTC] on {n0:%Y-%m-%d}" + (f" - {n1:%m-%d}" if n1.date() != n0.date() else ""))
        ax.set_ylim(bottom=0)
        ax.tick_params(axis="x", labelrotation=30)
    axes[0].set_ylabel(f"Flux [{u.Unit(unit).to_string('unicode')}]")
    top = max(ax.get_ylim()[1] for ax in axes)
    for ax in axes:
        ax.set_ylim(0, top)
    axes[0].legend(fontsize=9)
    fig.suptitle(title)
    fig.tight_layout()
    return _save(fig, path)
