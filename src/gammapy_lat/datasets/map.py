"""`LATMapDataset`: a Gammapy `~gammapy.datasets.MapDataset` with a likelihood built for LAT ROIs.

A LAT region of interest holds tens to hundreds of sources, most of them with all parameters
frozen, and a fit evaluates the likelihood thousands of times changing one parameter at a time.
`LATMapDataset` is a `~gammapy.datasets.MapDataset` (same data, same files, same models, same
statistic) whose prediction is kept up to date instead of being rebuilt:

* the parameters of each model are resolved once when the models are set (again only if a model's
  spectral, spatial or temporal component is replaced); an evaluation reads their values and
  compares them with the last ones;
* the models whose parameters are all frozen — catalog sources outside the free radius, diffuse
  templates of frozen shape and norm — are summed once into a fixed prediction, re-summed only
  when one of them changes (a value set, a parameter freed or frozen);
* only the models whose parameters changed are evaluated again (with Gammapy's
  `~gammapy.datasets.MapEvaluator` and its caches: a change of norm rescales the cached counts, a
  change of spectral shape reuses the PSF-convolved spatial part);
* the counts and masks of the statistic are prepared once (checked, not recomputed, per call);
* a frozen model keeps only its predicted counts (float32), not the evaluator's caches;
* the PSF map is a `~gammapy_lat.irf.LATPSFMap`: kernels are made once per PSF-map pixel and
  shared by all sources and all copies of the dataset, and convolved plane by plane.

Everything else — reading and writing, slicing, stacking, estimators — is Gammapy's. Datasets
written to disk are ordinary ``MapDataset`` files (``tag = "MapDataset"``):
`LATMapDataset.read` reads them back as a `LATMapDataset`, `gammapy.datasets.MapDataset.read` as
a plain `~gammapy.datasets.MapDataset`.
"""
import logging

import gammapy.datasets.map as gammapy_map
import numpy as np
from gammapy.datasets import MapDataset
from gammapy.irf import EDispKernelMap, PSFMap
from gammapy.maps import Map
from gammapy.modeling.models import DatasetModels, FoVBackgroundModel
from gammapy.utils.compilation import get_fit_statistics_compiled
from gammapy.utils.fits import LazyFitsData

from ..irf.kernel import LATEDispKernelMap, LATPSFMap
from .evaluator import LATMapEvaluator
from .evaluator import model_signature as _signature

__all__ = ["LATMapDataset", "as_lat_dataset"]

log = logging.getLogger(__name__)


class _LATIRFData(LazyFitsData):
    """Lazy FITS data descriptor that turns Gammapy's `~gammapy.irf.PSFMap` and
    `~gammapy.irf.EDispKernelMap` into `LATPSFMap` and `LATEDispKernelMap`."""

    @staticmethod
    def _convert(value):
        if type(value) is PSFMap:
            return LATPSFMap.from_psf_map(value)
        if type(value) is EDispKernelMap:
            return LATEDispKernelMap.from_edisp_kernel_map(value)
        return value

    def __get__(self, instance, objtype):
        value = super().__get__(instance, objtype)
        if instance is None:
            return value
        converted = self._convert(value)
        if converted is not value and self.name in instance.__dict__:
            instance.__dict__[self.name] = converted
        return converted

    def __set__(self, instance, value):
        super().__set__(instance, self._convert(value))


def _same(a, b):
    return len(a) == len(b) and all(x is y for x, y in zip(a, b))


class _Component:
    """One model of the dataset: its evaluator, parameters and last prediction."""

    __slots__ = ("evaluator", "model", "signature", "parameters", "values", "fixed", "npred", "data", "slices")

    def __init__(self, evaluator):
        self.evaluator = evaluator
        self.model = evaluator.model
        self.signature = None
        self.parameters = None
        self.values = None
        self.fixed = None
        self.npred = None
        self.data = None
        self.slices = None

    def resolve(self):
        signature = _signature(self.model)
        if self.parameters is None or not _same(signature, self.signature):
            self.signature = signature
            self.parameters = list(self.model.parameters)
            self.values = None


