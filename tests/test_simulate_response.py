"""The built-in synthetic response: CALDB layout identical to the real Pass 8 files, LAT-like values."""
import numpy as np
import pytest
from astropy import units as u
from astropy.io import fits

from gammapy_lat.simulate.response import SYNTHETIC_IRF_NAME, synthetic_caldb

REAL_IRF = "P8R2_SOURCE_V6"


@pytest.fixture(scope="module")
def synthetic_root(tmp_path_factory):
    return synthetic_caldb(tmp_path_factory.mktemp("caldb"))


def _structure(path):
    out = {}
    with fits.open(path) as hdulist:
        for hdu in hdulist[1:]:
            name = hdu.name.replace(REAL_IRF, "").replace(SYNTHETIC_IRF_NAME, "")
            cols = [(c.name, c.unit or "", c.dim is not None) for c in hdu.columns]
            keys = {k for k in hdu.header if not k.startswith(("CHECKSUM", "DATASUM", "EXTVER", "HISTORY"))}
            out[name] = (cols, keys, hdu.header.get("CBD20001", ""), hdu.header.get("DETNAM"))
    return out


@pytest.mark.parametrize("sub,prefix", [("ea", "aeff"), ("psf", "psf"), ("edisp", "edisp")])
def test_layout_matches_real_caldb(synthetic_root, caldb_path, sub, prefix):
    bcf = "data/glast/lat/bcf"
    real = _structure(caldb_path / bcf / sub / f"{prefix}_{REAL_IRF}_FB.fits.gz")
    synth = _structure(synthetic_root / bcf / sub / f"{prefix}_{SYNTHETIC_IRF_NAME}_FB.fits")
    assert list(synth) == list(real)  # same HDU names in the same order
    for name in real:
        rcols, rkeys, rcbd, rdet = real[name]
        scols, skeys, scbd, sdet = synth[name]
        assert scols == rcols, name
        # every keyword of the real HDU except free-text history is present
        missing = {k for k in rkeys - skeys if k not in ("ORIGIN", "DATE", "TDIM1")}
        assert not missing, (name, missing)
        assert sdet == rdet
        if REAL_IRF in rcbd:  # (the real fisheye HDUs carry a legacy CLASS value)
            assert scbd == rcbd.replace(REAL_IRF, SYNTHETIC_IRF_NAME)


def test_index_is_read_by_caldb(synthetic_root):
    from gammapy_lat.irf import CALDB

    caldb = CALDB(synthetic_root)
    assert caldb.irf_names == [SYNTHETIC_IRF_NAME]
    assert "SYNTHETIC" in SYNTHETIC_IRF_NAME
    assert caldb.event_types(SYNTHETIC_IRF_NAME) == ["FRONT", "BACK"]
    # written once: a second call keeps the files
    index = synthetic_root / "data/glast/lat/caldb.indx"
    mtime = index.stat().st_mtime_ns
    assert synthetic_caldb(synthetic_root) == synthetic_root
    assert index.stat().st_mtime_ns == mtime


def _r68(psf, energy, costheta=1.0):
    rad = np.concatenate([[0], np.geomspace(1e-4, 180, 20000)]) * u.deg
    dens = psf.evaluate(energy, costheta, rad).to_value("sr-1")
    r = rad.to_value("rad")
    cdf = np.concatenate([[0], np.cumsum(0.5 * (dens[1:] * np.sin(r[1:]) + dens[:-1] * np.sin(r[:-1])) * np.diff(r))])
    cdf *= 2 * np.pi
    return np.interp(0.68, cdf, rad.value), cdf[-1]


def test_lat_like_values_against_real_caldb(synthetic_root, caldb_path):
    """Within a factor ~2 of the real P8R2_SOURCE_V6 response: LAT-like, but not a copy."""
    from gammapy_lat.irf import LATIRFs

    synth = LATIRFs.from_caldb(SYNTHETIC_IRF_NAME, 3, caldb=synthetic_root)
    real = LATIRFs.from_caldb(REAL_IRF, 3, caldb=caldb_path)
    energies = [100, 1000, 10000, 100000] * u.MeV
    for s, r in zip(synth, real):
        a_s = s.aeff.evaluate(energies, 0.9).to_value("cm2")
        a_r = r.aeff.evaluate(energies, 0.9).to_value("cm2")
        assert np.all((a_s / a_r > 0.5) & (a_s / a_r < 2)), (s.event_type, a_s, a_r)
        assert s.aeff.evaluate(1 * u.GeV, 0.1).value == 0
        for energy in energies:
            r68_s, norm = _r68(s.psf, energy)
            r68_r, _ = _r68(r.psf, energy)
            assert norm == pytest.approx(1, abs=0.01)
            assert 0.5 < r68_s / r68_r < 2, (s.event_type, energy, r68_s, r68_r)
        # energy resolution: 68 % half-width of E'/E between 3 % and 25 %
        for energy in energies:
            migra = np.linspace(0.2, 3, 5000)
            cdf = s.edisp.cdf(energy, 0.9, migra * energy)
            lo, hi = np.interp([0.16, 0.84], cdf, migra)
            assert 0.03 < 0.5 * (hi - lo) < 0.25
