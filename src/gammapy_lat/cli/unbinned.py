"""``gammapy-lat expmap`` and ``diffrsp``: the inputs of an unbinned likelihood (gtexpmap, gtdiffrsp).

* ``expmap`` writes the exposure of the source region to events reconstructed in the acceptance
  cone of an event file (cone and energy range from its DSS keywords), in gtexpmap's format.
* ``diffrsp`` writes a copy of an event file with the per-event diffuse responses of the
  extended and diffuse sources of a gtlike XML model in ``DIFRSPn`` columns labelled
  ``<irfs>__<source>`` (lower case), as gtdiffrsp does (gtdiffrsp edits the file in place; this
  command never modifies its input).
"""
import logging
from pathlib import Path

import click

from .common import clobber_option, handle_errors

__all__ = ["expmap_command", "diffrsp_command"]

log = logging.getLogger(__name__)


def _check_outfile(outfile, clobber, infile=None):
    if infile is not None and Path(outfile).resolve() == Path(infile).resolve():
        raise FileExistsError(f"--outfile {outfile} is the input event file; write the copy to a new file")
    if Path(outfile).exists() and not clobber:
        raise FileExistsError(f"Output file {outfile} already exists; use --clobber to overwrite it")


def _irf_name(irfs, events):
    from ..data import default_irf_name
    from ..errors import SelectionError

    if irfs and irfs.upper() != "CALDB":
        return irfs
    name = default_irf_name(events.pass_ver, events.dss.evclass)
    if name is None:
        raise SelectionError(f"{events.source}: cannot tell the IRFs from the file; give --irf_name")
    return name


@click.command("expmap")
@click.option("--evfile", required=True, help="Event (FT1) file(s): the acceptance cone, energy range and GTIs come from it.")
@click.option("--scfile", default=None, help="Spacecraft (FT2) file(s), to compute the livetime cube when --expcube is not given.")
@click.option("--expcube", type=click.Path(exists=True, dir_okay=False), default=None, help="Livetime cube (gtltcube).")
@click.option("--irf_name", "--irfs", "irfs", default="CALDB", show_default=True,
              help="IRF name (--irfs, the Fermitools name, also works; CALDB: from the event file).")
@click.option("--evtype", default=None, help="Event-type selection (default: that of the events, else 3).")
@click.option("--caldb", type=click.Path(exists=True), default=None, help="CALDB folder (default: $CALDB).")
@click.option("--srcrad", type=click.FloatRange(0, 180, min_open=True), default=30.0, show_default=True,
              help="Radius of the source region (deg).")
@click.option("--nlong", type=click.IntRange(2, 1000), default=120, show_default=True, help="Number of longitude points.")
@click.option("--nlat", type=click.IntRange(2, 1000), default=120, show_default=True, help="Number of latitude points.")
@click.option("--nenergies", type=click.IntRange(2, 100), default=20, show_default=True, help="Number of energies.")
@click.option("--zmax", type=click.FloatRange(0, 180, min_open=True), default=None,
              help="Zenith cut of a computed livetime cube (default: that of the events).")