class _NpredState:
    """Fixed and variable predicted counts of a `LATMapDataset` (see the module docstring)."""

    #: Incremental updates of the total between two full sums.
    RESUM_EVERY = 100

    def __init__(self, dataset):
        self.evaluators = dataset._evaluators
        self.components = [_Component(evaluator) for evaluator in self.evaluators.values()]
        self.fixed_sum = None
        self.total = None
        self.updates = 0

    def _evaluate(self, dataset, component, context):
        evaluator = component.evaluator
        if evaluator.needs_update:
            if "mask_image" not in context:
                context["mask_image"] = dataset.mask_image
            evaluator.update(dataset.exposure, dataset.psf, dataset.edisp, dataset._geom, context["mask_image"])
        component.npred = component.data = component.slices = None
        if not evaluator.contributes:
            return
        npred = evaluator.compute_npred()
        data = np.asarray(npred.quantity.to_value(""), dtype=np.float64)
        if not np.all(np.isfinite(data)):
            data = np.nan_to_num(data, nan=0.0, posinf=0.0, neginf=0.0)
        component.slices = evaluator.stack_slices(dataset._geom, npred)
        if component.slices is None:
            # not a WCS cut-out: added with Gammapy's stacking
            component.npred = npred
        if component.fixed and component.slices is not None:
            # a frozen model is evaluated again only if it changes: keep its counts (float32),
            # not the evaluator's caches (recomputed if needed)
            component.data = data.astype(np.float32)
            evaluator.release_caches()
        else:
            component.data = data

    @staticmethod
    def _add(total, component, data=None, subtract=False):
        """Add (or subtract) the prediction of a component into ``total``."""
        if component.data is None:
            return
        if component.slices is None:
            # not a WCS cut-out: Gammapy's stacking (only ever added, the total is then re-summed)
            if subtract:
                raise ValueError("cannot subtract a prediction without its slices")
            total.stack(component.npred)
            return
        data = component.data if data is None else data
        parent, child = component.slices
        ufunc = np.subtract if subtract else np.add
        if parent is Ellipsis:
            ufunc(total.data, data, out=total.data)
        else:
            view = total.data[parent]
            ufunc(view, data[child], out=view)

    def signal(self, dataset):
        """Predicted signal counts (`~gammapy.maps.Map`, owned by the state: do not modify).

        The total is the fixed sum plus the variable components. When a variable component
        changes, its old prediction is subtracted and the new one added; the total is summed
        again from its parts every `RESUM_EVERY` such updates (and whenever the fixed sum
        changes), so that rounding cannot accumulate.
        """
        regroup = self.fixed_sum is None
        fixed_changed = []
        variable = []
        for component in self.components:
            component.resolve()
            parameters = component.parameters
            values = [p.value for p in parameters]
            fixed = all(p.frozen for p in parameters)
            changed = values != component.values
            if changed:
                component.values = values
            if fixed != component.fixed:
                regroup = True
                component.fixed = fixed
            if fixed:
                if changed:
                    fixed_changed.append(component)
            else:
                variable.append((component, changed))

        context = {}
        resum = self.total is None or self.updates >= self.RESUM_EVERY
        if regroup or fixed_changed:
            for component in fixed_changed:
                self._evaluate(dataset, component, context)
            fixed_sum = Map.from_geom(dataset._geom, dtype=float)
            for component in self.components:
                if component.fixed:
                    self._add(fixed_sum, component)
            self.fixed_sum = fixed_sum
            resum = True

        changed = [component for component, is_changed in variable if is_changed]
        previous = [(c.data, c.slices) for c in changed]
        for component in changed:
            self._evaluate(dataset, component, context)
        if not resum:
            for component, (data, slices) in zip(changed, previous):
                if data is None or component.data is None or slices is None or component.slices is not slices:
                    resum = True
                    break

        if resum:
            if self.total is None:
                self.total = Map.from_geom(dataset._geom, dtype=float)
            total = self.total
            total.data[...] = self.fixed_sum.data
            for component, _ in variable:
                self._add(total, component)
            self.updates = 0
            return total

        total = self.total
        for component, (data, _) in zip(changed, previous):
            self._add(total, component, data=data, subtract=True)
            self._add(total, component)
            self.updates += 1
        return total


