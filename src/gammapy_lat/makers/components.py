"""Event-type components: one dataset per event-type selection, fitted jointly (as fermipy)."""
import copy
import logging
from dataclasses import dataclass, field

from astropy import units as u
from gammapy.datasets import Datasets
from gammapy.makers import Maker

from ..data.constants import EVENT_TYPE_PARTITIONS
from ..models import create_isotropic_model
from .map import LATMapDatasetMaker, create_lat_map_dataset
from .safe import LATSafeMaskMaker

__all__ = ["LATComponent", "LATComponentsMaker", "EVTYPE_PARTITIONS"]

log = logging.getLogger(__name__)

#: Event-type partitions of Pass 8 and their members.
EVTYPE_PARTITIONS = EVENT_TYPE_PARTITIONS


@dataclass
class LATComponent:
    """One analysis component: an event-type selection with its own cuts.

    Parameters
    ----------
    name : str or None
        Component name (dataset names are ``<reference name>-<name>``; None keeps the reference
        name, for a single component).
    evtype : int, str or list
        Event-type selection (bit mask or names, e.g. ``"PSF3"``, ``["FRONT"]``, ``12``).
    zmax : `~astropy.units.Quantity`, optional
        Zenith-angle cut of this component (events and livetime cube).
    energy_min, energy_max : `~astropy.units.Quantity`, optional
        Reconstructed-energy range of the component (safe mask).
    geom : `~gammapy.maps.Geom`, optional
        Own counts geometry (e.g. finer pixels for the sharper PSF classes); default the
        reference dataset's.
    safe_mask_methods : list of str, optional
        `LATSafeMaskMaker` methods. Default is ``["energy-range", "exposure"]`` (ignored when
        the components maker is given a ``safe_mask_maker``).
    isodiff : str or `~pathlib.Path`, optional
        Isotropic spectrum of this event type (e.g. ``iso_P8R3_SOURCE_V3_PSF3_v1.txt``): the
        dataset gets the isotropic model ``<dataset name>-isotropic`` with a free normalisation.
    """

    name: str
    evtype: object
    zmax: object = None
    energy_min: object = None
    energy_max: object = None
    geom: object = None
    safe_mask_methods: list = field(default_factory=lambda: ["energy-range", "exposure"])
    isodiff: object = None