@click.option("--outfile", "-o", required=True, type=click.Path(dir_okay=False), help="Output exposure map.")
@clobber_option
@handle_errors
def expmap_command(evfile, scfile, expcube, irfs, evtype, caldb, srcrad, nlong, nlat, nenergies, zmax, outfile, clobber):
    """Exposure map for the unbinned likelihood (gtexpmap)."""
    import astropy.units as u
    import numpy as np
    from astropy.coordinates import SkyCoord

    from ..data import evtype_mask, read_events, read_spacecraft
    from ..errors import SelectionError
    from ..irf import LATIRFs, UnbinnedExposureMap
    from ..irf.unbinned import ROIExposure
    from ..livetime import LivetimeCube

    _check_outfile(outfile, clobber)
    events = read_events(evfile)
    cone = events.dss.cone
    if cone is None:
        raise SelectionError(f"{events.source}: no acceptance cone (POS(RA,DEC) DSS keyword); select the events first")
    erange = events.dss.energy_range
    if erange is None:
        raise SelectionError(f"{events.source}: no energy selection (ENERGY DSS keyword); select the events first")
    irf_name = _irf_name(irfs, events)
    mask = evtype_mask(evtype) if evtype is not None else (events.dss.evtype or 3)
    irf_set = LATIRFs.from_caldb(irf_name, mask, caldb=caldb, psf=True, edisp=False)
    center = SkyCoord(cone[0], cone[1], unit="deg")
    if expcube is not None:
        ltcube = LivetimeCube.read(expcube)
    else:
        if scfile is None:
            raise click.UsageError("give --expcube or --scfile")
        spacecraft = read_spacecraft(scfile, time_range=(events.gti_start[0], events.gti_stop[-1]))
        zrange = events.dss.zenith_range
        zcut = zmax if zmax is not None else (zrange[1] if zrange is not None else 180.0)
        reach = min(srcrad * np.sqrt(2) + 3.0, 180.0)
        roi = (cone[0], cone[1], reach) if reach < 180 else None
        ltcube = LivetimeCube.compute(spacecraft, events.gti, nside=64, nbins=40, zmax=min(zcut, 180.0), roi=roi)
    expo = ROIExposure(irf_set, ltcube, center, cone[2] * u.deg, [erange[0]] * u.MeV)
    expmap = UnbinnedExposureMap.compute(
        expo, srcrad=srcrad * u.deg, nlong=nlong, nlat=nlat, nenergies=nenergies, energy_range=erange * u.MeV
    )
    hdulist = expmap.to_hdulist()
    events.dss.to_header(hdulist[0].header)
    hdulist.append(events.to_hdulist()["GTI"])
    from ..utils import write_fits_atomic

    write_fits_atomic(hdulist, outfile, overwrite=clobber, checksum=True)
    click.echo(f"Wrote {outfile} ({expmap})")


@click.command("diffrsp")
@click.option("--evfile", required=True, help="Event (FT1) file.")
@click.option("--scfile", required=True, help="Spacecraft (FT2) file(s).")
@click.option("--srcmdl", required=True, type=click.Path(exists=True, dir_okay=False), help="gtlike XML source model.")
@click.option("--irf_name", "--irfs", "irfs", default="CALDB", show_default=True,
              help="IRF name (--irfs, the Fermitools name, also works; CALDB: from the event file).")
@click.option("--evtype", default=None, help="Event-type selection (default: that of the events, else 3).")
@click.option("--caldb", type=click.Path(exists=True), default=None, help="CALDB folder (default: $CALDB).")
@click.option("--outfile", "-o", required=True, type=click.Path(dir_okay=False),
              help="Output event file: a copy of --evfile with the DIFRSP columns.")
@clobber_option
@handle_errors
def diffrsp_command(evfile, scfile, srcmdl, irfs, evtype, caldb, outfile, clobber):
    """Per-event diffuse responses of the diffuse sources of a model, in a copy of the event file (gtdiffrsp)."""
    from ..data import evtype_mask, read_events, read_spacecraft
    from ..datasets import add_diffuse_responses, diffuse_response_label
    from ..datasets.unbinned import compute_diffuse_responses
    from ..irf import LATIRFs
    from ..models import read_xml_models

    _check_outfile(outfile, clobber, infile=evfile)
    events = read_events(evfile)
    irf_name = _irf_name(irfs, events)
    mask = evtype_mask(evtype) if evtype is not None else (events.dss.evtype or 3)
    irf_set = LATIRFs.from_caldb(irf_name, mask, caldb=caldb, psf=True, edisp=False)
    selected = events.select(evtype=mask, allow_empty=True) if mask != (events.dss.evtype or 3) else events
    spacecraft = read_spacecraft(scfile, time_range=(events.gti_start[0], events.gti_stop[-1]))
    cone = events.dss.cone
    geom = None
    if cone is not None and cone[2] < 60:
        from gammapy.maps import WcsGeom

        # map cubes cut out around the events: the per-event integrals reach the PSF's 99.9 % radius
        geom = WcsGeom.create(skydir=(cone[0], cone[1]), frame="icrs", binsz=1.0, width=2 * (cone[2] + 30.0))
    models = read_xml_models(srcmdl, geom=geom)
    responses = compute_diffuse_responses(selected, spacecraft, irf_set, models)
    if not responses:
        click.echo(f"{srcmdl} has no diffuse source: nothing to compute")
    labelled = {diffuse_response_label(irf_name, name): values for name, values in responses.items()}
    out = add_diffuse_responses(selected, labelled)
    out.write(outfile, overwrite=clobber)
    for name in responses:
        click.echo(f"{name}: column label {diffuse_response_label(irf_name, name)}")
    click.echo(f"Wrote {outfile} ({len(out)} events)")