class LATMapDataset(MapDataset):
    """Map dataset of LAT data with an incremental likelihood (see the module docstring).

    The parameters are those of `~gammapy.datasets.MapDataset`. Made by
    `~gammapy_lat.makers.LATMapDatasetMaker` (through `~gammapy_lat.makers.create_lat_map_dataset`);
    any `~gammapy.datasets.MapDataset` can be turned into one with `from_map_dataset`.

    Examples
    --------
    >>> from gammapy.datasets import MapDataset
    >>> from gammapy_lat.datasets import LATMapDataset
    >>> dataset = LATMapDataset.read("lat-dataset.fits.gz")  # doctest: +SKIP
    >>> dataset = LATMapDataset.from_map_dataset(MapDataset.read("lat-dataset.fits.gz"))  # doctest: +SKIP
    """

    psf = _LATIRFData(cache=True)
    edisp = _LATIRFData(cache=True)

    def __init__(self, *args, **kwargs):
        self._npred_state = None
        self._stat_inputs = None
        super().__init__(*args, **kwargs)

    def __getstate__(self):
        # caches are rebuilt on first use (copies, pickling to worker processes)
        state = self.__dict__.copy()
        state["_npred_state"] = None
        state["_stat_inputs"] = None
        return state

    @classmethod
    def from_map_dataset(cls, dataset, name=None):
        """`LATMapDataset` with the maps, masks, models and meta data of a `~gammapy.datasets.MapDataset`.

        The maps are shared, not copied.

        Parameters
        ----------
        dataset : `~gammapy.datasets.MapDataset`
            Dataset (not a `~gammapy.datasets.MapDatasetOnOff`).
        name : str, optional
            Name of the new dataset (default: the same name).

        Returns
        -------
        dataset : `LATMapDataset`
        """
        if isinstance(dataset, cls) and name in (None, dataset.name):
            return dataset
        if dataset.tag != "MapDataset":
            raise TypeError(f"LATMapDataset.from_map_dataset needs a MapDataset, got {dataset.tag}")
        new = cls(
            counts=dataset.counts,
            exposure=dataset.exposure,
            background=dataset.background,
            psf=dataset.psf,
            edisp=dataset.edisp,
            mask_safe=dataset.mask_safe,
            mask_fit=dataset.mask_fit,
            gti=dataset.gti,
            meta_table=dataset.meta_table,
            name=name or dataset.name,
            meta=dataset.meta,
            stat_type=dataset.stat_type,
        )
        if dataset.models is not None:
            new.models = dataset.models
        return new

    # ------------------------------------------------------------------ models
    @property
    def models(self):
        """Models set on the dataset (`~gammapy.modeling.models.DatasetModels`)."""
        return self._models

    @models.setter
    def models(self, models):
        self._evaluators = {}
        self._npred_state = None
        if models is not None:
            models = DatasetModels(models)
            models = models.select(datasets_names=self.name)
            psf = self._psf_kernel if models else None
            for model in models:
                if not isinstance(model, FoVBackgroundModel):
                    self._evaluators[model.name] = LATMapEvaluator(
                        model=model,
                        psf=psf,
                        evaluation_mode=gammapy_map.EVALUATION_MODE,
                        gti=self.gti,
                        use_cache=gammapy_map.USE_NPRED_CACHE,
                    )
        self._models = models

    # ------------------------------------------------------------------ prediction
    def _signal(self):
        state = self._npred_state
        if state is None or state.evaluators is not self._evaluators:
            state = self._npred_state = _NpredState(self)
        return state.signal(self)

    def npred_signal(self, model_names=None, stack=True):
        """Predicted signal counts (see `~gammapy.datasets.MapDataset.npred_signal`).

        The sum over all models comes from the incremental prediction; a selection of models
        or ``stack=False`` uses Gammapy's evaluation (with the same evaluators and caches).
        """
        if model_names is not None or not stack or not gammapy_map.USE_NPRED_CACHE:
            return super().npred_signal(model_names=model_names, stack=stack)
        return self._signal().copy()

    def npred(self):
        """Total predicted source and background counts (`~gammapy.maps.Map`)."""
        if not gammapy_map.USE_NPRED_CACHE:
            return super().npred()
        npred_total = self._signal().copy()
        if self.background:
            npred_total += self.npred_background()
        npred_total.data[npred_total.data < 0.0] = 0
        return npred_total

    # ------------------------------------------------------------------ statistic
    def _cash_inputs(self):
        """Counts of the Cash statistic, prepared once and checked (not recomputed) per call.

        Returns the flat indices of the fitted bins with and without counts, and the counts of
        the former.
        """
        counts = self.counts
        masks = (self.mask_safe, self.mask_fit)
        cached = self._stat_inputs
        if cached is not None:
            counts_ref, counts_data, masks_ref, masks_data, inputs = cached
            if (
                counts_ref is counts
                and all(a is b for a, b in zip(masks_ref, masks))
                and np.array_equal(counts_data, counts.data)
                and all(m is None or np.array_equal(d, m.data) for m, d in zip(masks, masks_data))
            ):
                return inputs
        mask = self.mask
        data = counts.data.ravel()
        fitted = np.ones(data.shape, dtype=bool) if mask is None else mask.data.astype("bool").ravel()
        positive = fitted & (data > 0)
        index_positive = np.flatnonzero(positive)
        index_zero = np.flatnonzero(fitted & ~positive)
        inputs = (index_positive, index_zero, data[index_positive].astype(float))
        masks_data = tuple(None if m is None else m.data.copy() for m in masks)
        self._stat_inputs = (counts, counts.data.copy(), masks, masks_data, inputs)
        return inputs

    def stat_sum(self):
        """Total statistic given the current model parameters.

        The Cash statistic is Gammapy's (the same compiled function, the same truncation of the
        predicted counts), with the logarithm computed only in bins with counts:
        :math:`2 \\sum_{n_i = 0} \\mu_i + C(n_i > 0)`.
        """
        if self.stat_type != "cash" or not gammapy_map.USE_NPRED_CACHE:
            return super().stat_sum()
        index_positive, index_zero, counts = self._cash_inputs()
        npred = self._signal().data.ravel()
        if self.background:
            npred = npred + self.npred_background().data.ravel()
        compiled = get_fit_statistics_compiled()
        truncation = compiled["TRUNCATION_VALUE"]
        zero = np.take(npred, index_zero)
        np.maximum(zero, truncation, out=zero)
        positive = np.take(npred, index_positive)
        np.maximum(positive, 0.0, out=positive)
        return 2 * zero.sum() + compiled["cash_sum_compiled"](counts, positive)


def as_lat_dataset(dataset):
    """A `LATMapDataset` on the maps of a LAT `~gammapy.datasets.MapDataset`, else the dataset itself.

    A dataset is a LAT one when its ``meta_table`` says ``TELESCOP = GLAST`` (as written by
    `~gammapy_lat.makers.LATMapDatasetMaker`). Use it on datasets read back with Gammapy's
    readers, which return plain `~gammapy.datasets.MapDataset` objects (read them with
    ``lazy=False``: a lazy read has no meta table), or read them with `LATMapDataset.read`.

    Parameters
    ----------
    dataset : `~gammapy.datasets.Dataset`
        Dataset.

    Returns
    -------
    dataset : `LATMapDataset` or `~gammapy.datasets.Dataset`
    """
    if isinstance(dataset, LATMapDataset) or type(dataset) is not MapDataset:
        return dataset
    meta = dataset.meta_table
    if meta is None or "TELESCOP" not in meta.colnames:
        return dataset
    if not all(str(value).strip().upper() == "GLAST" for value in np.ravel(meta["TELESCOP"])):
        return dataset
    return LATMapDataset.from_map_dataset(dataset)
