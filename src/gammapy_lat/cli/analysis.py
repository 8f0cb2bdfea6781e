"""``gammapy-lat run``, ``gammapy-lat config`` and ``gammapy-lat validate``: the YAML analysis runner."""
import sys

import click

from .common import handle_errors

# Imports of gammapy and of the package's layers are deferred into the commands: importing
# them takes several seconds, and `gammapy-lat --help` or a wrong option must answer at once.

__all__ = ["run_command", "config_command", "validate_command"]

STEP_NAMES = ("reduce", "fit", "estimate", "report")


def _split_steps(ctx, param, value):
    steps = []
    for item in value:
        steps.extend(s.strip() for s in item.split(",") if s.strip())
    bad = [s for s in steps if s not in STEP_NAMES]
    if bad:
        raise click.BadParameter(f"unknown step(s) {bad}; choose from {', '.join(STEP_NAMES)}")
    return steps


@click.command("run")
@click.argument("config", type=click.Path(dir_okay=False))
@click.option(
    "--steps",
    multiple=True,
    callback=_split_steps,
    help="Steps to run (comma-separated or repeated): reduce, fit, estimate, report. Default: all.",
)
@click.option("--force", is_flag=True, help="Rerun the requested steps even if they are up to date.")
@click.option("--outdir", default=None, help="Override general.outdir.")
@click.option("--data-root", default=None, help="Override general.data_root (default: $GAMMAPY_LAT_DATA).")
@handle_errors
def run_command(config, steps, force, outdir, data_root):
    """Run the analysis described in the YAML file CONFIG.

    Steps that are up to date (same settings, same input files) are skipped; a changed setting
    reruns the steps that depend on it. Products are written under general.outdir.
    """
    from ..analysis import Analysis, AnalysisConfig

    cfg = AnalysisConfig.read(config)
    if outdir is not None:
        cfg.general.outdir = outdir
    if data_root is not None:
        cfg.general.data_root = data_root
    analysis = Analysis(cfg)
    analysis.run(steps=steps or None, force=force)
    click.echo(analysis.summary())


@click.command("config")
@click.option(
    "--template",
    "kind",
    type=click.Choice(["lat", "iact", "joint"]),
    default="joint",
    show_default=True,
    help="Which template to write.",
)
@click.option("-o", "--outfile", default=None, type=click.Path(dir_okay=False), help="Write to this file instead of stdout.")
@click.option("--clobber/--no-clobber", default=False, show_default=True, help="Overwrite an existing output file.")
@handle_errors
def config_command(kind, outfile, clobber):
    """Write a fully commented template config (every setting with its default)."""
    from ..analysis import AnalysisConfig
    from ..utils import atomic_output

    text = AnalysisConfig.template(kind)
    if outfile is None:
        click.echo(text, nl=False)
        return
    with atomic_output(outfile, overwrite=clobber) as tmp:
        tmp.write_text(text)
    click.echo(f"Wrote {outfile}", err=True)


@click.command("validate")
@click.argument("config", type=click.Path(dir_okay=False))
@click.option("--show", is_flag=True, help="Print the full config with all defaults filled in.")
@handle_errors
def validate_command(config, show):
    """Check CONFIG (keys, units, ranges, input files) without running anything."""
    from ..analysis import AnalysisConfig

    cfg = AnalysisConfig.read(config)
    cfg.check_inputs()
    if show:
        click.echo(cfg.to_yaml(), nl=False)
    blocks = ", ".join(f"{b.name} ({b.instrument})" for b in cfg.datasets)
    click.echo(f"{config}: valid; datasets blocks: {blocks}", err=show)
    sys.stdout.flush()
