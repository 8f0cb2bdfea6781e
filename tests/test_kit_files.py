"""Every FITS file of the kit's LAT data and the Fermi catalogs opens from its original bytes.

Each file is read with the package reader that applies to it (events, spacecraft, livetime cube,
counts/exposure/source-map cubes, model maps, CALDB index and IRF tables, catalogs), and the time
reference of every header that gives one (``MJDREFF`` written ``'7.428703703703703D-4'`` in the
older files and the catalogs) is the Fermi MET reference, 2001-01-01 00:00:00 UTC.
"""
from pathlib import Path

import astropy.units as u
import numpy as np
import pytest
from astropy.io import fits
from astropy.time import Time

from gammapy_lat.data.gti import time_ref_from_header
from gammapy_lat.utils.testing import MissingSharedData, shared_data_path

FERMI_EPOCH = Time("2001-01-01T00:00:00", scale="utc")
CATALOGS = ("gll_psc_v16.fit.gz", "gll_psc_v35.fit", "gll_psch_v13.fit.gz")


def _kit_files():
    try:
        root = shared_data_path()
    except MissingSharedData:
        return []
    lat = root / "data" / "lat"
    files = sorted(p for p in lat.rglob("*") if p.is_file() and (".fit" in p.name.lower() or p.name.endswith(".indx.gz")))
    files += [root / "data" / "gammapy-data" / "catalogs" / "fermi" / name for name in CATALOGS]
    return [p.relative_to(root) for p in files]


KIT_FILES = _kit_files()


def test_every_kind_of_file_is_covered(shared_path):
    """Each file is recognised as one kind with a reader (36 IRF tables, 2 of each product...)."""
    from collections import Counter

    kinds = Counter()
    for relpath in KIT_FILES:
        with fits.open(shared_path / relpath) as hdulist:
            kinds[_kind(hdulist)] += 1
    assert kinds == {
        "irf": 36, "catalog": 3, "events": 2, "spacecraft": 2, "ltcube": 2, "counts": 2, "exposure": 2,
        "srcmap": 2, "image": 2, "caldb-index": 1, "irf-index": 1,
    }  # fmt: skip


def _kind(hdulist):
    names = [hdu.name for hdu in hdulist]
    if "EVENTS" in names:
        return "events"
    if "SC_DATA" in names:
        return "spacecraft"
    if "EXPOSURE" in names and "CTHETABOUNDS" in names:
        return "ltcube"
    if "CIF" in names:
        return "caldb-index"
    if "LAT_Point_Source_Catalog" in names:
        return "catalog"
    if "BITMASK_MAPPING" in names:
        return "irf-index"
    if any(n in names for n in ("RPSF", "EDISP")) or any(n.startswith(("EFFECTIVE AREA", "RPSF", "ENERGY DISPERSION")) for n in names):
        return "irf"
    creator = str(hdulist[0].header.get("CREATOR", ""))
    if "gtsrcmaps" in creator and len(names) > 3:
        return "srcmap"
    if "ENERGIES" in names:
        return "exposure"
    if "EBOUNDS" in names:
        return "counts"
    return "image"


def _check_time_references(path, hdulist):
    checked = 0
    for hdu in hdulist:
        header = hdu.header
        if "MJDREFI" in header or ("MJDREF" in header and not isinstance(header["MJDREF"], fits.card.Undefined)):
            ref = time_ref_from_header(header, source=f"{path}[{hdu.name}]")
            assert abs((ref - FERMI_EPOCH).to_value("s")) < 1e-5, (hdu.name, header.get("MJDREFF"))
            checked += 1
    return checked


@pytest.mark.parametrize("relpath", KIT_FILES, ids=[str(p) for p in KIT_FILES])
def test_kit_file_opens(shared_path, caldb_path, relpath):
    path = shared_path / relpath
    with fits.open(path) as hdulist:
        kind = _kind(hdulist)
        n_refs = _check_time_references(path, hdulist)
        header0 = hdulist[0].header.copy()
        nrows = {hdu.name: len(hdu.data) for hdu in hdulist[1:] if isinstance(hdu, fits.BinTableHDU) and hdu.data is not None}
    if kind in ("events", "spacecraft", "ltcube"):
        assert n_refs > 0
    reader = globals()[f"_open_{kind.replace('-', '_')}"]
    reader(path, nrows, header0, caldb_path)


def _open_events(path, nrows, header, caldb_path):
    from gammapy_lat.data import read_events
    from gammapy_lat.observations import LATObservation

    events = read_events(path)
    assert len(events) == nrows["EVENTS"]
    assert abs((events.time_ref - FERMI_EPOCH).to_value("s")) < 1e-6
    assert len(events.events.time) == len(events)
    ft2 = path.with_name(path.name.replace("ft1", "ft2"))
    if ft2.exists() and ft2 != path:
        obs = LATObservation.read(path, ft2)
        assert 0 < obs.observation_live_time_duration.to_value("s") <= obs.observation_time_duration.to_value("s")
        assert obs.irf_name is not None


def _open_spacecraft(path, nrows, header, caldb_path):
    from gammapy_lat.data import read_spacecraft

    spacecraft = read_spacecraft(path)
    assert len(spacecraft.table) == nrows["SC_DATA"]
    assert abs((spacecraft.time_ref - FERMI_EPOCH).to_value("s")) < 1e-6


