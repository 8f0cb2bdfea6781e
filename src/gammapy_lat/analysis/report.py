"""Report step: a text summary of the fit and estimator products, and plots."""
import logging
import warnings
from pathlib import Path

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import yaml
from astropy.table import Table
from gammapy.estimators import FluxMaps, FluxPoints
from gammapy.modeling.models import Models

from ..iact.plotting import plot_theta2
from ..iact.theta2 import Theta2Result
from ..utils import atomic_output
from .products import write_table

__all__ = ["write_report"]

log = logging.getLogger(__name__)


def _savefig(fig, path):
    with atomic_output(path, overwrite=True) as tmp:
        fig.savefig(tmp, format=Path(path).suffix[1:], dpi=110, bbox_inches="tight")
    return Path(path)


def _datasets_table(analysis):
    """Name, block, type, counts, excess, exposure time and energy range of every dataset."""

    rows = []
    for block in analysis.config.datasets:
        for dataset in analysis.block_datasets.get(block.name, []):
            info = dataset.info_dict()
            axis = dataset.counts.geom.axes["energy"]
            rows.append(
                {
                    "name": dataset.name,
                    "block": block.name,
                    "instrument": block.instrument,
                    "type": dataset.tag,
                    "counts": float(info.get("counts", np.nan)),
                    "excess": float(info.get("excess", np.nan)),
                    "livetime": float(getattr(info.get("livetime", np.nan), "value", info.get("livetime", np.nan))),
                    "e_min": float(axis.edges[0].to_value("TeV")),
                    "e_max": float(axis.edges[-1].to_value("TeV")),
                }
            )
    table = Table(rows=rows, names=list(rows[0])) if rows else Table()
    for col in ("counts", "excess", "livetime", "e_min", "e_max"):
        if col in table.colnames:
            table[col].format = ".4g"
    if "livetime" in table.colnames:
        table["livetime"].unit = "s"
        table["e_min"].unit = table["e_max"].unit = "TeV"
    return table


def write_report(analysis):
    """Write ``report/summary.txt`` and, if ``outputs.plots``, the SED and light-curve plots.

    Everything is read back from the products of the previous steps, so that the report is the
    same whether or not those steps ran in this session.
    """

    outdir = analysis.outdir
    folder = outdir / "report"
    fit_info = yaml.safe_load((outdir / "fit" / "fit_result.yaml").read_text())
    models = Models.read(outdir / "fit" / "models.yaml")
    products = []

    lines = ["Fit", "---"]
    for key in ("success", "message", "backend", "method", "nfev", "total_stat", "covariance_success"):
        lines.append(f"{key:>20s}: {fit_info[key]}")
    lines.append("")
    lines.append("Datasets (fit statistic at best fit)")
    for name, stat in fit_info["datasets"].items():
        lines.append(f"  {name:<40s} {stat:12.3f}")
    lines += ["", "Datasets", "--------"]
    lines += _datasets_table(analysis).pformat(max_lines=-1, max_width=-1)
    lines += ["", "Parameters", "----------"]
    table = models.parameters.to_table()
    table = table[~table["frozen"]] if "frozen" in table.colnames else table
    lines += table.pformat(max_lines=-1, max_width=-1)

    estimate = outdir / "estimate"
    cfg = analysis.config
    fps = {}
    if cfg.estimators.flux_points is not None:
        for path in sorted(estimate.glob("flux_points*.fits")):
            label = path.stem[len("flux_points_"):] if path.stem != "flux_points" else "all"
            fps[label] = FluxPoints.read(path, sed_type="likelihood")
        sed_path = estimate / "flux_points.ecsv"
        if sed_path.exists():

            lines += ["", f"Flux points of {cfg.estimators.flux_points.source}", "-" * 20]
            lines += Table.read(sed_path).pformat(max_lines=-1, max_width=-1)
    theta2 = {}
    if cfg.estimators.theta2 is not None:

        for path in sorted(estimate.glob("theta2_*.ecsv")):
            table = Table.read(path)
            signal = table.meta.get("signal")
            if not signal:
                continue
            theta2[path.stem[len("theta2_"):]] = table
            lines += ["", f"Theta^2 signal of {path.stem[len('theta2_'):]} (theta < {signal['theta_cut']:.3f} deg)",
                      "-" * 20,
                      f"  N_on={signal['n_on']} N_off={signal['n_off']} alpha={signal['alpha']:.3f} "
                      f"excess={signal['excess']:.1f}+-{signal['excess_err']:.1f} "
                      f"significance={signal['significance']:.2f} sigma (Li & Ma)"]
    with atomic_output(folder / "summary.txt", overwrite=True) as tmp:
        tmp.write_text("\n".join(lines) + "\n")
    products.append(folder / "summary.txt")
    products.append(write_table(models.parameters.to_table(), folder / "parameters.ecsv"))

    if cfg.outputs.plots:

        matplotlib.use("Agg", force=False)

        if fps:
            source = cfg.estimators.flux_points.source
            model = models[source]
            fig, ax = plt.subplots(figsize=(7, 5))
            emin = min(fp.energy_min.min() for fp in fps.values())
            emax = max(fp.energy_max.max() for fp in fps.values())
            model.spectral_model.plot([emin, emax], ax=ax, sed_type="e2dnde", label=source)
            cov = model.spectral_model.covariance
            if cov is not None and np.any(cov.data):
                model.spectral_model.plot_error([emin, emax], ax=ax, sed_type="e2dnde")
            for label, fp in fps.items():
                with warnings.catch_warnings():
                    # matplotlib's unit converter is re-set by each FluxPoints.plot call
                    warnings.filterwarnings("ignore", message=".*already has a converter.*")
                    fp.plot(ax=ax, sed_type="e2dnde", label=label)
            ax.legend()
            products.append(_savefig(fig, folder / "sed.png"))
            plt.close(fig)
        lc_path = estimate / "light_curve.fits"
        if cfg.estimators.light_curve is not None and lc_path.exists():
            lc = FluxPoints.read(lc_path, format="lightcurve")
            fig, ax = plt.subplots(figsize=(7, 4))
            lc.plot(ax=ax, sed_type="flux")
            products.append(_savefig(fig, folder / "light_curve.png"))
            plt.close(fig)
        for name, table in theta2.items():

            result = Theta2Result(table, None, dict(table.meta["signal"], livetime=table.meta["signal"].get("livetime", 0)))
            products.append(plot_theta2(result, folder / f"theta2_{name}.png", f"{name}: θ²"))
        for path in sorted(estimate.glob("excess_map_*.fits")):

            maps = FluxMaps.read(path)
            fig = plt.figure(figsize=(6, 5))
            maps.sqrt_ts.plot(add_cbar=True, fig=fig)
            products.append(_savefig(fig, folder / (path.stem + "_sqrt_ts.png")))
            plt.close(fig)
    return products
