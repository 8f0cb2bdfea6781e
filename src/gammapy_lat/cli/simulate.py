"""``gammapy-lat simulate``: write simulated FT1/FT2 files from a YAML configuration."""
import logging
from pathlib import Path

import click

from .common import clobber_option, handle_errors

# Imports of gammapy and of the package's layers are deferred into the commands: importing
# them takes several seconds, and `gammapy-lat --help` or a wrong option must answer at once.

__all__ = ["simulate_command"]

log = logging.getLogger(__name__)


@click.command("simulate")
@click.argument("config", required=False, type=click.Path(dir_okay=False))
@click.option("--outdir", default=None, help="Output folder (overrides outputs.outdir).")
@click.option("--seed", type=int, default=None, help="Random seed (overrides seed).")
@click.option("--caldb", default=None, help="CALDB root (overrides irf.caldb and $CALDB).")
@click.option("--synthetic", is_flag=True, help="Use the built-in SYNTHETIC response even if a CALDB is set.")
@click.option(
    "--write-default",
    type=click.Path(dir_okay=False),
    default=None,
    help="Write the embedded default configuration to this file and exit.",
)
@click.option("--validate", "validate_only", is_flag=True, help="Only validate the configuration.")
@clobber_option
@handle_errors
def simulate_command(config, outdir, seed, caldb, synthetic, write_default, validate_only, clobber):
    """Simulate LAT spacecraft (FT2) and event (FT1) files.

    CONFIG is a YAML simulation configuration; without it the embedded default is used (three
    days of a bright point source on isotropic and Galactic-ridge backgrounds). Without a CALDB
    the events are simulated with the built-in SYNTHETIC response.
    """
    from ..simulate.config import SimulationConfig, default_config_text, run_simulation
    from ..utils import atomic_output

    if write_default:
        with atomic_output(write_default, overwrite=clobber) as tmp:
            Path(tmp).write_text(default_config_text())
        click.echo(f"Wrote the default simulation configuration to {write_default}")
        return
    cfg = SimulationConfig.read(config) if config else SimulationConfig.default()
    if outdir is not None:
        cfg.outputs.outdir = str(Path(outdir).resolve())
    if seed is not None:
        cfg.seed = seed
    if caldb is not None:
        cfg.irf.caldb = str(Path(caldb).resolve())
    if synthetic:
        cfg.irf.synthetic = True
    if cfg.outputs.ft1:
        cfg.get_models()  # validate the models early
    if validate_only:
        click.echo(f"{config or 'default configuration'}: valid")
        return
    result = run_simulation(cfg, overwrite=clobber)
    if "ft2" in result:
        sc = result["spacecraft"]
        click.echo(f"FT2: {result['ft2']} ({len(sc)} rows, livetime {float(sc['LIVETIME'].sum()):.0f} s)")
    if "ft1" in result:
        events = result["events"]
        label = " (SYNTHETIC response)" if result["synthetic"] else ""
        click.echo(f"FT1: {result['ft1']} ({len(events)} events, IRF {result['irfs'].irf_name}{label})")
        import numpy as np

        counts = np.bincount(events.meta_simulation["source_index"], minlength=len(cfg.get_models()))
        for model, n in zip(cfg.get_models(), counts):
            click.echo(f"  {model.name}: {n} events")