def _open_ltcube(path, nrows, header, caldb_path):
    from gammapy_lat.livetime import LivetimeCube

    cube = LivetimeCube.read(path)
    assert cube.livetime.shape == (12 * cube.nside**2, cube.nbins)
    assert abs((cube.gti.time_ref - FERMI_EPOCH).to_value("s")) < 1e-6
    assert np.sum(cube.livetime.value) > 0


def _open_counts(path, nrows, header, caldb_path):
    from gammapy_lat.data import read_counts_geom

    geom = read_counts_geom(path)
    data = fits.getdata(path)
    assert geom.data_shape == data.shape
    assert geom.axes["energy"].nbin == nrows["EBOUNDS"]


def _open_exposure(path, nrows, header, caldb_path):
    from gammapy.maps import Map

    from gammapy_lat.data import read_counts_geom

    geom = read_counts_geom(path)
    exposure = Map.read(path)
    assert exposure.data.shape[0] == geom.axes["energy"].nbin + 1 == nrows["ENERGIES"]
    assert np.all(exposure.data >= 0) and exposure.data.max() > 1e8


def _open_srcmap(path, nrows, header, caldb_path):
    from gammapy_lat.data import read_counts_geom
    from gammapy_lat.models import read_srcmap_npred, srcmap_names

    geom = read_counts_geom(path)
    names = srcmap_names(path)
    assert names
    for name in names:
        npred = read_srcmap_npred(path, name)
        assert npred.geom.data_shape == geom.data_shape
        assert np.all(np.isfinite(npred.data)) and npred.data.sum() > 0


def _open_image(path, nrows, header, caldb_path):
    from gammapy.maps import Map

    from gammapy_lat.data import read_counts_geom

    image = Map.read(path)
    assert read_counts_geom(path).data_shape == image.data.shape
    assert image.data.sum() > 0


def _open_caldb_index(path, nrows, header, caldb_path):
    from gammapy_lat.irf import CALDB

    caldb = CALDB(path)
    assert {"P6_V3_DIFFUSE", "P7SOURCE_V6", "P7REP_SOURCE_V15", "P8R2_SOURCE_V6", "P8R3_SOURCE_V2"} <= set(caldb.irf_names)


def _open_irf_index(path, nrows, header, caldb_path):
    """The Fermitools' event-class bit map agrees with the pass conventions of the package."""
    from gammapy_lat.data.passes import PASS_EVENT_CLASSES

    with fits.open(path) as hdulist:
        mapping = {str(r["EVENT_CLASS"]).strip(): int(r["BITPOSITION"]) for r in hdulist["BITMASK_MAPPING"].data}
        types = {str(r[0]).strip(): int(r[1]) for r in hdulist["EVENT_TYPE_MAPPING"].data}
    assert mapping["P7SOURCE_V6"] == mapping["P7REP_SOURCE_V15"] == PASS_EVENT_CLASSES["P7"]["SOURCE"]
    assert 1 << mapping["P8R2_SOURCE_V6"] == PASS_EVENT_CLASSES["P8"]["SOURCE"]
    from gammapy_lat.data.evtypes import EVENT_TYPE_BITS

    assert {name: 1 << bit for name, bit in types.items()} == EVENT_TYPE_BITS


def _open_irf(path, nrows, header, caldb_path):
    """Every IRF component the CALDB index points to in this file loads and evaluates."""
    from gammapy_lat.irf import CALDB, LATIRFs

    caldb = CALDB(caldb_path)
    users = []
    for irf in caldb.irf_names:
        for event_type in caldb.event_types(irf):
            for cnam in ("EFF_AREA", "RPSF", "EDISP"):
                location = caldb.hdu_location(irf, event_type, cnam, required=False)
                if location is not None and Path(location[0]).resolve() == path.resolve():
                    users.append((irf, event_type, cnam))
    assert users, f"{path} is not in the CALDB index"
    for irf, event_type, cnam in users:
        comp = LATIRFs.from_caldb(irf, event_type, caldb=caldb, psf=cnam == "RPSF", edisp=cnam == "EDISP")[0]
        energy = [200.0, 3000.0] * u.MeV
        if cnam == "EFF_AREA":
            assert np.all(comp.aeff.evaluate(energy, 0.9).value > 0)
        elif cnam == "RPSF":
            value = comp.psf.evaluate(energy, 0.9, 0.01 * u.deg).value
            assert np.all(np.isfinite(value) & (value > 0))
        else:
            value = comp.edisp.evaluate(energy[:, None], 0.9, energy[:, None] * np.array([0.95, 1.0, 1.05])).value
            assert np.all(np.isfinite(value) & (value > 0))


def _open_catalog(path, nrows, header, caldb_path):
    from gammapy.catalog import SourceCatalog3FGL, SourceCatalog3FHL, SourceCatalog4FGL

    readers = {"gll_psc_v16.fit.gz": SourceCatalog3FGL, "gll_psc_v35.fit": SourceCatalog4FGL, "gll_psch_v13.fit.gz": SourceCatalog3FHL}
    catalog = readers[path.name](path)
    assert len(catalog.table) == nrows["LAT_Point_Source_Catalog"]
    brightest = catalog[int(np.nanargmax(np.asarray(catalog.table["Signif_Avg"], float)))]
    assert brightest.spectral_model()(1 * u.GeV).value > 0