class LATComponentsMaker(Maker):
    """Make one LAT dataset per event-type component from one observation.

    Each component is the observation's `~gammapy_lat.observations.LATObservation.select` of its
    event types and zenith cut: its own events, IRFs (summed over its event types) and safe
    energy range. The livetime cube is computed once per zenith cut and shared through the
    observation. The datasets are returned as Gammapy `~gammapy.datasets.Datasets`, to be
    fitted jointly; components with an ``isodiff`` file get their isotropic model.

    Parameters
    ----------
    components : list of `LATComponent`
        Components.
    selection : list of str, optional
        Maps to make (see `LATMapDatasetMaker`).
    safe_mask_maker : `LATSafeMaskMaker`, optional
        Safe-mask maker applied to every component, with the component's ``energy_min`` /
        ``energy_max`` when it has them. Default: a `LATSafeMaskMaker` with the component's
        ``safe_mask_methods``.
    irf_name, caldb, ltcube_kwargs : optional
        Settings that override the observation's (see `LATMapDatasetMaker`).
    exposure_interp : {"nearest", "bilinear"}, optional
        Livetime look-up of the exposure maps.

    Examples
    --------
    >>> maker = LATComponentsMaker.from_partition("PSF", caldb="caldb/")  # doctest: +SKIP
    >>> datasets = maker.run(create_lat_map_dataset(geom, name="roi"), observation)  # doctest: +SKIP
    >>> Fit().run(datasets)  # doctest: +SKIP
    """

    tag = "LATComponentsMaker"

    def __init__(
        self,
        components,
        irf_name=None,
        caldb=None,
        selection=None,
        ltcube_kwargs=None,
        safe_mask_maker=None,
        exposure_interp="nearest",
    ):
        if not components:
            raise ValueError("At least one component is needed")
        names = [c.name for c in components]
        if len(set(names)) != len(names):
            raise ValueError(f"Component names must be unique, got {names}")
        if None in names and len(names) > 1:
            raise ValueError("Only a single component may be unnamed")
        self.components = list(components)
        self.irf_name = irf_name
        self.caldb = caldb
        self.selection = selection
        self.ltcube_kwargs = ltcube_kwargs
        self.safe_mask_maker = safe_mask_maker
        self.exposure_interp = exposure_interp

    @classmethod
    def from_partition(cls, partition="FB", zmax=None, energy_min=None, energy_max=None, **kwargs):
        """Components of a whole event-type partition ("FB", "PSF" or "EDISP").

        Parameters
        ----------
        partition : {"FB", "PSF", "EDISP"}
            Partition.
        zmax, energy_min, energy_max : `~astropy.units.Quantity` or dict, optional
            Cuts, the same for all components or a dict by component name.
        **kwargs : dict
            Passed to `LATComponentsMaker`.
        """
        key = str(partition).upper()
        if key not in EVTYPE_PARTITIONS:
            raise ValueError(f"Unknown partition {partition!r}; choose from {list(EVTYPE_PARTITIONS)}")

        def pick(value, name):
            return value.get(name) if isinstance(value, dict) else value

        components = [
            LATComponent(
                name=name,
                evtype=name,
                zmax=pick(zmax, name),
                energy_min=pick(energy_min, name),
                energy_max=pick(energy_max, name),
            )
            for name in EVTYPE_PARTITIONS[key]
        ]
        return cls(components, **kwargs)

    def make_map_maker(self, component):
        """The `LATMapDatasetMaker` of one component."""
        return LATMapDatasetMaker(
            selection=self.selection,
            irf_name=self.irf_name,
            evtype=component.evtype,
            caldb=self.caldb,
            zmax=component.zmax,
            ltcube_kwargs=self.ltcube_kwargs,
            exposure_interp=self.exposure_interp,
        )

    def make_safe_mask_maker(self, component):
        """The `LATSafeMaskMaker` of one component."""
        energy_min = None if component.energy_min is None else u.Quantity(component.energy_min)
        energy_max = None if component.energy_max is None else u.Quantity(component.energy_max)
        if self.safe_mask_maker is None:
            return LATSafeMaskMaker(
                methods=component.safe_mask_methods, energy_min=energy_min, energy_max=energy_max
            )
        if energy_min is None and energy_max is None:
            return self.safe_mask_maker
        maker = copy.copy(self.safe_mask_maker)
        if energy_min is not None:
            maker.energy_min = energy_min
        if energy_max is not None:
            maker.energy_max = energy_max
        return maker

    def run(self, dataset, observation):
        """Make the component datasets.

        Parameters
        ----------
        dataset : `~gammapy.datasets.MapDataset`
            Reference dataset (geometry and axes of components without their own ``geom``).
        observation : `~gammapy_lat.observations.LATObservation`
            Observation.

        Returns
        -------
        datasets : `~gammapy.datasets.Datasets`
            One dataset per component, named ``<dataset.name>-<component.name>``, with its
            isotropic model when the component has an ``isodiff`` file.
        """
        datasets = Datasets()
        for component in self.components:
            name = dataset.name if component.name is None else f"{dataset.name}-{component.name}"
            if component.geom is not None:
                reference = create_lat_map_dataset(component.geom, name=name)
            else:
                reference = dataset.copy(name=name)
            log.info(f"Making dataset {name} (evtype {component.evtype})")
            maker = self.make_map_maker(component)
            component_obs = maker.observation_for(observation)
            result = maker.run(reference, component_obs)
            result = self.make_safe_mask_maker(component).run(result, component_obs)
            if component.isodiff is not None:
                result.models = [
                    create_isotropic_model(
                        component.isodiff,
                        name=f"{name}-isotropic",
                        datasets_names=[name],
                        apply_edisp=result.edisp is not None,
                    )
                ]
            datasets.append(result)
        return datasets
