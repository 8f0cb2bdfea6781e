"""``gammapy-lat select``: event selection with gtselect semantics."""
import logging

import click

from .common import check_output, clobber_option, handle_errors, outfile_option

# Imports of gammapy and of the package's layers are deferred into the commands: importing
# them takes several seconds, and `gammapy-lat --help` or a wrong option must answer at once.

__all__ = ["select_command", "OptionalFloat", "YesNo"]

log = logging.getLogger(__name__)


class OptionalFloat(click.ParamType):
    """A float, or ``INDEF``/``NONE`` (the Fermitools' "not set") meaning no value."""

    name = "float|INDEF"

    def convert(self, value, param, ctx):
        if value is None or isinstance(value, float):
            return value
        text = str(value).strip()
        if text.upper() in ("INDEF", "NONE", ""):
            return None
        try:
            return float(text)
        except ValueError:
            self.fail(f"{value!r} is neither a number nor INDEF", param, ctx)


class YesNo(click.ParamType):
    """Fermitools-style boolean: yes/no, y/n, true/false."""

    name = "yes|no"

    def convert(self, value, param, ctx):
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in ("yes", "y", "true", "t", "1"):
            return True
        if text in ("no", "n", "false", "f", "0"):
            return False
        self.fail(f"{value!r} is not yes or no", param, ctx)


OPTIONAL_FLOAT = OptionalFloat()


@click.command("select")
@click.option("--infile", "--evfile", "infile", required=True, help="Input FT1 file(s): file, glob or @list.txt.")
@outfile_option
@click.option("--ra", type=OPTIONAL_FLOAT, default=None, help="RA of the acceptance cone centre (deg) or INDEF.")
@click.option("--dec", type=OPTIONAL_FLOAT, default=None, help="Dec of the acceptance cone centre (deg) or INDEF.")
@click.option("--rad", type=OPTIONAL_FLOAT, default=None, help="Radius of the acceptance cone (deg) or INDEF.")
@click.option("--tmin", type=OPTIONAL_FLOAT, default=None, help="Start time (MET, s); 0 or INDEF: no cut.")
@click.option("--tmax", type=OPTIONAL_FLOAT, default=None, help="Stop time (MET, s); 0 or INDEF: no cut.")
@click.option("--emin", type=OPTIONAL_FLOAT, default=None, help="Lower energy limit (MeV).")
@click.option("--emax", type=OPTIONAL_FLOAT, default=None, help="Upper energy limit (MeV).")
@click.option("--zmin", type=OPTIONAL_FLOAT, default=None, help="Minimum zenith angle (deg).")
@click.option("--zmax", type=OPTIONAL_FLOAT, default=None, help="Maximum zenith angle (deg).")
@click.option("--evclass", default=None, help="Event class in the convention of the pass of the data: Pass 8 bit mask (128), Pass 7 bit index (2), Pass 6 class value (3), or name (SOURCE); INDEF: no cut.")
@click.option("--evtype", default=None, help="Event-type bit mask (3, 4, 60...) or names (FRONT,BACK / PSF3 / EDISP); Pass 6/7: FRONT or BACK (conversion type); INDEF: no cut.")
@click.option("--convtype", type=int, default=-1, show_default=True, help="Conversion type: 0 FRONT, 1 BACK, -1 both.")
@clobber_option
@handle_errors
def select_command(infile, outfile, ra, dec, rad, tmin, tmax, emin, emax, zmin, zmax, evclass, evtype, convtype, clobber):
    """Select events (gtselect).

    Every cut given is applied (ranges are low < x <= high, the cone is separation < rad), written
    to the DSS keywords of the output, and the GTIs are restricted to [tmin, tmax].

    Example:

    \b
        gammapy-lat select --infile @weekly.txt -o crab.fits --ra 83.63 --dec 22.01 \\
            --rad 15 --emin 100 --emax 300000 --zmax 90 --evclass 128 --evtype 3
    """
    from ..data import read_events

    check_output(outfile, clobber, ascii_name=True)  # FT1 files record their name (FILENAME)
    tmin = None if tmin is not None and tmin <= 0 else tmin
    tmax = None if tmax is not None and tmax <= 0 else tmax
    if rad is not None and rad >= 180:
        ra = dec = rad = None  # gtselect: a 180 deg cone is no cut
    # each file is selected as it is read, so that long lists of weekly files fit in memory
    selection = dict(
        evclass=evclass,
        evtype=evtype,
        emin=emin,
        emax=emax,
        ra=ra,
        dec=dec,
        rad=rad,
        tmin=tmin,
        tmax=tmax,
        zmin=zmin,
        zmax=zmax,
        convtype=convtype,
    )
    selected = read_events(infile, selection=selection)
    selected.write(outfile, overwrite=clobber)
    click.echo(
        f"Selected {len(selected)} events ({len(selected.gti_start)} GTIs, ontime {selected.ontime.value:.1f} s) -> {outfile}"
    )
