"""Options and helpers shared by the subcommands."""
import functools

import click

from ..errors import GammapyLATError

__all__ = ["handle_errors", "clobber_option", "outfile_option", "irf_name_option", "check_output"]


def check_output(outfile, clobber, ascii_name=False):
    """Check before any work that ``outfile`` may be written (exists without --clobber, folder)."""
    from ..utils import check_output_path

    try:
        check_output_path(outfile, overwrite=clobber, ascii_name=ascii_name)
    except FileExistsError:
        raise FileExistsError(f"Output file {outfile} already exists; use --clobber to overwrite it") from None


def handle_errors(func):
    """Turn gammapy-lat errors into a one-line ``Error: ...`` message and exit status 1."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except (GammapyLATError, FileNotFoundError, FileExistsError) as exc:
            raise click.ClickException(str(exc)) from exc

    return wrapper


clobber_option = click.option(
    "--clobber/--no-clobber", default=False, show_default=True, help="Overwrite an existing output file."
)
outfile_option = click.option(
    "-o", "--outfile", required=True, type=click.Path(dir_okay=False), help="Output FITS file."
)


def _deprecated_irf(ctx, param, value):
    if value is not None:
        click.echo("Warning: --irf is deprecated and will be removed; use --irf_name (or --irfs)", err=True)
    return value


def irf_name_option(func):
    """``--irf_name`` (also ``--irfs``, the Fermitools name; ``--irf`` is deprecated), given to
    the command as its ``irf_name`` argument."""

    @functools.wraps(func)
    def wrapper(*args, irf_name=None, irf_deprecated=None, **kwargs):
        irf_name = irf_name or irf_deprecated
        if irf_name is None:
            raise click.UsageError("Missing option '--irf_name' (the IRF name, e.g. P8R2_SOURCE_V6)")
        return func(*args, irf_name=irf_name, **kwargs)

    wrapper = click.option(
        "--irf", "irf_deprecated", default=None, hidden=True, callback=_deprecated_irf
    )(wrapper)
    return click.option(
        "--irf_name", "--irfs", "irf_name", default=None,
        help="IRF name, e.g. P8R2_SOURCE_V6 (--irfs, the Fermitools name, also works).",
    )(wrapper)
