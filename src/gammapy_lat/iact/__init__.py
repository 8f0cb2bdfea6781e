"""IACT tools: background (acceptance) models from OFF runs, run selection, θ², time-split
observations and the quick-look analysis."""
from .background import BackgroundModelEntry, BackgroundModelMaker, BackgroundModels, RunAcceptance
from .quicklook import QuickLook, QuickLookConfig
from .runs import RunSelection, select_runs
from .targets import Target, resolve_target
from .theta2 import Theta2Result, make_theta2
from .timesplit import split_observations

__all__ = [
    "BackgroundModelMaker",
    "BackgroundModels",
    "BackgroundModelEntry",
    "RunAcceptance",
    "QuickLook",
    "QuickLookConfig",
    "RunSelection",
    "select_runs",
    "Target",
    "resolve_target",
    "Theta2Result",
    "make_theta2",
    "split_observations",
]
