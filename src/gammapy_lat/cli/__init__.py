"""The ``gammapy-lat`` command line.

Subcommands live in their own modules of this package and are imported only when used, so that
``gammapy-lat --help`` stays fast. To add one, write ``cli/<name>.py`` defining a click command and
add it to ``COMMANDS``.
"""
import importlib
import logging
import os
import signal
import threading

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
    "quicklook": ("quicklook", "quicklook_command", "IACT quick-look: θ², sky maps, spectrum, light curves."),
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
@click.option(
    "--max-memory",
    type=click.FloatRange(0, None),
    default=None,
    metavar="GB",
    help="Refuse requests estimated to need more memory (GB; 0: no limit). "
    "Default: $GAMMAPY_LAT_MAX_MEMORY, else half of the physical memory.",
)
@click.option(
    "--max-tasks",
    type=click.IntRange(1, None),
    default=None,
    help="Refuse all-sky runs of more tasks. Default: $GAMMAPY_LAT_MAX_TASKS, else 200000.",
)
def cli(log_level, max_memory, max_tasks):
    """gammapy-lat: Fermi-LAT data reduction in Gammapy.

    Fermitools-compatible subcommands (select, mktime, bin, ltcube, expcube, psf, drm), the
    analysis runner (run, config, validate) and the IACT quick-look (quicklook).
    """
    from ..utils.resources import reset_limits, set_limits

    logging.basicConfig(level=log_level.upper(), format="%(levelname)s %(name)s: %(message)s")
    reset_limits()
    set_limits(max_memory_gb=max_memory, max_tasks=max_tasks)
    ctx = click.get_current_context()
    ctx.call_on_close(reset_limits)
    _terminate_on_sigterm(ctx)


_MAIN_PID = []


def _on_sigterm(signum, frame):
    if os.getpid() not in _MAIN_PID:
        # a worker forked by the command (terminated by its pool): die at once, as by default;
        # its temporary files are removed by the command once the pool has ended
        signal.signal(signum, signal.SIG_DFL)
        os.kill(os.getpid(), signum)
        return
    # unwinds the stack like Ctrl-C: atomic outputs remove their temporary files
    raise SystemExit(128 + signum)


def _terminate_on_sigterm(ctx):
    """Make SIGTERM in the command's process clean up as Ctrl-C does."""
    if threading.current_thread() is threading.main_thread():
        _MAIN_PID[:] = [os.getpid()]
        previous = signal.signal(signal.SIGTERM, _on_sigterm)
        ctx.call_on_close(lambda: signal.signal(signal.SIGTERM, previous))
