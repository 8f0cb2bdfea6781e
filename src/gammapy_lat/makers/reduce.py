"""Reduction of many LAT observations (e.g. weekly chunks), serial or parallel."""
import logging

from astropy.coordinates import Angle
from astropy.nddata import NoOverlapError
from gammapy.makers import DatasetsMaker

__all__ = ["LATDatasetsMaker"]

log = logging.getLogger(__name__)


class LATDatasetsMaker(DatasetsMaker):
    """Run LAT makers on many observations and stack (or collect) the datasets.

    The LAT version of `~gammapy.makers.DatasetsMaker`: observations are reduced one by one, in
    parallel through Gammapy's parallel backend (``n_jobs``, ``parallel_backend``:
    "multiprocessing" or "ray"), and stacked with `~gammapy.datasets.MapDataset.stack` as they
    finish. Exposure adds up and PSF and energy dispersion are exposure-weighted, so stacking
    time chunks gives the dataset of the whole time range.

    Before reduction, the reference dataset is cut out around each observation's region of
    interest: the acceptance cone of its events (DSS keywords), or ``cutout_width`` around its
    centre.

    Parameters
    ----------
    makers : list of `~gammapy.makers.Maker`
        Makers run in turn on each observation, e.g. ``[LATMapDatasetMaker(...),
        LATSafeMaskMaker(...)]``.
    stack_datasets : bool, optional
        Stack into the reference dataset (default) or return one dataset per observation.
    n_jobs : int, optional
        Number of parallel jobs (default: Gammapy's ``N_JOBS_DEFAULT``).
    cutout_mode : {"trim", "partial", "strict"}, optional
        `~astropy.nddata.Cutout2D` mode. Default is "trim".
    cutout_width : `~astropy.coordinates.Angle`, optional
        Width of the cutout; default: the diameter of the acceptance cone. HEALPix reference
        datasets are not cut out.
    cutout : bool, optional
        Whether to cut the reference dataset out around each observation. Default is True.
    parallel_backend : {"multiprocessing", "ray"}, optional
        Gammapy parallel backend.
    """

    tag = "LATDatasetsMaker"

    def __init__(
        self,
        makers,
        stack_datasets=True,
        n_jobs=None,
        cutout_mode="trim",
        cutout_width=None,
        cutout=True,
        parallel_backend=None,
    ):
        super().__init__(
            makers,
            stack_datasets=stack_datasets,
            n_jobs=n_jobs,
            cutout_mode=cutout_mode,
            cutout_width=cutout_width,
            parallel_backend=parallel_backend,
        )
        self._cutout = bool(cutout)
        self._use_cutout = self._cutout

    @property
    def offset_max(self):
        return None

    def _cutout_kwargs(self, dataset, observation):
        if not self._use_cutout or dataset.counts.geom.is_hpx:
            return None
        center = observation.target_radec
        if center is None:
            return None
        width = self.cutout_width
        if width is None:
            cone = observation.lat_events.dss.cone
            width = Angle(2 * cone[2], "deg")
        frame = dataset.counts.geom.frame
        return {"position": center.transform_to(frame), "width": width, "mode": self.cutout_mode}

    def make_dataset(self, dataset, observation):
        """Reduce one observation.

        Parameters
        ----------
        dataset : `~gammapy.datasets.MapDataset`
            Reference dataset.
        observation : `~gammapy_lat.observations.LATObservation`
            Observation.

        Returns
        -------
        dataset : `~gammapy.datasets.MapDataset` or None
            Named ``<reference name>-<obs_id>``; None when the observation's region does not overlap the reference geometry.
        """
        kwargs = self._cutout_kwargs(dataset, observation)
        name = f"{dataset.name}-{observation.obs_id}"
        if kwargs is not None:
            try:
                dataset_obs = dataset.cutout(**kwargs, name=name)
            except NoOverlapError:
                log.warning(f"Observation {observation.obs_id} discarded: its region is outside the reference geometry")
                return None
        else:
            dataset_obs = dataset.copy(name=name)

        if dataset.models is not None:
            models = dataset.models.copy()
            models.reassign(dataset.name, dataset_obs.name)
            dataset_obs.models = models

        log.info(f"Computing dataset for observation {observation.obs_id}")
        for maker in self.makers:
            log.info(f"Running {maker.tag}")
            dataset_obs = maker.run(dataset=dataset_obs, observation=observation)
        return dataset_obs

    def run(self, dataset, observations, datasets=None):
        """Reduce the observations.

        Parameters
        ----------
        dataset : `~gammapy.datasets.MapDataset`
            Reference dataset, e.g. from `~gammapy_lat.makers.create_lat_map_dataset`; the
            stacked result is accumulated into it.
        observations : `~gammapy.data.Observations` or list of `~gammapy_lat.observations.LATObservation`
            Observations.
        datasets : `~gammapy.datasets.Datasets`, optional
            One base dataset per observation (no cutout then).

        Returns
        -------
        datasets : `~gammapy.datasets.Datasets`
            The stacked dataset, or one dataset per observation.
        """
        # cut-outs are made in make_dataset, around each observation's acceptance cone
        self._use_cutout = self._cutout and datasets is None
        return super().run(dataset, observations, datasets=datasets)
