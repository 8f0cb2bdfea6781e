"""Bad input gets a named one-line error: the class, the file/key/column and the cause.

Every case is run through the command line (in process, so that the original exception is seen
behind the one-line message) on small copies of the real one-day Crab files of the data kit, each
with one defect put in. Each case asserts the error class, that the message names the file, key
or column and the cause, that it is one line and shows no numpy repr. The cases are the ones found
when the package was probed with bad input; the checks behind them are listed in docs/refusals.md.
"""
import shutil
import time

import click
import numpy as np
import pytest
import yaml
from astropy.io import fits
from click.testing import CliRunner

from gammapy_lat.cli import cli
from gammapy_lat.errors import (
    CALDBError,
    ConfigError,
    FilterExpressionError,
    LATDataError,
    LATFileError,
    LivetimeCubeError,
    OutputError,
    ResourceLimitError,
)

IRF = "P8R2_SOURCE_V6"


# ------------------------------------------------------------------------------- input files
def _modified(src, dst, ext, column, row, value):
    with fits.open(src) as hdulist:
        hdulist[ext].data[column][row] = value
        hdulist.writeto(dst, overwrite=True)
    return dst


@pytest.fixture(scope="module")
def files(tmp_path_factory, crab_day, caldb_path):
    """Uncompressed copies of the kit's FT1, FT2 and livetime cube, and one bad copy per defect."""
    d = tmp_path_factory.mktemp("bad")
    out = {"dir": d, "caldb": caldb_path}
    for name in ("ft1", "ft2", "ltcube"):
        with fits.open(crab_day / f"{name}.fits.gz") as hdulist:
            hdulist.writeto(d / f"{name}.fits")
        out[name] = d / f"{name}.fits"
    ft1, ft2, lt = out["ft1"], out["ft2"], out["ltcube"]
    for key, column, value in (
        ("neglt", "LIVETIME", -20.0),
        ("biglt", "LIVETIME", 5000.0),
        ("dec200", "DEC_SCZ", 200.0),
    ):
        out[f"ft2_{key}"] = _modified(ft2, d / f"ft2_{key}.fits", "SC_DATA", column, 100, value)
    out["gti_inverted"] = _modified(ft1, d / "ft1_gti_inverted.fits", "GTI", "STOP", 3, 0.0)
    out["gti_nan"] = _modified(ft1, d / "ft1_gti_nan.fits", "GTI", "STOP", 3, np.nan)
    for key, column, value in (
        ("energy_nan", "ENERGY", np.nan),
        ("energy_inf", "ENERGY", np.inf),
        ("energy_neg", "ENERGY", -5.0),
        ("ra_nan", "RA", np.nan),
        ("dec_nan", "DEC", np.nan),
        ("dec120", "DEC", 120.0),
        ("time_nan", "TIME", np.nan),
    ):
        out[key] = _modified(ft1, d / f"ft1_{key}.fits", "EVENTS", column, 10, value)
    out["lt_nan"] = _modified(lt, d / "lt_nan.fits", "EXPOSURE", "COSBINS", (5, 3), np.nan)
    out["lt_neg"] = _modified(lt, d / "lt_neg.fits", "EXPOSURE", "COSBINS", (7, 2), -4.0)
    with fits.open(lt) as hdulist:
        hdulist["EXPOSURE"].header["NSIDE"] = 33
        hdulist.writeto(d / "lt_nside33.fits")
    out["lt_nside33"] = d / "lt_nside33.fits"
    data = ft2.read_bytes()
    (d / "ft2_truncated.fits").write_bytes(data[: len(data) // 2])
    out["ft2_truncated"] = d / "ft2_truncated.fits"
    data = (crab_day / "ft1.fits.gz").read_bytes()
    (d / "ft1_truncated.fits.gz").write_bytes(data[: len(data) // 2])
    out["ft1_truncated"] = d / "ft1_truncated.fits.gz"
    (d / "binary.yaml").write_bytes(bytes(range(256)) * 8)
    out["binary_yaml"] = d / "binary.yaml"
    (d / "deep.yaml").write_text("[" * 5000 + "]" * 5000)
    out["deep_yaml"] = d / "deep.yaml"
    # a CALDB without one of the PSF files of the IRF
    caldb = d / "caldb-incomplete"
    shutil.copytree(caldb_path, caldb)
    (caldb / "data/glast/lat/bcf/psf/psf_P8R2_SOURCE_V6_FB.fits.gz").unlink()
    out["caldb_incomplete"] = caldb
    return out


def invoke(args):
    """Run the command line; return ``(original exception, one-line message)`` of its failure."""
    result = CliRunner().invoke(cli, [str(a) for a in args], standalone_mode=False)
    exc = result.exception
    assert exc is not None, f"the command succeeded: {result.output}"
    assert not isinstance(exc, SystemExit), result.output
    if isinstance(exc, click.ClickException):
        return (exc.__cause__ or exc), exc.format_message()
    return exc, str(exc)


def check_message(message, expected, multiline=False):
    for fragment in expected:
        assert fragment in message, f"{fragment!r} not in {message!r}"
    assert "np." not in message and "array(" not in message, message
    assert "Traceback" not in message
    if not multiline:
        assert "\n" not in message, message


# ------------------------------------------------------------------------------ the cases
def _ltcube(files, scfile, *extra, evfile=None):
    return ["ltcube", "--evfile", evfile or files["ft1"], "--scfile", scfile, "--nside", "8", "--nbins", "10",
            "-o", files["dir"] / "out_lt.fits", "--clobber", *extra]


def _select(files, infile, *extra, out="out_sel.fits"):
    return ["select", "--infile", infile, "-o", files["dir"] / out, "--clobber", *extra]


def _bin(files, *geometry, evfile=None):
    return ["bin", "--evfile", evfile or files["ft1"], "-o", files["dir"] / "out_bin.fits", "--clobber",
            "--emin", "200", "--emax", "20000", "--enumbins", "20", *geometry]


def _wcs(nxpix=10, nypix=10, binsz=0.2, xref=83.6, yref=22.0, proj="CAR"):
    return ["--nxpix", nxpix, "--nypix", nypix, "--binsz", binsz, "--xref", xref, "--yref", yref, "--proj", proj]


def _expcube(files, ltcube, *geometry):
    geometry = geometry or _wcs(binsz=0.5)
    return ["expcube", "--ltcube", ltcube, "--irf", IRF, "--caldb", files["caldb"], "--emin", "200", "--emax",
            "20000", "--enumbins", "4", "-o", files["dir"] / "out_exp.fits", "--clobber", *geometry]


def _mktime(files, scfile=None, filter_expr="(DATA_QUAL>0)&&(LAT_CONFIG==1)"):
    return ["mktime", "--scfile", scfile or files["ft2"], "--evfile", files["ft1"], "--filter", filter_expr,
            "-o", files["dir"] / "out_mk.fits", "--clobber"]


CLI_CASES = {
    # ---- silent wrong products: spacecraft data
    "ft2-negative-livetime": (lambda f: _ltcube(f, f["ft2_neglt"]), LATDataError,
                              ["ft2_neglt.fits", "LIVETIME", "negative", "row 100", "-20.0"]),
    "ft2-livetime-above-duration": (lambda f: _ltcube(f, f["ft2_biglt"]), LATDataError,
                                    ["ft2_biglt.fits", "LIVETIME", "larger than the row duration", "row 100"]),
    "ft2-pointing-off-sphere": (lambda f: _ltcube(f, f["ft2_dec200"]), LATDataError,
                                ["ft2_dec200.fits", "DEC_SCZ", "outside [-90, 90]", "row 100", "200.0"]),
    "ft2-bad-rows-in-bin-exposure": (lambda f: _bin(f, *_wcs(), "--scfile", f["ft2_neglt"]), LATDataError,
                                     ["ft2_neglt.fits", "LIVETIME", "negative"]),
    # ---- livetime cubes
    "ltcube-nan-bins": (lambda f: _expcube(f, f["lt_nan"]), LATFileError,
                        ["lt_nan.fits", "COSBINS", "not finite", "row 5"]),
    "ltcube-negative-bins": (lambda f: _expcube(f, f["lt_neg"]), LATFileError,
                             ["lt_neg.fits", "COSBINS", "negative", "row 7", "-4.0"]),
    "ltcube-header-nside-33": (lambda f: _expcube(f, f["lt_nside33"]), LATFileError,
                               ["lt_nside33.fits", "NSIDE=33", "power of 2"]),
    # ---- GTIs and events
    "gti-inverted-row": (lambda f: _select(f, f["gti_inverted"], "--emin", "300"), LATDataError,
                         ["ft1_gti_inverted.fits", "GTI row 3", "STOP=0.0 before START"]),
    "gti-nan-stop": (lambda f: _select(f, f["gti_nan"], "--emin", "300"), LATDataError,
                     ["ft1_gti_nan.fits", "GTI column STOP", "not finite", "row 3"]),
    "event-energy-nan": (lambda f: _select(f, f["energy_nan"], "--emin", "300"), LATDataError,
                         ["ft1_energy_nan.fits", "ENERGY", "not finite", "row 10"]),
    "event-energy-inf": (lambda f: _select(f, f["energy_inf"], "--emin", "300"), LATDataError,
                         ["ft1_energy_inf.fits", "ENERGY", "not finite", "row 10"]),
    "event-energy-negative": (lambda f: _select(f, f["energy_neg"], "--emin", "300"), LATDataError,
                              ["ft1_energy_neg.fits", "ENERGY", "not positive", "row 10", "-5.0"]),
    "event-ra-nan": (lambda f: _select(f, f["ra_nan"], "--ra", "83.6", "--dec", "22", "--rad", "10"), LATDataError,
                     ["ft1_ra_nan.fits", "RA", "not finite", "row 10"]),
    "event-dec-nan": (lambda f: _select(f, f["dec_nan"], "--ra", "83.6", "--dec", "22", "--rad", "10"),
                      LATDataError, ["ft1_dec_nan.fits", "DEC", "not finite", "row 10"]),
    "event-dec-120": (lambda f: _select(f, f["dec120"]), LATDataError,
                      ["ft1_dec120.fits", "DEC", "outside [-90, 90]", "row 10", "120.0"]),
    "event-time-nan-select": (lambda f: _select(f, f["time_nan"], "--tmin", "239557417"), LATDataError,
                              ["ft1_time_nan.fits", "TIME", "not finite", "row 10"]),
    "event-time-nan-bin": (lambda f: _bin(f, *_wcs(), evfile=f["time_nan"]), LATDataError,
                           ["ft1_time_nan.fits", "TIME", "not finite", "row 10"]),
    # ---- geometry arguments
    "expcube-nxpix-0": (lambda f: _expcube(f, f["ltcube"], *_wcs(nxpix=0)), LATDataError, ["nxpix=0", ">= 1"]),
    "expcube-binsz-negative": (lambda f: _expcube(f, f["ltcube"], *_wcs(binsz=-0.2)), LATDataError,
                               ["binsz=-0.2", "must be > 0"]),
    "expcube-latitude-100": (lambda f: _expcube(f, f["ltcube"], *_wcs(yref=100)), LATDataError,
                             ["yref=100.0", "[-90, 90]"]),
    "ltcube-roi-negative-radius": (lambda f: _ltcube(f, f["ft2"], "--roi", "83.6", "22", "-5"), LivetimeCubeError,
                                   ["roi", "radius -5", "(0, 180]"]),
    "ltcube-roi-latitude-100": (lambda f: _ltcube(f, f["ft2"], "--roi", "83.6", "100", "5"), LivetimeCubeError,
                                ["roi", "latitude 100", "[-90, 90]"]),
    "ltcube-nside-33": (lambda f: _ltcube(f, f["ft2"], "--nside", "33"), LivetimeCubeError,
                        ["nside", "power of 2", "33"]),
    "bin-binsz-0": (lambda f: _bin(f, *_wcs(binsz=0)), LATDataError, ["binsz=0.0", "must be > 0"]),
    "bin-binsz-negative": (lambda f: _bin(f, *_wcs(binsz=-0.2)), LATDataError, ["binsz=-0.2", "must be > 0"]),
    "bin-latitude-100": (lambda f: _bin(f, *_wcs(yref=100)), LATDataError, ["yref=100.0", "[-90, 90]"]),
    "bin-proj-XYZ": (lambda f: _bin(f, *_wcs(proj="XYZ")), LATDataError, ["proj='XYZ'", "not a WCS projection"]),
    "bin-hpx-order-negative": (lambda f: _bin(f, "--algorithm", "HEALPIX", "--hpx_order", "-1"), LATDataError,
                               ["hpx_order=-1", "[0, 29]"]),
    "bin-hpx-order-30": (lambda f: _bin(f, "--algorithm", "HEALPIX", "--hpx_order", "30"), LATDataError,
                         ["hpx_order=30", "[0, 29]"]),
    # ---- sizes: refused with the estimate and the limit before any allocation
    "ltcube-nside-8192": (lambda f: _ltcube(f, f["ft2"], "--nside", "8192"), ResourceLimitError,
                          ["NSIDE 8192", "GB of memory", "above the limit", "--max-memory"]),
    "bin-hpx-order-13": (lambda f: _bin(f, "--algorithm", "HEALPIX", "--hpx_order", "13"), ResourceLimitError,
                         ["order 13", "GB of memory", "above the limit"]),
    "bin-binsz-0.0001": (lambda f: _bin(f, *_wcs(nxpix=3600000, nypix=1800000, binsz=0.0001)), ResourceLimitError,
                         ["3600000 x 1800000 pixels", "GB of memory"]),
    "bin-enumbins-1e8": (lambda f: _bin(f, *_wcs(), "--enumbins", "100000000"), ResourceLimitError,
                         ["100000000 plane(s)", "GB of memory"]),
    # ---- filters, truncated files, names
    "filter-150-nested-parentheses": (lambda f: _mktime(f, filter_expr="(" * 150 + "DATA_QUAL>0" + ")" * 150),
                                      FilterExpressionError, ["nested too deeply", "50 levels"]),
    "filter-long-arithmetic-chain": (lambda f: _mktime(f, filter_expr="DATA_QUAL" + "+0" * 1000 + ">0"),
                                     FilterExpressionError, ["nested too deeply", "1002 levels", "DATA_QUAL+0+0"]),
    "ft2-truncated": (lambda f: _mktime(f, scfile=f["ft2_truncated"]), LATFileError,
                      ["ft2_truncated.fits", "truncated", "881280 bytes"]),
    "ft1-gz-truncated": (lambda f: _select(f, f["ft1_truncated"]), LATFileError,
                         ["ft1_truncated.fits.gz", "truncated", "gzip", "EVENTS"]),
    "select-non-ascii-name": (lambda f: _select(f, f["ft1"], out="sélection.fits"), OutputError,
                              ["sélection.fits", "non-ASCII", "FILENAME"]),
    "output-in-a-file": (lambda f: _select(f, f["ft1"], out="ft2.fits/sel.fits"), OutputError,
                         ["ft2.fits", "is not a folder"]),
    "validate-binary-yaml": (lambda f: ["validate", f["binary_yaml"]], ConfigError, ["binary.yaml", "binary file"]),
    "run-binary-yaml": (lambda f: ["run", f["binary_yaml"]], ConfigError, ["binary.yaml", "binary file"]),
    "allsky-binary-yaml": (lambda f: ["allsky", f["binary_yaml"]], ConfigError, ["binary.yaml", "binary file"]),
    "validate-deep-yaml": (lambda f: ["validate", f["deep_yaml"]], ConfigError, ["deep.yaml", "nested too deeply"]),
    "allsky-deep-yaml": (lambda f: ["allsky", f["deep_yaml"]], ConfigError, ["deep.yaml", "nested too deeply"]),
}


@pytest.mark.parametrize("case", list(CLI_CASES))
def test_cli_bad_input(files, case):
    make_args, error, expected = CLI_CASES[case]
    exc, message = invoke(make_args(files))
    assert isinstance(exc, error), f"{type(exc).__name__}: {message}"
    check_message(message, expected, multiline=error is FilterExpressionError)


def test_one_line_on_the_terminal(files):
    """As the user sees it: ``Error: ...`` on one line, exit status 1, no traceback."""
    result = CliRunner().invoke(cli, [str(a) for a in _ltcube(files, files["ft2_neglt"])])
    assert result.exit_code == 1
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert lines[-1].startswith("Error: FT2 file") and "Traceback" not in result.output


def test_nside_8192_refused_before_allocation(files, crab_day):
    """The memory guard answers at once with the estimate, before reading or allocating anything."""
    import tracemalloc

    from gammapy_lat.data import read_events, read_spacecraft
    from gammapy_lat.livetime import LivetimeCube

    start = time.perf_counter()
    exc, message = invoke(_ltcube(files, files["dir"] / "no-such-ft2.fits", "--nside", "8192"))
    assert time.perf_counter() - start < 1.0
    # refused before the (missing) spacecraft file is even opened
    assert isinstance(exc, ResourceLimitError) and "GB" in message and "no-such-ft2" not in message
    # the API refuses the same request with next to no memory allocated
    spacecraft = read_spacecraft(files["ft2"])
    events = read_events(files["ft1"])
    tracemalloc.start()
    start = time.perf_counter()
    with pytest.raises(ResourceLimitError, match=r"NSIDE 8192 with 40 cos\(theta\) bins would need about [\d,]+ GB"):
        LivetimeCube.compute(spacecraft, events.gti, nside=8192, nbins=40)
    elapsed = time.perf_counter() - start
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert elapsed < 1.0 and peak < 50e6
    # an explicit higher limit lets the (real) request through the guard, down to the allocation
    from gammapy_lat.utils.resources import check_memory, reset_limits, set_limits

    try:
        set_limits(max_memory_gb=1e5)
        check_memory(3e12, "3 TB")
    finally:
        reset_limits()


def test_memory_limit_settings(files, monkeypatch):
    from gammapy_lat.utils.resources import check_memory, memory_limit

    # the command-line option, for this command only
    args = _bin(files, *_wcs())
    exc, message = invoke(["--max-memory", "0.000001", *args])
    assert isinstance(exc, ResourceLimitError)
    check_message(message, ["10 x 10 pixels x 20 plane(s)", "above the limit of 1e-06 GB (--max-memory)"])
    result = CliRunner().invoke(cli, [str(a) for a in args])
    assert result.exit_code == 0, result.output

    monkeypatch.setenv("GAMMAPY_LAT_MAX_MEMORY", "2")
    assert memory_limit() == (2e9, "GAMMAPY_LAT_MAX_MEMORY")
    with pytest.raises(ResourceLimitError, match=r"about 3 GB of memory, above the limit of 2 GB \(GAMMAPY_LAT_MAX_MEMORY\)"):
        check_memory(3e9, "A thing")
    monkeypatch.setenv("GAMMAPY_LAT_MAX_MEMORY", "0")
    check_memory(1e15, "Anything")  # 0: no limit
    monkeypatch.setenv("GAMMAPY_LAT_MAX_MEMORY", "lots")
    with pytest.raises(ConfigError, match="GAMMAPY_LAT_MAX_MEMORY='lots' is not a number"):
        memory_limit()


def test_filter_with_1000_terms_works(files):
    """A long (generated) filter is not an error: 1000 '&&' terms give the GTIs of the short filter."""
    from gammapy_lat.data import mktime, read_events, read_spacecraft

    events, spacecraft = read_events(files["ft1"]), read_spacecraft(files["ft2"])
    short = mktime(events, spacecraft, filter="(DATA_QUAL>0)&&(LAT_CONFIG==1)")
    long = mktime(events, spacecraft, filter="&&".join(["(DATA_QUAL>0)", "(LAT_CONFIG==1)"] * 500))
    np.testing.assert_array_equal(long.gti_start, short.gti_start)
    np.testing.assert_array_equal(long.gti_stop, short.gti_stop)


def test_empty_gti_rows_dropped_with_a_warning(files, tmp_path, caplog):
    from gammapy_lat.data import read_events

    path = _modified(files["ft1"], tmp_path / "ft1_empty_gti.fits", "GTI", "STOP", 3,
                     float(fits.getdata(files["ft1"], "GTI")["START"][3]))
    with caplog.at_level("WARNING"):
        events = read_events(path)
    assert "dropping 1 empty GTI row(s)" in caplog.text and str(path) in caplog.text
    assert len(events.gti_start) == len(fits.getdata(files["ft1"], "GTI")) - 1


# ----------------------------------------------------------------- outputs checked first
def _missing(files):
    return files["dir"] / "no-such-input.fits"


FIRST_CASES = {
    "select": lambda f, out: ["select", "--infile", _missing(f), "-o", out],
    "mktime": lambda f, out: ["mktime", "--scfile", _missing(f), "--evfile", _missing(f), "-o", out],
    "bin": lambda f, out: ["bin", "--evfile", _missing(f), "-o", out, *_wcs(), "--emin", "200", "--emax", "2000",
                           "--enumbins", "3"],
    "ltcube": lambda f, out: ["ltcube", "--evfile", _missing(f), "--scfile", _missing(f), "-o", out],
    "expcube": lambda f, out: ["expcube", "--ltcube", f["ltcube"], "--irf", "NO_SUCH_IRF", "--caldb", f["caldb"],
                               *_wcs(), "--emin", "200", "--emax", "2000", "--enumbins", "3", "-o", out],
    "psf": lambda f, out: ["psf", "--ltcube", f["ltcube"], "--irf", "NO_SUCH_IRF", "--caldb", f["caldb"],
                           "--ra", "83.6", "--dec", "22", "-o", out],
    "drm": lambda f, out: ["drm", "--ltcube", f["ltcube"], "--irf", "NO_SUCH_IRF", "--caldb", f["caldb"],
                           "--ra", "83.6", "--dec", "22", "--emin", "200", "--emax", "2000", "--enumbins", "3",
                           "-o", out],
}


@pytest.mark.parametrize("command", list(FIRST_CASES))
def test_existing_output_checked_before_work(files, tmp_path, command):
    """An existing output is refused before the inputs are read (they do not even exist here)."""
    out = tmp_path / "exists.fits"
    out.write_bytes(b"the user's file")
    exc, message = invoke(FIRST_CASES[command](files, out))
    assert isinstance(exc, FileExistsError)
    check_message(message, [str(out), "already exists", "--clobber"])
    assert out.read_bytes() == b"the user's file"


def _as_unprivileged():
    """Context manager: drop to an unprivileged effective uid when running as root."""
    import contextlib
    import os

    @contextlib.contextmanager
    def drop():
        if os.geteuid() != 0:
            yield
            return
        os.seteuid(65534)
        try:
            yield
        finally:
            os.seteuid(0)

    return drop()


@pytest.mark.parametrize("command", ["select", "mktime", "bin", "ltcube"])
def test_unwritable_output_folder_checked_before_work(files, command):
    """A folder the user cannot write to is refused before any input is read."""
    import os
    import tempfile

    # once as the user running the tests, so that every module the command imports is loaded
    invoke(FIRST_CASES[command](files, files["dir"] / f"warm-up-{command}.fits"))
    base = tempfile.mkdtemp(prefix="gammapy-lat-ro-")
    try:
        os.chmod(base, 0o755)
        folder = os.path.join(base, "readonly")
        os.mkdir(folder, 0o555)
        out = os.path.join(folder, "out.fits")
        with _as_unprivileged():
            exc, message = invoke(FIRST_CASES[command](files, out))
    finally:
        os.chmod(os.path.join(base, "readonly"), 0o755)
        shutil.rmtree(base)
    assert isinstance(exc, OutputError), message
    check_message(message, [folder, "not writable"])


# ---------------------------------------------------------------------- runner and validate
def _lat_config(files, tmp_path, **changes):
    """The lat-crab-day configuration on the kit (one change per case)."""
    kit = files["caldb"].parent
    block = {
        "instrument": "lat",
        "name": "lat",
        "events": str(kit / "crab-1day/ft1.fits.gz"),
        "spacecraft": str(kit / "crab-1day/ft2.fits.gz"),
        "irf_name": IRF,
        "caldb": str(files["caldb"]),
        "selection": {"evtype": 3, "zmax": "90 deg", "energy": {"min": "200 MeV", "max": "20 GeV"},
                      "roi": {"frame": "icrs", "lon": "83.6331 deg", "lat": "22.0145 deg", "radius": "15 deg"}},
        "ltcube": {"file": str(kit / "crab-1day/ltcube.fits.gz")},
        "geom": {"wcs": {"skydir": {"frame": "icrs", "lon": "83.6331 deg", "lat": "22.0145 deg"},
                         "binsize": "0.2 deg", "width": {"width": "10 deg", "height": "10 deg"},
                         "binsize_irf": "1 deg"},
                 "axes": {"energy": {"min": "200 MeV", "max": "20 GeV", "nbins_per_decade": 5}}},
    }
    config = {"general": {"outdir": str(tmp_path / "out")}, "datasets": [block]}
    for path, value in changes.items():
        target = block
        keys = path.split(".")
        for key in keys[:-1]:
            target = target[key]
        target[keys[-1]] = value
    path = tmp_path / "analysis.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


VALIDATE_CASES = {
    "binsize-0": ({"geom.wcs.binsize": "0 deg"}, ["datasets[0].geom.wcs.binsize", "binsize=0 deg", "(0, 180]"]),
    "binsize-negative": ({"geom.wcs.binsize": "-0.1 deg"}, ["geom.wcs.binsize", "binsize=-0.1 deg"]),
    "binsize-irf-0": ({"geom.wcs.binsize_irf": "0 deg"}, ["geom.wcs.binsize_irf", "binsize_irf=0 deg"]),
    "zmax-200": ({"selection.zmax": "200 deg"}, ["selection.zmax", "zmax=200 deg", "(0, 180]"]),
    "zmax-0": ({"selection.zmax": "0 deg"}, ["selection.zmax", "zmax=0 deg"]),
    "roi-radius-0": ({"selection.roi.radius": "0 deg"}, ["selection.roi.radius", "radius=0 deg"]),
    "roi-radius-negative": ({"selection.roi.radius": "-3 deg"}, ["selection.roi.radius", "radius=-3 deg"]),
    "skydir-lat-95": ({"geom.wcs.skydir.lat": "95 deg"}, ["geom.wcs.skydir", "lat=95 deg", "[-90, 90]"]),
    "roi-lat-minus-91": ({"selection.roi.lat": "-91 deg"}, ["selection.roi", "lat=-91 deg"]),
    "width-0": ({"geom.wcs.width.width": "0 deg"}, ["geom.wcs.width.width", "width=0 deg"]),
    "height-0": ({"geom.wcs.width.height": "0 deg"}, ["geom.wcs.width.height", "height=0 deg"]),
    "energy-min-negative": ({"selection.energy.min": "-200 MeV"},
                            ["selection.energy.min", "min=-200 MeV", "positive"]),
    "energy-min-0": ({"selection.energy.min": "0 MeV"}, ["selection.energy.min", "min=0 MeV", "positive"]),
    "axis-energy-min-negative": ({"geom.axes.energy.min": "-1 GeV"}, ["geom.axes.energy.min", "positive"]),
    "fit-range-negative": ({"fit_range": {"min": "-1 GeV"}}, ["fit_range.min", "positive"]),
    "proj-XYZ": ({"geom.wcs.proj": "XYZ"}, ["geom.wcs.proj", "'XYZ'", "not a WCS projection"]),
    "nbins-per-decade-1e8": ({"geom.axes.energy.nbins_per_decade": 1e8}, ["geom", "GB of memory", "above the limit"]),
    "ltcube-nside-33": ({"ltcube.nside": 33}, ["ltcube.nside", "power of 2"]),
    "name-dotdot": ({"name": ".."}, ["datasets[0].name", "'..'", "names folders of the output"]),
    "unknown-irf": ({"irf_name": "P8R3_NOSUCH_V9"}, ["datasets[0].irf_name 'P8R3_NOSUCH_V9'", "not found in the CALDB"]),
    "unknown-evtype-for-irf": ({"selection.evtype": 1024}, ["datasets[0].selection.evtype", "1024"]),
}


@pytest.mark.parametrize("case", list(VALIDATE_CASES))
def test_validate_catches(files, tmp_path, case):
    changes, expected = VALIDATE_CASES[case]
    exc, message = invoke(["validate", _lat_config(files, tmp_path, **changes)])
    assert isinstance(exc, ConfigError), message
    check_message(message, expected)


def test_validate_catches_missing_caldb_file(files, tmp_path):
    exc, message = invoke(["validate", _lat_config(files, tmp_path, caldb=str(files["caldb_incomplete"]))])
    assert isinstance(exc, ConfigError)
    check_message(message, ["datasets[0].irf_name", "psf_P8R2_SOURCE_V6_FB.fits", "does not exist", "RPSF"])
    # the same check as the reduction's own look-up
    from gammapy_lat.irf import CALDB

    with pytest.raises(CALDBError, match="does not exist"):
        CALDB(files["caldb_incomplete"]).check_irf(IRF, 3)


def test_validate_accepts_the_good_config(files, tmp_path):
    result = CliRunner().invoke(cli, ["validate", str(_lat_config(files, tmp_path))])
    assert result.exit_code == 0, result.output
    assert "valid" in result.output


def test_validate_checks_outdir(files, tmp_path):
    (tmp_path / "a-file").write_text("")
    path = _lat_config(files, tmp_path)
    config = yaml.safe_load(path.read_text())
    config["general"]["outdir"] = str(tmp_path / "a-file" / "out")
    path.write_text(yaml.safe_dump(config))
    exc, message = invoke(["validate", path])
    assert isinstance(exc, ConfigError)
    check_message(message, ["general.outdir", "a-file", "not a folder"])


# ------------------------------------------------------------------------------- all-sky
def _allsky(files, tmp_path, component=None, **livetime):
    comp = {"name": "c", "energy": {"min": "1 GeV", "max": "10 GeV", "nbins": 4}, "exposure": False,
            "geom": {"type": "wcs", "binsz": 1.0, "width": [10, 10], "center": [184.5, -5.8]}}
    comp.update(component or {})
    config = {"ft1": str(files["ft1"]), "ft2": str(files["ft2"]), "outdir": str(tmp_path / "out"),
              "irfs": IRF, "caldb": str(files["caldb"]), "components": [comp],
              "livetime": {"nside": 8, "ncostheta": 10, **livetime}}
    path = tmp_path / "allsky.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


ALLSKY_CASES = {
    "livetime-nside-8192": ({}, {"nside": 8192}, ResourceLimitError, ["livetime.nside=8192", "GB of memory"]),
    "healpix-order-13": ({"geom": {"type": "healpix", "order": 13}}, {}, ResourceLimitError,
                         ["Component 'c'", "805306368 pixels", "GB of memory"]),
    "binsz-0.0001": ({"geom": {"type": "wcs", "binsz": 0.0001}}, {}, ResourceLimitError,
                     ["Component 'c'", "3600000 x 1800000 pixels", "GB of memory"]),
    "nbins-1e8": ({"energy": {"min": "1 GeV", "max": "10 GeV", "nbins": 100000000}}, {}, ResourceLimitError,
                  ["100000000 energy bins", "GB of memory"]),
    "time-chunk-1s": ({}, {"time_chunk": 1}, ResourceLimitError,
                      ["time_chunk=1 s", "86,400 time chunks", "tasks", "above the limit", "--max-tasks"]),
    "component-dotdot": ({"name": ".."}, {}, ConfigError, ["components[0].name", "'..'", "outdir/<name>"]),
    "component-dot": ({"name": "."}, {}, ConfigError, ["components[0].name", "'.'"]),
    "width-0": ({"geom": {"type": "wcs", "width": [0, 10]}}, {}, ConfigError, ["geom.width", "(0, 360]"]),
    "latitude-100": ({"geom": {"type": "wcs", "center": [0, 100]}}, {}, ConfigError, ["latitude 100", "[-90, 90]"]),
    "proj-XYZ": ({"geom": {"type": "wcs", "proj": "XYZ"}}, {}, ConfigError, ["'XYZ'", "not a WCS projection"]),
    "livetime-nside-33": ({}, {"nside": 33}, ConfigError, ["livetime.nside", "power of two"]),
}


@pytest.mark.parametrize("case", list(ALLSKY_CASES))
def test_allsky_refusals_include_dry_run(files, tmp_path, case):
    """Refused before the task graph is built: ``--dry-run`` answers at once too."""
    component, livetime, error, expected = ALLSKY_CASES[case]
    start = time.perf_counter()
    exc, message = invoke(["allsky", _allsky(files, tmp_path, component, **livetime), "--dry-run"])
    assert time.perf_counter() - start < 10
    assert isinstance(exc, error), message
    check_message(message, expected)
    assert not (tmp_path / "out").exists()


def test_allsky_limits_can_be_raised(files, tmp_path):
    """With an explicit task limit the same configuration gets past the guard (dry run)."""
    path = _allsky(files, tmp_path, time_chunk=43200)
    result = CliRunner().invoke(cli, ["--max-tasks", "3", "allsky", str(path), "--dry-run"])
    assert result.exit_code == 1 and "above the limit of 3 (--max-tasks)" in result.output
    result = CliRunner().invoke(cli, ["allsky", str(path), "--dry-run"])
    assert result.exit_code == 0, result.output
    assert "tasks" in result.output


def test_allsky_bad_spacecraft_rows_fail_the_tasks(files, tmp_path):
    """The pipeline reads FT2 files through the same checks: the livetime cannot go negative."""
    from gammapy_lat.pipeline import PipelineError

    path = _allsky(files, tmp_path)
    config = yaml.safe_load(path.read_text())
    config["ft2"] = str(files["ft2_neglt"])
    path.write_text(yaml.safe_dump(config))
    exc, message = invoke(["allsky", path, "--no-progress"])
    assert isinstance(exc, PipelineError)
    check_message(message, ["ft2_neglt.fits", "LIVETIME is negative", "row 100"], multiline=True)
    assert not (tmp_path / "out" / "c" / "ltcube.fits").exists()


@pytest.mark.parametrize("command", ["run", "allsky"])
def test_unwritable_outdir_checked_before_work(files, shared_path, command):
    import os
    import tempfile

    base = tempfile.mkdtemp(prefix="gammapy-lat-ro-")
    try:
        os.chmod(base, 0o755)
        folder = os.path.join(base, "readonly")
        os.mkdir(folder, 0o555)
        outdir = os.path.join(folder, "out")
        config = os.path.join(base, "config.yaml")
        kit = shared_path / "data"
        if command == "run":
            data = {"general": {"outdir": outdir}, "datasets": [{
                "instrument": "dl4", "name": "fermi", "format": "ogip",
                "path": str(kit / "gammapy-data/joint-crab/spectra/fermi/pha_obs0.fits")}]}
        else:
            data = {"ft1": str(kit / "lat/crab-1day/ft1.fits.gz"), "ft2": str(kit / "lat/crab-1day/ft2.fits.gz"),
                    "outdir": outdir, "components": [{"name": "c"}]}
        with open(config, "w") as fh:
            yaml.safe_dump(data, fh)
        invoke([command, os.path.join(base, "no-such-config.yaml")])  # loads the modules as this user
        with _as_unprivileged():
            exc, message = invoke([command, config])
    finally:
        os.chmod(os.path.join(base, "readonly"), 0o755)
        shutil.rmtree(base)
    assert isinstance(exc, (OutputError, ConfigError)), message
    check_message(message, ["out", "not writable"])
    assert "Traceback" not in message
