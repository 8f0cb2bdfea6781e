"""``gammapy-lat mktime``: good-time selection from the spacecraft file (gtmktime)."""
import click

from .common import check_output, clobber_option, handle_errors, outfile_option
from .select import OPTIONAL_FLOAT, YesNo

# Imports of gammapy and of the package's layers are deferred into the commands: importing
# them takes several seconds, and `gammapy-lat --help` or a wrong option must answer at once.

__all__ = ["mktime_command"]


@click.command("mktime")
@click.option("--scfile", required=True, help="Spacecraft (FT2) file(s): file, glob or @list.txt.")
@click.option(
    "--filter",
    "filter_expr",
    default=None,
    help="Filter expression over the FT2 columns, e.g. '(DATA_QUAL>0)&&(LAT_CONFIG==1)&&ABS(ROCK_ANGLE)<52' "
    "(default: the FSSC recommendation, gammapy_lat.data.DEFAULT_FILTER: (DATA_QUAL>0)&&(LAT_CONFIG==1)).",
)
@click.option("--roicut", type=YesNo(), default="no", show_default=True, help="Apply the ROI-based zenith-angle cut.")
@click.option("--evfile", required=True, help="Input FT1 file(s): file, glob or @list.txt.")
@outfile_option
@click.option("--apply_filter", "--apply-filter", "apply_filter", type=YesNo(), default="yes", show_default=True, help="Accepted for compatibility: events outside the new GTIs are always removed, as in current Fermitools.")
@click.option("--overwrite", type=YesNo(), default="no", show_default=True, help="Replace the GTIs of the event file instead of intersecting with them.")
@click.option("--header_obstimes", "--header-obstimes", "header_obstimes", type=YesNo(), default="yes", show_default=True, help="With --overwrite: use TSTART/TSTOP of the event file (yes) or --tstart/--tstop (no).")
@click.option("--tstart", type=OPTIONAL_FLOAT, default=None, help="Start time (MET, s) for --overwrite yes --header_obstimes no.")
@click.option("--tstop", type=OPTIONAL_FLOAT, default=None, help="Stop time (MET, s) for --overwrite yes --header_obstimes no.")
@clobber_option
@handle_errors
def mktime_command(
    scfile, filter_expr, roicut, evfile, outfile, apply_filter, overwrite, header_obstimes, tstart, tstop, clobber
):
    """Good-time selection from the spacecraft file (gtmktime).

    An FT2 row is good when the filter holds for it (and, with --roicut yes, when the ROI cone of
    the events lies within their maximum zenith angle); contiguous good rows merge into GTIs, which
    are intersected with the event file's GTIs (--overwrite yes: with its TSTART-TSTOP or with
    --tstart/--tstop). Events outside the new GTIs are dropped; header times and DSS keywords are
    kept.

    Example:

    \b
        gammapy-lat mktime --scfile ft2.fits --evfile sel.fits -o sel_gti.fits \\
            --filter '(DATA_QUAL>0)&&(LAT_CONFIG==1)' --roicut no
    """
    from ..data import DEFAULT_FILTER, mktime, read_events, read_spacecraft

    if filter_expr is None:
        filter_expr = DEFAULT_FILTER
    del apply_filter  # the Fermitools parameter no longer changes the result
    check_output(outfile, clobber, ascii_name=True)  # FT1 files record their name (FILENAME)
    events = read_events(evfile)
    spacecraft = read_spacecraft(scfile)
    result = mktime(
        events,
        spacecraft,
        filter=filter_expr,
        roicut=roicut,
        overwrite=overwrite,
        header_obstimes=header_obstimes,
        tstart=tstart,
        tstop=tstop,
    )
    result.write(outfile, overwrite=clobber)
    click.echo(
        f"{len(result)} of {len(events)} events in {len(result.gti_start)} GTIs "
        f"(ontime {result.ontime.value:.1f} s of {events.ontime.value:.1f} s) -> {outfile}"
    )
