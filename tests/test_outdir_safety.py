"""Nothing outside the output folder is written or deleted; temporary files are cleaned up safely.

The data-loss cases found when probing the package with bad input are rerun here around a
sentinel tree: a user's folder holding the output folder, with files next to it that have the
names the package writes (``ccube.fits``, ``x``, temporary-looking files). The SHA-256 of every
file outside the output folder, and the list of folders, must be the same after the run.
"""
import errno
import hashlib
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from gammapy_lat.cli import cli
from gammapy_lat.errors import ConfigError, OutputError
from gammapy_lat.pipeline import AllSkyConfig, AllSkyPipeline
from gammapy_lat.utils import atomic_output
from gammapy_lat.utils.io import TMP_PREFIX, _host_hash, temporary_path

CONFIGS = Path(__file__).resolve().parents[1] / "configs"


# ----------------------------------------------------------------------------- sentinel tree
@pytest.fixture
def home(tmp_path):
    """``(home, outdir)``: a user's folder with files around the output folder ``home/work/out``."""
    home = tmp_path / "home"
    outdir = home / "work" / "out"
    content = {
        "notes.txt": "the user's notes",
        "work/x": "a file named x next to the output folder",
        "work/ccube.fits": "the user's own counts cube",
        "work/ltcube.fits": "the user's own livetime cube",
        "work/manifest.json": "{}",
        "work/.tmp-editor-swap": "another program's temporary file",
        "keep/a.txt": "kept",
        "keep/b.txt": "kept too",
    }
    for name, text in content.items():
        (home / name).parent.mkdir(parents=True, exist_ok=True)
        (home / name).write_text(text)
    # a temporary file of this package, stale, but outside the output folder: not ours to remove
    dead = _dead_pid()
    (home / "work" / f"{TMP_PREFIX}{_host_hash()}-{dead}-0-0123abcd-ccube.fits").write_text("outside")
    return home, outdir


def _dead_pid():
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def snapshot(home, outdir):
    """SHA-256 of every file and the list of folders under ``home`` outside ``outdir``."""
    out = {}
    for path in sorted(home.rglob("*")):
        if path == outdir or outdir in path.parents:
            continue
        rel = str(path.relative_to(home))
        if path.is_symlink():
            out[rel] = "link -> " + os.readlink(path)
        elif path.is_dir():
            out[rel] = "dir"
        else:
            out[rel] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out


# --------------------------------------------------------------------------- the runner
def _dl4_config(shared_path, outdir, path):
    config = {
        "general": {"outdir": str(outdir), "progress_bar": False},
        "datasets": [{
            "instrument": "dl4", "name": "fermi", "format": "ogip",
            "path": str(shared_path / "data/gammapy-data/joint-crab/spectra/fermi/pha_obs0.fits"),
            "fit_range": {"min": "0.03 TeV", "max": "2 TeV"},
        }],
        "models": [{"file": str(CONFIGS / "crab-logparabola-1d.yaml")}],
    }
    path.write_text(yaml.safe_dump(config))
    return path


def test_run_never_deletes_files_listed_outside_outdir(shared_path, home, tmp_path, caplog):
    """analysis-state.json entries ``../x``, ``/abs/path`` and links to outside are never removed."""
    home_dir, outdir = home
    config = _dl4_config(shared_path, outdir, tmp_path / "analysis.yaml")
    runner = CliRunner()
    result = runner.invoke(cli, ["run", str(config), "--steps", "reduce"])
    assert result.exit_code == 0, result.output
    before = snapshot(home_dir, outdir)
    (outdir / "link.txt").symlink_to(home_dir / "keep" / "b.txt")
    state_file = outdir / "analysis-state.json"
    state = json.loads(state_file.read_text())
    entry = state["steps"]["reduce/fermi"]
    entry["key"] = "from an older run"
    entry["products"] += ["../x", "../../notes.txt", str(home_dir / "keep" / "a.txt"), "link.txt",
                          "reduce/../../ccube.fits"]
    state_file.write_text(json.dumps(state))
    with caplog.at_level("WARNING"):
        result = runner.invoke(cli, ["run", str(config), "--steps", "reduce"])
    assert result.exit_code == 0, result.output
    assert snapshot(home_dir, outdir) == before
    assert (outdir / "link.txt").is_symlink() and (home_dir / "keep" / "b.txt").read_text() == "kept too"
    assert "ignoring the entry '../x'" in caplog.text and "is not inside" in caplog.text
    # the step ran again and its products are in place
    assert (outdir / "reduce" / "fermi" / "datasets.yaml").is_file()
    assert json.loads(state_file.read_text())["steps"]["reduce/fermi"]["key"] != "from an older run"


