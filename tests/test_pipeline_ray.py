"""The all-sky pipeline on a local Ray instance: same products as the single-pass computation.

The configuration differs from the multiprocessing tests only by ``parallel.backend: ray``.
"""
import importlib.util
import os

import pytest

pytestmark = [
    pytest.mark.ray,
    pytest.mark.skipif(importlib.util.find_spec("ray") is None, reason="ray is not installed"),
]

from gammapy_lat.pipeline import AllSkyPipeline  # noqa: E402
from test_pipeline_crab import check_against_single_pass, crab_config, single_pass  # noqa: E402,F401
from test_pipeline_simulated import check_weeks, weeks, weeks_config, weeks_reference  # noqa: E402,F401


@pytest.fixture(scope="module")
def local_ray():
    import ray

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()


def _ran_on_ray_workers(result):
    pids = {r.pid for r in result.report.results if r.status == "done"}
    return pids and os.getpid() not in pids


def test_ray_crab_chunks_equal_single_pass(local_ray, crab_day, caldb_path, single_pass, tmp_path):
    result = AllSkyPipeline(crab_config(crab_day, caldb_path, tmp_path / "out", backend="ray")).run()
    assert _ran_on_ray_workers(result)
    check_against_single_pass(result.products, single_pass, crab_day)


def test_ray_weeks_equal_single_pass(local_ray, weeks, weeks_reference, tmp_path):
    result = AllSkyPipeline(weeks_config(weeks, tmp_path / "out", backend="ray")).run()
    assert _ran_on_ray_workers(result)
    check_weeks(result.products, weeks_reference)
