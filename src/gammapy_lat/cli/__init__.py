"""The ``gammapy-lat`` command line.

Subcommands live in their own modules of this package and are imported only when used, so that
``gammapy-lat --help`` stays fast. To add one, write ``cli/<name>.py`` defining a click command and
add it to ``COMMANDS``.
"""
import importlib
import logging

import click

from .. import __version__

__all__ = ["cli", "COMMANDS"]

# command name -> (module in this package, attribute, one-line help)
COMMANDS = {
    "demo": ("demo", "demo_command", "Run the built-in demonstration analysis."),
    "select": ("select", "select_command", "Select events (gtselect)."),
    "mktime": ("mktime", "mktime_command", "Good-time selection from the spacecraft file (gtmktime)."),
    "bin": ("bin", "bin_command", "Bin events into a counts cube (gtbin)."),
    "ltcube": ("ltcube", "ltcube_command", "Compute a livetime cube (gtltcube)."),
    "ltsum": ("ltcube", "ltsum_command", "Add livetime cubes (gtltsum)."),
    "expcube": ("expcube", "expcube_command", "Compute an exposure cube (gtexpcube2)."),
    "psf": ("expcube", "psf_command", "Compute the livetime-averaged PSF (gtpsf)."),
    "drm": ("expcube", "drm_command", "Compute the energy-dispersion matrix (gtdrm)."),
    "expmap": ("unbinned", "expmap_command", "Exposure map of the unbinned likelihood (gtexpmap)."),
    "diffrsp": ("unbinned", "diffrsp_command", "Diffuse responses of the events (gtdiffrsp)."),
    "simulate": ("simulate", "simulate_command", "Simulate FT1/FT2 files."),
    "run": ("analysis", "run_command", "Run an analysis from a YAML config."),
    "config": ("analysis", "config_command", "Write a commented template config."),
    "validate": ("analysis", "validate_command", "Validate a YAML config."),
    "allsky": ("allsky", "allsky_command", "All-sky, multi-file counts and exposure pipeline."),
}


class _LazyGroup(click.Group):
    def list_commands(self, ctx):
        return sorted(name for name in COMMANDS if self._available(name))

    @staticmethod
    def _available(name):
        module = COMMANDS[name][0]
        return importlib.util.find_spec(f"{__name__}.{module}") is not None

    def get_command(self, ctx, name):
        if name not in COMMANDS or not self._available(name):
            return None
        module, attr, _ = COMMANDS[name]
        return getattr(importlib.import_module(f"{__name__}.{module}"), attr)

    def format_commands(self, ctx, formatter):
        rows = [(name, COMMANDS[name][2]) for name in self.list_commands(ctx)]
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


@click.group(cls=_LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="gammapy-lat")
@click.option(
    "--log-level",
    default="INFO",
    show_default=True,
    type=click.Choice(["DEBUG", "INFO", "WARNING", "ERROR"], case_sensitive=False),
    help="Logging level.",
)
def cli(log_level):
    """gammapy-lat: Fermi-LAT data reduction in Gammapy.

    Fermitools-compatible subcommands (select, mktime, bin, ltcube, expcube, psf, drm) and the
    analysis runner (run, config, validate).
    """
    logging.basicConfig(level=log_level.upper(), format="%(levelname)s %(name)s: %(message)s")
