"""``gammapy-lat mktime``: good-time selection from the spacecraft file (gtmktime)."""
import click

from .common import clobber_option, handle_errors, outfile_option
from .select import OPTIONAL_FLOAT, YesNo

__all__ = ["mktime_command"]


@click.command("mktime")
@click.option("--scfile", required=True, help="Spacecraft (FT2) file(s): file, glob or @list.txt.")
@click.option(
    "--filter",
    "filter_expr",
    default="(DATA_QUAL>0)&&(LAT_CONFIG==1)",
    show_default=True,
    help="Filter expression over the FT2 columns, e.g. '(DATA_QUAL>0)&&(LAT_CONFIG==1)&&ABS(ROCK_ANGLE)<52'.",
)
@click.option("--roicut", type=YesNo(), default="no", show_default=True, help="Apply the ROI-based zenith-angle cut.")
@click.option("--evfile", required=True, help="Input FT1 file(s): file, glob or @list.txt.")
@outfile_option
@click.option("--apply_filter", "--apply-filter", "apply_filter", type=YesNo(), default="yes", show_default=True, help="Apply the filter expression (no: only tstart/tstop).")
@click.option("--header_obstimes", "--header-obstimes", "header_obstimes", type=YesNo(), default="yes", show_default=True, help="Set TSTART/TSTOP to the bounds of the new GTIs.")
@click.option("--tstart", type=OPTIONAL_FLOAT, default=None, help="Start time (MET, s); 0 or INDEF: none.")
@click.option("--tstop", type=OPTIONAL_FLOAT, default=None, help="Stop time (MET, s); 0 or INDEF: none.")
@clobber_option
@handle_errors
def mktime_command(scfile, filter_expr, roicut, evfile, outfile, apply_filter, header_obstimes, tstart, tstop, clobber):
    """Good-time selection from the spacecraft file (gtmktime).

    An FT2 row is good when the filter holds for it (and, with --roicut yes, when the ROI cone of
    the events lies within their maximum zenith angle); contiguous good rows merge into GTIs, which
    are intersected with the event file's GTIs. Events outside the new GTIs are dropped.

    Example:

    \b
        gammapy-lat mktime --scfile ft2.fits --evfile sel.fits -o sel_gti.fits \\
            --filter '(DATA_QUAL>0)&&(LAT_CONFIG==1)' --roicut no
    """
    from ..data import mktime, read_events, read_spacecraft

    tstart = None if tstart is not None and tstart <= 0 else tstart
    tstop = None if tstop is not None and tstop <= 0 else tstop
    events = read_events(evfile)
    spacecraft = read_spacecraft(scfile)
    result = mktime(
        events,
        spacecraft,
        filter=filter_expr,
        roicut=roicut,
        apply_filter=apply_filter,
        header_obstimes=header_obstimes,
        tstart=tstart,
        tstop=tstop,
    )
    result.write(outfile, overwrite=clobber)
    click.echo(
        f"{len(result)} of {len(events)} events in {len(result.gti_start)} GTIs "
        f"(ontime {result.ontime.value:.1f} s of {events.ontime.value:.1f} s) -> {outfile}"
    )