def test_two_runs_on_one_outdir(shared_path, home, tmp_path):
    """A second run on an output folder in use stops at once (the lock of the all-sky pipeline)."""
    home_dir, outdir = home
    config = _dl4_config(shared_path, outdir, tmp_path / "analysis.yaml")
    before = snapshot(home_dir, outdir)
    holder = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(f"""
            import sys
            from gammapy_lat.utils.io import folder_lock
            with folder_lock({str(outdir)!r}):
                print("locked", flush=True)
                sys.stdin.readline()
        """)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        result = CliRunner().invoke(cli, ["run", str(config)], standalone_mode=False)
        exc = result.exception.__cause__
        assert isinstance(exc, OutputError) and f"Output folder {outdir} is in use" in str(exc)
        assert not (outdir / "reduce").exists() and not (outdir / "analysis-state.json").exists()
    finally:
        holder.communicate("done\n")
    assert snapshot(home_dir, outdir) == before
    result = CliRunner().invoke(cli, ["run", str(config), "--steps", "reduce"])
    assert result.exit_code == 0, result.output


# ---------------------------------------------------------------------------- the pipeline
def _allsky_config(crab_day, caldb_path, outdir, name="cntmap"):
    return {
        "ft1": str(crab_day / "ft1.fits.gz"),
        "ft2": str(crab_day / "ft2.fits.gz"),
        "outdir": str(outdir),
        "irfs": "P8R2_SOURCE_V6",
        "caldb": str(caldb_path),
        "livetime": {"nside": 8, "ncostheta": 10, "zmax": 180},
        "components": [{
            "name": name, "energy": {"min": "200 MeV", "max": "20 GeV", "nbins": 5}, "evtype": 3, "zmax": 90,
            "geom": {"type": "wcs", "binsz": 1.0, "width": [20, 20], "center": [184.56, -5.78]}, "exposure": False,
        }],
        "parallel": {"n_jobs": 1},
    }


@pytest.mark.parametrize("name", ["..", ".", "../work", "a/b"])
def test_allsky_component_names_outside_outdir(crab_day, caldb_path, home, name):
    home_dir, outdir = home
    before = snapshot(home_dir, outdir)
    with pytest.raises(ConfigError, match=r"components\[0\]\.name"):
        AllSkyPipeline(AllSkyConfig.from_dict(_allsky_config(crab_day, caldb_path, outdir, name=name))).run()
    assert snapshot(home_dir, outdir) == before


def test_allsky_never_publishes_through_a_link_to_outside(crab_day, caldb_path, home):
    home_dir, outdir = home
    outdir.mkdir(parents=True)
    (outdir / "cntmap").symlink_to(home_dir / "keep")
    before = snapshot(home_dir, outdir)
    with pytest.raises(ConfigError, match="would be published outside"):
        AllSkyPipeline(AllSkyConfig.from_dict(_allsky_config(crab_day, caldb_path, outdir))).run()
    assert snapshot(home_dir, outdir) == before
    assert sorted(p.name for p in (home_dir / "keep").iterdir()) == ["a.txt", "b.txt"]


_HOLD_WRITER = """
import sys
from gammapy_lat.utils import atomic_output
with atomic_output(sys.argv[1]) as tmp:
    tmp.write_text("written by another command")
    print(tmp, flush=True)
    sys.stdin.readline()
"""


