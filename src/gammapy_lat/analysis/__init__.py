"""High-level analysis runner driven by YAML configuration files.

`AnalysisConfig` holds the validated settings (one or more LAT, IACT or DL4 datasets blocks, models,
fit, estimators, outputs); `Analysis` runs the steps ``reduce → fit → estimate → report``.
"""
from .config import DATA_ROOT_ENV, AnalysisConfig
from .core import STEPS, Analysis

__all__ = ["Analysis", "AnalysisConfig", "STEPS", "DATA_ROOT_ENV"]
