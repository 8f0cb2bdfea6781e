"""All-sky, multi-file pipeline: weekly FT1 files and FT2 → co-added counts, livetime and exposure cubes.

Partial products (per component and time chunk) are computed in parallel through Gammapy's parallel
backend (local processes or Ray), written atomically under content-hash names, and co-added; a
rerun after a crash or a kill redoes only what is missing.
"""
from .config import (
    AllSkyConfig,
    ComponentConfig,
    EnergyBinningConfig,
    HpxGeomConfig,
    LivetimeConfig,
    ParallelConfig,
    WcsGeomConfig,
)
from .engine import Executor, PipelineError, RunReport, Task, TaskGraph, TaskResult
from .geometry import component_counts_geom, component_exposure_geom
from .pipeline import AllSkyPipeline, AllSkyResult, TimeChunk

__all__ = [
    "AllSkyConfig",
    "ComponentConfig",
    "EnergyBinningConfig",
    "HpxGeomConfig",
    "WcsGeomConfig",
    "LivetimeConfig",
    "ParallelConfig",
    "AllSkyPipeline",
    "AllSkyResult",
    "TimeChunk",
    "Executor",
    "PipelineError",
    "RunReport",
    "Task",
    "TaskGraph",
    "TaskResult",
    "component_counts_geom",
    "component_exposure_geom",
]
