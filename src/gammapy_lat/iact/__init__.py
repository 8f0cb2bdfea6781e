"""IACT tools: background models from OFF runs, run selection, θ² and quick-look analyses."""
from .background import BackgroundModelEntry, BackgroundModelMaker, BackgroundModels, RunAcceptance

__all__ = ["BackgroundModelMaker", "BackgroundModels", "BackgroundModelEntry", "RunAcceptance"]