def test_allsky_startup_removes_only_its_own_stale_temporaries(crab_day, caldb_path, home):
    """Start-up clean-up: stale files of this package go; other programs' files and the temporary
    file of a command writing into the folder at the same time stay (and that command succeeds)."""
    home_dir, outdir = home
    (outdir / "partials").mkdir(parents=True)
    foreign = {outdir / ".tmp-abc-x.fits": "not ours", outdir / "partials" / ".tmp-foo": "not ours either",
               outdir / "notes.tmp": "the user's"}
    for path, text in foreign.items():
        path.write_text(text)
    stale = outdir / "partials" / f"{TMP_PREFIX}{_host_hash()}-{_dead_pid()}-0-0123abcd-old.fits"
    stale.write_text("left by a killed run")
    writer = subprocess.Popen([sys.executable, "-c", _HOLD_WRITER, str(outdir / "selected.fits")],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        live = Path(writer.stdout.readline().strip())
        assert live.exists() and live.name.startswith(TMP_PREFIX)
        before = snapshot(home_dir, outdir)
        result = AllSkyPipeline(AllSkyConfig.from_dict(_allsky_config(crab_day, caldb_path, outdir))).run()
        assert live.exists(), "the temporary file of a running command was removed"
    finally:
        writer.communicate("go on\n")
    assert writer.returncode == 0
    assert (outdir / "selected.fits").read_text() == "written by another command"
    assert not stale.exists()
    assert all(path.read_text() == text for path, text in foreign.items())
    assert snapshot(home_dir, outdir) == before
    assert result.products["cntmap"]["counts"] == outdir / "cntmap" / "ccube.fits"


def test_allsky_rerun_leaves_no_temporaries_and_manifest_after_resume(crab_day, caldb_path, tmp_path):
    outdir = tmp_path / "out"
    config = AllSkyConfig.from_dict(_allsky_config(crab_day, caldb_path, outdir))
    first = AllSkyPipeline(config).run()
    nevents = first.summary["cntmap"]["nevents"]
    assert nevents > 0
    second = AllSkyPipeline(config).run()
    assert second.report.n_done == 0
    leftovers = [p for p in outdir.rglob("*") if p.name.startswith((TMP_PREFIX, ".tmp-"))]
    assert leftovers == []
    # a run killed after its final products and before its manifest: the resume that finds every
    # product still writes the summary and the figures, read back from the products
    (outdir / "manifest.json").unlink()
    third = AllSkyPipeline(config).run()
    assert third.report.n_done == 0 and third.summary == first.summary
    manifest = json.loads((outdir / "manifest.json").read_text())
    assert manifest["summary"]["cntmap"]["nevents"] == nevents
    assert manifest["summary"]["cntmap"]["livetime_max_s"] == first.summary["cntmap"]["livetime_max_s"]
    assert len(manifest["figures"]) == 2
    from gammapy.maps import Map

    assert int(Map.read(outdir / "cntmap" / "ccube.fits").data.sum()) == nevents


# --------------------------------------------------------------- temporary files, signals
def test_temporary_files_name_their_owner(tmp_path):
    tmp = temporary_path(tmp_path / "ccube.fits.gz")
    assert tmp.parent == tmp_path and tmp.name.startswith(TMP_PREFIX) and tmp.name.endswith("-ccube.fits.gz")
    assert f"-{os.getpid()}-" in tmp.name


def test_stale_temporary_of_a_killed_writer_removed_by_the_next_write(tmp_path):
    out = tmp_path / "cube.fits"
    proc = subprocess.Popen([sys.executable, "-c", _HOLD_WRITER, str(out)], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    left = Path(proc.stdout.readline().strip())
    proc.kill()  # kill -9: no clean-up possible
    proc.wait()
    assert left.exists() and not out.exists()
    other = tmp_path / "other.fits"
    with atomic_output(other) as tmp:  # another product: not its business
        tmp.write_text("x")
    assert left.exists()
    with atomic_output(out) as tmp:
        tmp.write_text("new")
    assert not left.exists() and out.read_text() == "new"


_SLOW_SELECT = """
import sys, time
from astropy.io import fits

def slow_writeto(self, name, *args, **kwargs):
    with open(name, "wb") as fh:
        fh.write(b"SIMPLE  =" + b" " * 2000)
    print("writing", flush=True)
    time.sleep(60)

fits.HDUList.writeto = slow_writeto
from gammapy_lat.cli import cli
cli(sys.argv[1:])
"""


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_sigterm_cleans_up_like_ctrl_c(crab_day, tmp_path, sig):
    out = tmp_path / "sel.fits"
    proc = subprocess.Popen(
        [sys.executable, "-c", _SLOW_SELECT, "select", "--infile", str(crab_day / "ft1.fits.gz"), "-o", str(out),
         "--emin", "1000"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        assert proc.stdout.readline().strip() == "writing"
        assert [p.name for p in tmp_path.iterdir() if p.name.startswith(TMP_PREFIX)]
        proc.send_signal(sig)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == (128 + signal.SIGTERM if sig == signal.SIGTERM else 1)
    assert list(tmp_path.iterdir()) == [], "a temporary file or a partial output was left"


def test_outputs_respect_the_umask(crab_day, tmp_path):
    previous = os.umask(0o022)
    try:
        for umask, mode in ((0o022, 0o644), (0o002, 0o664), (0o077, 0o600)):
            os.umask(umask)
            out = tmp_path / f"sel-{umask:o}.fits"
            result = CliRunner().invoke(cli, ["select", "--infile", str(crab_day / "ft1.fits.gz"), "-o", str(out),
                                              "--emin", "1000"])
            assert result.exit_code == 0, result.output
            assert out.stat().st_mode & 0o777 == mode
    finally:
        os.umask(previous)


def test_file_too_large_is_a_one_line_error(crab_day, tmp_path):
    """A write that the system refuses (here a file-size limit, as a full disk) is one line."""
    out = tmp_path / "sel.fits"
    code = textwrap.dedent("""
        import resource, signal, sys
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (20000, 20000))
        from gammapy_lat.cli import cli
        cli(sys.argv[1:])
    """)
    proc = subprocess.run([sys.executable, "-c", code, "select", "--infile", str(crab_day / "ft1.fits.gz"),
                           "-o", str(out)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1, proc.stderr
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith(f"Error: Cannot write {out}: file too large") and "Traceback" not in proc.stderr
    assert list(tmp_path.iterdir()) == []


def test_disk_full_is_a_one_line_error(crab_day, tmp_path, monkeypatch):
    from astropy.io import fits

    def no_space(self, name, *args, **kwargs):
        with open(name, "wb") as fh:
            fh.write(b"partial")
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(name))

    monkeypatch.setattr(fits.HDUList, "writeto", no_space)
    out = tmp_path / "sel.fits"
    result = CliRunner().invoke(cli, ["select", "--infile", str(crab_day / "ft1.fits.gz"), "-o", str(out)],
                                standalone_mode=False)
    exc = result.exception.__cause__
    assert isinstance(exc, OutputError)
    assert str(exc).startswith(f"Cannot write {out}: no space left on the device;") and "GB free in" in str(exc)
    assert list(tmp_path.iterdir()) == []


def test_pipeline_worker_temporaries_removed_after_a_kill(crab_day, caldb_path, tmp_path):
    """SIGTERM to a running all-sky pipeline: it stops, and no temporary file is left behind."""
    cfg = _allsky_config(crab_day, caldb_path, tmp_path / "out")
    cfg["livetime"]["time_chunk"] = 3600.0
    path = tmp_path / "allsky.yaml"
    path.write_text(yaml.safe_dump(cfg))
    proc = subprocess.Popen([sys.executable, "-c", "from gammapy_lat.cli import cli; cli()", "allsky", str(path),
                             "--no-progress"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    partials = tmp_path / "out" / "partials"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        if partials.exists() and len(list(partials.rglob("*.fits"))) >= 3:
            break
        time.sleep(0.05)
    assert proc.poll() is None, "the pipeline finished before it could be stopped"
    proc.terminate()
    proc.wait(timeout=60)
    assert proc.returncode == 128 + signal.SIGTERM, proc.stderr.read()
    assert not [p for p in (tmp_path / "out").rglob(TMP_PREFIX + "*")]
