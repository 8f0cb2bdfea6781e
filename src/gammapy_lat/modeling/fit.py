"""`LATFit`: Gammapy's `~gammapy.modeling.Fit` with the Minuit strategy chosen per step.

A LAT ROI fit has many free parameters and a smooth likelihood. MIGRAD with strategy 0 (no
Hessian computed along the way, fewer gradient evaluations) reaches the same minimum as
strategy 1 in fewer evaluations; the covariance is then computed by HESSE with strategy 1,
instead of taking the approximate matrix MIGRAD built (which is what `Fit.run` reports after a
strategy-0 MIGRAD, and which is poor then). `LATFit` is a `~gammapy.modeling.Fit` with these
defaults: it can be passed wherever Gammapy takes a ``fit`` (estimators, `Fit.run` callers).
"""
from gammapy.modeling import Fit
from gammapy.modeling.covariance import Covariance
from gammapy.modeling.fit import FitResult
from gammapy.modeling.utils import _parse_datasets

__all__ = ["LATFit"]

#: MIGRAD options of `LATFit` (Minuit strategy 0).
OPTIMIZE_DEFAULTS = {"backend": "minuit", "strategy": 0}
#: HESSE options of `LATFit` (Minuit strategy 1).
COVARIANCE_DEFAULTS = {"backend": "minuit", "strategy": 1}


class LATFit(Fit):
    """Gammapy `~gammapy.modeling.Fit` with a Minuit strategy per step (see the module docstring).

    Parameters
    ----------
    backend : {"minuit", "scipy", "sherpa"}
        Backend. The strategy defaults apply to "minuit" only. Default is "minuit".
    optimize_opts : dict, optional
        Options of the optimisation, on top of `OPTIMIZE_DEFAULTS` (``{"strategy": 0}``).
    covariance_opts : dict, optional
        Options of the covariance, on top of `COVARIANCE_DEFAULTS` (``{"strategy": 1}``).
    confidence_opts : dict, optional
        As for `~gammapy.modeling.Fit`.
    store_trace : bool
        As for `~gammapy.modeling.Fit`.
    """

    def __init__(self, backend="minuit", optimize_opts=None, covariance_opts=None, confidence_opts=None, store_trace=False):
        if backend == "minuit":
            optimize_opts = {**OPTIMIZE_DEFAULTS, **(optimize_opts or {})}
            covariance_opts = {**COVARIANCE_DEFAULTS, **(covariance_opts or {})}
        super().__init__(
            backend=backend,
            optimize_opts=optimize_opts,
            covariance_opts=covariance_opts,
            confidence_opts=confidence_opts,
            store_trace=store_trace,
        )

    def run(self, datasets):
        """Optimise, then compute the covariance with its own HESSE run.

        Parameters
        ----------
        datasets : `~gammapy.datasets.Datasets` or list of `~gammapy.datasets.Dataset`
            Datasets to optimise.

        Returns
        -------
        fit_result : `~gammapy.modeling.FitResult`
        """
        if self.backend != "minuit":
            return super().run(datasets)
        datasets, parameters = _parse_datasets(datasets=datasets)
        optimize_result = self.optimize(datasets=datasets)
        covariance_result = self.covariance(datasets=datasets)
        optimize_result.models.covariance = Covariance(optimize_result.models.parameters, covariance_result.matrix)
        datasets._covariance = Covariance(parameters, covariance_result.matrix)
        return FitResult(optimize_result=optimize_result, covariance_result=covariance_result)
