"""Task-graph engine of the all-sky pipeline: hashing, resume, failures, atomic products."""
import json

import numpy as np
import pytest

from gammapy_lat.pipeline import AllSkyConfig, Executor, PipelineError, Task, TaskGraph
from gammapy_lat.pipeline.engine import outdir_lock
from gammapy_lat.utils import atomic_output
from gammapy_lat.utils.hashing import content_hash, file_identity
from gammapy_lat.utils.io import TMP_PREFIX


def write_square(output, value):
    with atomic_output(output) as tmp:
        tmp.write_text(json.dumps(value * value))
    return {"value": value}


def write_sum(output, parts):
    total = sum(json.loads(open(p).read()) for p in parts)
    with atomic_output(output) as tmp:
        tmp.write_text(json.dumps(total))
    return {"total": total}


def fail_on_three(output, value):
    if value == 3:
        raise ValueError("bad input 3")
    return write_square(output, value)


def make_graph(tmp_path, values, func=write_square):
    graph = TaskGraph()
    parts = []
    for v in values:
        key = content_hash("square", v)
        parts.append(graph.add(Task(key, "square", f"square {v}", tmp_path / f"sq_{key}.json", func, {"value": v})))
    key = content_hash("sum", [t.key for t in parts])
    final = graph.add(
        Task(key, "sum", "sum", tmp_path / f"sum_{key}.json", write_sum, {"parts": [str(t.output) for t in parts]},
             deps=tuple(t.key for t in parts))
    )
    return graph, parts, final


@pytest.mark.parametrize("n_jobs", [1, 2])
def test_graph_result_and_resume(tmp_path, n_jobs):
    values = list(range(1, 9))
    graph, parts, final = make_graph(tmp_path, values)
    assert [len(level) for level in graph.levels()] == [8, 1]
    # the dependent task is submitted last, with the products it waits for
    assert [t.kind for level in graph.levels() for t in level][-1] == "sum"
    report = Executor(n_jobs=n_jobs).run(graph)
    # sum of squares 1..n = n (n + 1) (2n + 1) / 6
    assert json.loads(final.output.read_text()) == 8 * 9 * 17 // 6
    assert report.n_done == 9 and report.n_present == 0
    # nothing to do on a rerun
    report = Executor(n_jobs=n_jobs).run(graph)
    assert report.n_done == 0 and report.n_present == 9
    # a lost partial is recomputed, the rest is found
    parts[2].output.unlink()
    final.output.unlink()
    report = Executor(n_jobs=n_jobs).run(graph)
    assert report.n_done == 2 and report.n_present == 7
    assert json.loads(final.output.read_text()) == 204


def test_failure_keeps_completed_partials(tmp_path):
    graph, parts, final = make_graph(tmp_path, [1, 2, 3, 4], func=fail_on_three)
    with pytest.raises(PipelineError, match=r"1 task\(s\) failed \(1 dependent.*\n- square 3: ValueError: bad input 3"):
        Executor(n_jobs=2).run(graph)
    done = [p.output.exists() for p in parts]
    assert done == [True, True, False, True]
    assert not final.output.exists()
    assert not list(tmp_path.glob(TMP_PREFIX + "*"))
    # the failure is recorded next to the missing product; a rerun clears it and retries
    assert "bad input 3" in (tmp_path / (parts[2].output.name + ".failed")).read_text()
    graph, parts, final = make_graph(tmp_path, [1, 2, 3, 4])
    report = Executor(n_jobs=2).run(graph)
    assert report.n_done == 2 and json.loads(final.output.read_text()) == 30
    assert not list(tmp_path.glob("*.failed"))


def test_graph_rejects_conflicting_outputs(tmp_path):
    graph = TaskGraph()
    graph.add(Task("a" * 16, "square", "one", tmp_path / "x.json", write_square, {"value": 1}))
    # identical task: added once
    graph.add(Task("a" * 16, "square", "one", tmp_path / "x.json", write_square, {"value": 1}))
    assert len(graph) == 1
    with pytest.raises(PipelineError, match="same file"):
        graph.add(Task("b" * 16, "square", "two", tmp_path / "x.json", write_square, {"value": 2}))
    with pytest.raises(PipelineError, match="not in the graph"):
        graph.add(Task("c" * 16, "sum", "s", tmp_path / "s.json", write_sum, {}, deps=("d" * 16,)))


