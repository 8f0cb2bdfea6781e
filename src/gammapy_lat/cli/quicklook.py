"""``gammapy-lat quicklook``: IACT quick-look analysis of a target in one command."""
import click

from .common import handle_errors

__all__ = ["quicklook_command"]


def _time_bin(ctx, param, value):
    if value is None or str(value).lower() in ("none", "0", "off"):
        return None
    import astropy.units as u

    text = str(value).strip().replace("min", " min").replace("  ", " ")
    try:
        quantity = u.Quantity(text)
    except (TypeError, ValueError):
        raise click.BadParameter(f"{value!r}: give a duration like 10min or 300s") from None
    if quantity.unit.physical_type != "time":
        raise click.BadParameter(f"{value!r}: give a duration like 10min or 300s")
    return quantity


@click.command("quicklook")
@click.argument("dl3_dir", type=click.Path(exists=True))
@click.option("--target", required=True, help="Target name (built-in table or obs-index OBJECT) or RA,DEC in degrees.")
@click.option("--date", default=None, help="Night(s) by the date of the evening: YYYY-MM-DD or YYYY-MM-DD/YYYY-MM-DD.")
@click.option("--runs", default=None, help="Run ids: 23523,23526 or ranges 33787-33801.")
@click.option("-o", "--outdir", default=None, help="Output folder (default quicklook-<target>[-<date>]).")
@click.option("--background", type=click.Choice(["auto", "dl3", "off-runs", "self"]), default="auto",
              show_default=True, help="Sky-map background template: the DL3 bkg IRF, a model from OFF runs, or "
              "from the ON runs with the target excluded; auto: dl3 if present, else OFF runs tagged in the "
              "obs-index, else self.")
@click.option("--off-runs", default=None, help="OFF run ids for --background off-runs.")
@click.option("--ring", type=click.Choice(["ring", "adaptive"]), default="ring", show_default=True,
              help="Ring or adaptive-ring background of the sky maps.")
@click.option("--emin", default=None, help="Lowest reconstructed energy, e.g. 0.3TeV (default: safe threshold).")
@click.option("--emax", default="100 TeV", show_default=True, help="Highest reconstructed energy.")
@click.option("--theta-cut", default=None, help="θ cut of θ² and maps, e.g. 0.1deg (default: RAD_MAX or 0.11 deg); "
              "with point-like IRFs the spectrum keeps their RAD_MAX.")
@click.option("--zenith-max", default="60 deg", show_default=True, help="Largest zenith angle of the runs.")
@click.option("--max-offset", default="2.5 deg", show_default=True, help="Largest distance of the pointings from the target.")
@click.option("--spectral-model", type=click.Choice(["pl", "lp"]), default="pl", show_default=True,
              help="Power law or log-parabola.")
@click.option("--time-bin", default="10min", show_default=True, callback=_time_bin,
              help="Intra-night light-curve bin (none: run-wise only).")
@click.option("--no-maps", is_flag=True, help="Skip the sky maps.")
@click.option("--no-spectrum", is_flag=True, help="Skip the spectrum and light curves.")
@click.option("--no-light-curve", is_flag=True, help="Skip the light curves.")
@click.option("--clobber/--no-clobber", default=False, show_default=True, help="Replace an earlier quick-look in the output folder.")
@handle_errors
def quicklook_command(dl3_dir, target, date, runs, outdir, background, off_runs, ring, emin, emax, theta_cut,
                      zenith_max, max_offset, spectral_model, time_bin, no_maps, no_spectrum, no_light_curve, clobber):
    """Quick-look analysis of TARGET in the DL3 data store DL3_DIR.

    Run selection (printed), θ² with the Li & Ma significance, significance and excess maps,
    1D spectrum (reflected or wobble OFF regions, RAD_MAX when present), run-wise and intra-night
    light curves, and an HTML page (index.html) with a Markdown summary in the output folder.
    """
    from ..errors import ConfigError
    from ..iact import QuickLook

    def quantity(text):
        return None if text is None else str(text).replace("TeV", " TeV").replace("GeV", " GeV").replace(
            "deg", " deg").strip()

    settings = dict(
        datastore=dl3_dir, target=target, date=date, runs=runs, outdir=outdir,
        background=background.replace("-", "_"), off_runs=off_runs,
        ring="adaptive_ring" if ring == "adaptive" else "ring",
        energy_min=quantity(emin), energy_max=quantity(emax), theta_cut=quantity(theta_cut),
        zenith_max=quantity(zenith_max), max_offset=quantity(max_offset), spectral_model=spectral_model, time_bin=time_bin,
        maps=not no_maps, spectrum=not no_spectrum, light_curve=not (no_spectrum or no_light_curve),
    )
    settings = {k: v for k, v in settings.items() if v is not None or k == "time_bin"}
    quicklook = QuickLook(settings, overwrite=clobber)
    summary = quicklook.run()
    click.echo(quicklook.selection.format())
    t2 = summary.get("theta2")
    if t2:
        click.echo(f"θ²: N_on={t2['n_on']} N_off={t2['n_off']} alpha={t2['alpha']:.3f} "
                   f"excess={t2['excess']:.1f} significance={t2['significance']:.1f} sigma (Li & Ma)")
    if "maps" in summary:
        m = summary["maps"]
        click.echo(f"maps: peak {m['peak_significance']:.1f} sigma, {m['peak_offset_deg']:.3f} deg from the target")
    if "spectrum" in summary:
        sp = summary["spectrum"]
        click.echo(f"flux above {sp['flux_above_TeV']:.2g} TeV: {sp['integral_flux'][0]:.3g} ± "
                   f"{sp['integral_flux'][1]:.2g} cm-2 s-1 ({sp['crab_units']:.2f} Crab)")
    click.echo(f"page: {quicklook.outdir / 'index.html'}")
    failed = summary.get("failed_steps")
    if failed:
        raise ConfigError("quick-look steps failed: " + "; ".join(f"{k}: {v}" for k, v in failed.items()))
