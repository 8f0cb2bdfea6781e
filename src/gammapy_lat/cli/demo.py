"""``gammapy-lat demo``: the built-in demonstration analysis (runs without any data download)."""
import logging

import click

from .common import handle_errors

# Imports of gammapy and of the package's layers are deferred into the commands: importing
# them takes several seconds, and `gammapy-lat --help` or a wrong option must answer at once.

__all__ = ["demo_command"]

log = logging.getLogger(__name__)


@click.command("demo")
@click.option("--outdir", default="gammapy-lat-demo", show_default=True, help="Output folder.")
@click.option("--caldb", default=None, help="CALDB root (default $CALDB; without one: SYNTHETIC response).")
@click.option("--synthetic", is_flag=True, help="Use the built-in SYNTHETIC response even if a CALDB is set.")
@click.option("--duration", default="3 d", show_default=True, help="Simulated time span.")
@click.option("--seed", type=int, default=0, show_default=True, help="Random seed.")
@click.option("--plots/--no-plots", default=True, show_default=True, help="Write PNG plots.")
@handle_errors
def demo_command(outdir, caldb, synthetic, duration, seed, plots):
    """Simulate, reduce, fit and plot a bright LAT source; print injected vs fitted values.

    Three days (by default) of survey observations of a bright point source on isotropic and
    Galactic-ridge backgrounds are simulated (FT1/FT2), reduced with the LAT makers into a
    Gammapy MapDataset, fitted from values away from the truth, and the SED is estimated.
    Products and plots are written to OUTDIR/products.
    """
    from ..simulate.demo import run_demo

    click.echo(f"gammapy-lat demo: simulating {duration} of LAT survey data into {outdir}/data ...")
    result = run_demo(outdir=outdir, caldb=caldb, synthetic=synthetic, duration=duration, seed=seed, plots=plots)
    timing = result["timing"]
    click.echo(
        f"{result['n_events']} events; simulate {timing['simulate']:.0f} s, reduce {timing['reduce']:.0f} s, "
        f"fit {timing['fit']:.0f} s, SED {timing['sed']:.0f} s; total {timing['total']:.0f} s"
    )
    click.echo("Products:")
    for key, path in result["files"].items():
        click.echo(f"  {key:<14} {path}")
    click.echo("")
    click.echo(result["summary"].rstrip())