def test_file_identity_and_hash(tmp_path):
    path = tmp_path / "f.fits"
    path.write_bytes(b"abc")
    stat_id = file_identity(path)
    digest_id = file_identity(path, mode="digest")
    # SHA-256 of b"abc" (FIPS 180-2 test vector)
    assert digest_id["sha256"] == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    assert content_hash(stat_id) == content_hash(dict(reversed(list(stat_id.items()))))
    path.write_bytes(b"abd")
    assert file_identity(path) != stat_id
    assert content_hash({"zmax": 90}) != content_hash({"zmax": 100})


def test_outdir_lock(tmp_path):
    import subprocess
    import sys

    from gammapy_lat.utils.io import _host_hash, temporary_path

    # a temporary file of this package whose writer has ended, one of a running process (this
    # one) and a file of another program with a similar name
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stale = tmp_path / "partials" / f"{TMP_PREFIX}{_host_hash()}-{dead.pid}-0-0123abcd-x.fits"
    stale.parent.mkdir(parents=True)
    stale.write_bytes(b"truncated")
    live = temporary_path(tmp_path / "partials" / "y.fits")
    live.write_bytes(b"being written")
    foreign = tmp_path / "partials" / ".tmp-abc-x.fits"
    foreign.write_bytes(b"not ours")
    with outdir_lock(tmp_path):
        assert not stale.exists()
        assert live.exists() and foreign.exists()
        # the same process may take the lock again (nested runs); another one may not
        with outdir_lock(tmp_path):
            pass
        code = f"from gammapy_lat.utils.io import folder_lock\nwith folder_lock({str(tmp_path)!r}): pass"
        other = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
        assert other.returncode != 0 and "is in use by another" in other.stderr


def test_config_errors(tmp_path):
    from gammapy_lat.errors import ConfigError

    base = {"ft1": "a.fits", "ft2": "b.fits", "components": [{"name": "c"}]}
    cfg = AllSkyConfig.from_dict(base)
    assert cfg.components[0].evtype_mask == 3
    np.testing.assert_allclose(cfg.components[0].energy.edges[[0, -1]].value, [500, 5e5])
    bad = dict(base, components=[{"name": "c", "evtype": ["FRONT", "SIDE"]}])
    with pytest.raises(ConfigError, match=r"components\[0\]\.evtype"):
        AllSkyConfig.from_dict(bad)
    bad = dict(base, components=[{"name": "c", "energy": {"min": "1 TeV", "max": "1 GeV"}}])
    with pytest.raises(ConfigError, match="energy.min"):
        AllSkyConfig.from_dict(bad)
    bad = dict(base, components=[{"name": "c"}, {"name": "c"}])
    with pytest.raises(ConfigError, match="duplicate"):
        AllSkyConfig.from_dict(bad)
    with pytest.raises(ConfigError, match="pattern"):
        AllSkyConfig.from_dict(dict(base, ft1=str(tmp_path / "w*.fits"))).ft1_files()
    path = tmp_path / "c.yaml"
    path.write_text("ft1: !!python/object/apply:os.system ['true']\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        AllSkyConfig.read(path)


def test_executor_backend_settings(tmp_path):
    from gammapy_lat.pipeline import AllSkyPipeline

    base = {"ft1": "a.fits", "ft2": "b.fits", "outdir": str(tmp_path), "components": [{"name": "c"}]}
    executor = AllSkyPipeline(base).executor()
    assert executor.backend == "multiprocessing" and executor._pool_kwargs() == {"processes": 1}
    cfg = dict(base, parallel={"n_jobs": 4, "backend": "ray", "ray_address": "ray://head:10001"})
    executor = AllSkyPipeline(cfg).executor()
    assert executor._pool_kwargs() == {"processes": 4, "ray_address": "ray://head:10001"}
