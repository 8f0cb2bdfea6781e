"""``gammapy-lat ltcube`` and ``ltsum``: livetime cubes (gtltcube, gtltsum)."""
import logging

import click

from .common import check_output, clobber_option, handle_errors, outfile_option

# Imports of gammapy and of the package's layers are deferred into the commands: importing
# them takes several seconds, and `gammapy-lat --help` or a wrong option must answer at once.

__all__ = ["ltcube_command", "ltsum_command"]

log = logging.getLogger(__name__)


@click.command("ltcube")
@click.option("--evfile", required=True, help="Event (FT1) file(s): a file, a glob or @list.txt; GTIs are taken from it.")
@click.option("--scfile", required=True, help="Spacecraft (FT2) file(s): a file, a glob or @list.txt.")
@click.option("--zmax", type=click.FloatRange(0, 180, min_open=True), default=180.0, show_default=True,
              help="Maximum zenith angle (deg); 180 applies no cut.")
@click.option("--nside", type=int, default=None,
              help="HEALPix NSIDE (power of 2) [default: from --binsz, else 64].")
@click.option("--binsz", type=float, default=None,
              help="Pixel size in deg, as gtltcube: NSIDE is the smallest power of 2 with pixels at most that large.")
@click.option("--nbins", type=click.IntRange(1, None), default=40, show_default=True, help="Number of cos(theta) bins.")
@click.option("--binning", type=click.Choice(["sqrt", "linear"]), default="sqrt", show_default=True,
              help="cos(theta) bins uniform in sqrt(1-cos(theta)) (gtltcube) or in cos(theta).")
@click.option("--phibins", type=click.IntRange(0, None), default=0, show_default=True, help="Number of phi bins.")
@click.option("--nested/--ring", default=True, show_default=True, help="HEALPix pixel ordering.")
@click.option("--coordsys", type=click.Choice(["CEL", "GAL"], case_sensitive=False), default="CEL", show_default=True,
              help="Frame of the HEALPix grid.")
@click.option("--roi", nargs=3, type=float, default=None, metavar="LON LAT RADIUS",
              help="Compute only pixels within RADIUS deg of (LON, LAT) in the grid frame (plus a margin).")
@click.option("--n-jobs", type=click.IntRange(1, None), default=1, show_default=True,
              help="Parallel processes over time chunks.")
@click.option("--backend", type=click.Choice(["multiprocessing", "ray"]), default="multiprocessing", show_default=True,
              help="Gammapy parallel backend.")
@outfile_option
@clobber_option
@handle_errors
def ltcube_command(evfile, scfile, zmax, nside, binsz, nbins, binning, phibins, nested, coordsys, roi, n_jobs,
                   backend, outfile, clobber):
    """Compute a livetime cube from spacecraft data and the GTIs of an event file (gtltcube)."""
    import time

    from ..data import read_events, read_spacecraft
    from ..livetime import LivetimeCube
    from ..livetime.compute import check_livetime_request

    check_output(outfile, clobber)
    if nside is None:
        nside = _nside_from_binsz(binsz) if binsz is not None else 64
    # before any file is read: a bad NSIDE or region, or a cube too large for memory, stops here
    check_livetime_request(nside, nbins, phibins, roi=roi, n_chunks=n_jobs)
    events = read_events(evfile)
    spacecraft = read_spacecraft(scfile)
    frame = "galactic" if coordsys.upper() == "GAL" else "icrs"
    t0 = time.perf_counter()
    cube = LivetimeCube.compute(
        spacecraft,
        events,
        nside=nside,
        nbins=nbins,
        zmax=zmax,
        binning=binning,
        nest=nested,
        frame=frame,
        phibins=phibins,
        roi=roi,
        n_jobs=n_jobs,
        parallel_backend=backend,
    )
    log.info(f"Computed {cube} in {time.perf_counter() - t0:.2f} s")
    cube.write(outfile, overwrite=clobber)
    click.echo(f"Wrote {outfile}")


def _nside_from_binsz(binsz):
    """Smallest power of 2 whose pixels are at most ``binsz`` deg (gtltcube's ``binsz`` rule)."""
    if not binsz > 0:
        raise click.BadParameter(f"--binsz must be > 0, got {binsz}")
    nside = 1
    while 12 * nside * nside < 41252.0 / (binsz * binsz) and nside < 8192:
        nside *= 2
    return nside


@click.command("ltsum")
@click.argument("infiles", nargs=-1, required=True)
@outfile_option
@clobber_option
@handle_errors
def ltsum_command(infiles, outfile, clobber):
    """Add livetime cubes of disjoint time ranges (gtltsum).

    The cubes must have the same HEALPix scheme, frame, cos(theta) and phi binning, zmax and
    region; their GTIs must not overlap.
    """
    from pathlib import Path

    from ..livetime import LivetimeCube

    check_output(outfile, clobber)
    files = []
    for name in infiles:
        if name.startswith("@"):
            files.extend(line.strip() for line in Path(name[1:]).read_text().splitlines() if line.strip())
        else:
            files.append(name)
    if len(files) < 1:
        raise click.BadParameter("no input livetime cubes")
    cube = LivetimeCube.stack(LivetimeCube.read(f) for f in files)
    cube.write(outfile, overwrite=clobber)
    click.echo(f"Wrote {outfile} (sum of {len(files)} cubes)")
