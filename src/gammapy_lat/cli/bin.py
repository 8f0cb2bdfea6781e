"""``gammapy-lat bin``: counts cubes and maps with gtbin semantics."""
import click

from .common import check_output, clobber_option, handle_errors, outfile_option
from .select import YesNo

# Imports of gammapy and of the package's layers are deferred into the commands: importing
# them takes several seconds, and `gammapy-lat --help` or a wrong option must answer at once.

__all__ = ["bin_command"]

_GEOMETRY_OPTIONS = ("nxpix", "nypix", "binsz", "xref", "yref", "emin", "emax", "enumbins", "ebinfile")


@click.command("bin")
@click.option("--evfile", required=True, help="Event (FT1) file(s): file, glob or @list.txt.")
@click.option("--scfile", default=None, help="Spacecraft (FT2) file(s); if given, EXPOSURE (livetime) is written in the GTI header.")
@outfile_option
@click.option("--algorithm", type=click.Choice(["CCUBE", "CMAP", "HEALPIX"], case_sensitive=False), default=None, help="Counts cube, counts map (no energy axis) or HEALPix cube. Default: CCUBE, or as the --like file.")
@click.option("--like", type=click.Path(exists=True, dir_okay=False), default=None, help="Existing counts cube/map whose geometry and energy bins are copied.")
@click.option("--nxpix", type=int, default=None, help="Number of pixels along x.")
@click.option("--nypix", type=int, default=None, help="Number of pixels along y.")
@click.option("--binsz", type=float, default=None, help="Pixel size (deg).")
@click.option("--coordsys", type=click.Choice(["CEL", "GAL"], case_sensitive=False), default="CEL", show_default=True, help="Coordinate system.")
@click.option("--xref", type=float, default=None, help="Longitude (RA or l) of the map centre (deg).")
@click.option("--yref", type=float, default=None, help="Latitude (Dec or b) of the map centre (deg).")
@click.option("--axisrot", type=float, default=0.0, show_default=True, help="Rotation angle of the map axes (only 0).")
@click.option("--proj", default="CAR", show_default=True, help="WCS projection (CAR, AIT, TAN, ZEA, ...).")
@click.option("--ebinalg", type=click.Choice(["LOG", "LIN", "FILE"], case_sensitive=False), default="LOG", show_default=True, help="Energy binning algorithm.")
@click.option("--emin", type=float, default=None, help="Lower energy (MeV).")
@click.option("--emax", type=float, default=None, help="Upper energy (MeV).")
@click.option("--enumbins", type=int, default=None, help="Number of energy bins.")
@click.option("--ebinfile", type=click.Path(exists=True, dir_okay=False), default=None, help="FITS file with an EBOUNDS extension (ebinalg=FILE).")
@click.option("--hpx_ordering_scheme", "--hpx-ordering-scheme", "hpx_ordering_scheme", type=click.Choice(["RING", "NESTED"], case_sensitive=False), default="RING", show_default=True, help="HEALPix ordering.")
@click.option("--hpx_order", "--hpx-order", "hpx_order", type=int, default=3, show_default=True, help="HEALPix order (NSIDE = 2**order).")
@click.option("--hpx_ebin", "--hpx-ebin", "hpx_ebin", type=YesNo(), default="yes", show_default=True, help="Energy binning for HEALPix maps.")
@clobber_option
@handle_errors
def bin_command(
    evfile, scfile, outfile, algorithm, like, nxpix, nypix, binsz, coordsys, xref, yref, axisrot, proj, ebinalg,
    emin, emax, enumbins, ebinfile, hpx_ordering_scheme, hpx_order, hpx_ebin, clobber,
):  # fmt: skip
    """Bin events into a counts cube or map (gtbin).

    The output is Fermitools-compatible: a primary int32 image (energy planes as NAXIS3), an
    EBOUNDS extension (CHANNEL, E_MIN, E_MAX in keV) and the GTIs, with the DSS keywords of the
    events. Pixels and energy bins are assigned as gtbin does.

    Examples:

    \b
        gammapy-lat bin --evfile ft1.fits --like cntmap.fits -o ccube.fits
        gammapy-lat bin --evfile ft1.fits -o ccube.fits --nxpix 100 --nypix 100 \\
            --binsz 0.2 --coordsys GAL --xref 184.56 --yref -5.78 --proj CAR \\
            --emin 200 --emax 20000 --enumbins 20
    """
    from ..data import (
        bin_events,
        make_counts_geom,
        read_counts_geom,
        read_events,
        read_spacecraft,
        write_counts_map,
    )

    check_output(outfile, clobber)
    if like is not None:
        values = dict(nxpix=nxpix, nypix=nypix, binsz=binsz, xref=xref, yref=yref, emin=emin, emax=emax, enumbins=enumbins, ebinfile=ebinfile)
        given = [f"--{name}" for name in _GEOMETRY_OPTIONS if values[name] is not None]
        if given:
            raise click.UsageError(f"--like copies the geometry; do not combine it with {', '.join(given)}")
        geom = read_counts_geom(like)
        if algorithm is not None and algorithm.upper() == "CMAP":
            geom = geom.to_image()
    else:
        geom = make_counts_geom(
            algorithm=algorithm or "CCUBE",
            nxpix=nxpix,
            nypix=nypix,
            binsz=binsz,
            coordsys=coordsys,
            xref=xref,
            yref=yref,
            axisrot=axisrot,
            proj=proj,
            emin=emin,
            emax=emax,
            enumbins=enumbins,
            ebinalg=ebinalg,
            ebinfile=ebinfile,
            hpx_ordering_scheme=hpx_ordering_scheme,
            hpx_order=hpx_order,
            hpx_ebin=hpx_ebin,
        )
    events = read_events(evfile)
    exposure = None
    if scfile is not None:
        spacecraft = read_spacecraft(scfile)
        spacecraft.check_gti_coverage(events.gti_start, events.gti_stop, what=f"the GTIs of {events.source}")
        exposure = spacecraft.livetime_in_gti(events.gti_start, events.gti_stop)
    counts = bin_events(events, geom)
    write_counts_map(counts, outfile, events=events, overwrite=clobber, exposure=exposure)
    click.echo(f"Binned {int(counts.data.sum())} of {len(events)} events into {tuple(int(n) for n in counts.geom.data_shape)} -> {outfile}")
