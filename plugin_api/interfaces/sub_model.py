"""Base class of sub-model kinds: VAEs, LoRAs ... given to a model type's slots by options."""

from __future__ import annotations

import abc
import dataclasses
from collections.abc import Hashable, Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..render import Job, RenderContext

__all__ = ["LoadTarget", "SubModel"]


@dataclasses.dataclass(frozen=True)
class LoadTarget:
    """The main model a sub-model is loaded for: what its loading defaults to.

    ``dtype`` is a ``torch.dtype``; ``pipeline_class`` the diffusers pipeline class
    being loaded; ``model_type`` the ``--model-type`` name; ``model`` and ``subfolder``
    where the main model is.
    """

    model_type: str
    pipeline_class: Any
    dtype: Any
    device: str
    revision: str = "main"
    variant: str | None = None
    token: str | None = None
    offline: bool = False
    #: where the main model is (a ``ResolvedModel``: ``kind`` folder/hub/file and
    #: ``location``) and its ``--subfolder``: a sub-model given as bare weights can take
    #: the configuration of the component it replaces from there
    model: Any = None
    subfolder: str | None = None
    #: pipeline components other sub-models supplied (``{"unet"}`` ...): they come from the
    #: object caches and may be shared with other pipelines, so an :meth:`SubModel.attach`
    #: that changes weights in place must first replace them with copies
    shared: frozenset[str] = frozenset()


class SubModel(abc.ABC):
    """One kind of sub-model, turning the values of its options into parts of a pipeline.

    A model type built on the diffusion toolkit asks every sub-model kind whose slot
    it declares (``Capabilities.slots``): :meth:`check` before anything loads,
    :meth:`load_key` for the pipeline's cache key, :meth:`components` for the
    keyword arguments of ``from_pretrained`` (``{"vae": vae}``), and :meth:`attach`
    once the pipeline is loaded (LoRAs, embeddings). Values come by option name, as
    in ``job.values``. Load the models through ``self.context.cache(slot)`` so that
    one given to two pipelines loads once.
    """

    #: set by the kernel from the spec: the slot this kind fills
    slot: str = ""

    def __init__(self, *, context: RenderContext) -> None:
        self.context = context

    def given(self, values: Mapping[str, Any]) -> bool:
        """Whether any option of this kind has a value (the default: the first option)."""
        return any(values.get(name) not in (None, False) for name in self.option_names)

    #: set by the kernel from the spec: the names of this kind's options
    option_names: tuple[str, ...] = ()
    #: pipeline call parameters :meth:`call_arguments` passes (``ip_adapter_image`` ...): a
    #: toolkit family refuses, before loading, a pipeline that would run without them
    call_parameters: tuple[str, ...] = ()

    def check(self, values: Mapping[str, Any], model_type: str) -> None:  # noqa: B027
        """Refuse values that cannot work (URI arguments ...) before anything loads."""

    @abc.abstractmethod
    def load_key(self, values: Mapping[str, Any]) -> Hashable:
        """What the loaded pipeline depends on from these values (part of its cache key)."""

    def components(self, values: Mapping[str, Any], target: LoadTarget) -> dict[str, Any]:
        """Pipeline components to load the pipeline with (``from_pretrained`` keywords)."""
        return {}

    def attach(self, pipeline: Any, values: Mapping[str, Any],  # noqa: B027
               target: LoadTarget) -> None:
        """Change the loaded pipeline (load LoRA weights, embeddings ...)."""

    def pipeline_variant(self, values: Mapping[str, Any]) -> str | None:
        """The pipeline variant these values need (``"controlnet"``, ``"t2i_adapter"`` ...), or
        None. A model type built on the toolkit then takes its class from the family's
        ``variant_pipelines`` table and builds it from the loaded base pipeline with
        ``from_pipe(base, **components)``: such a kind's models are not part of the base."""
        return None

    def call_arguments(self, job: Job, pipeline: Any,
                       values: Mapping[str, Any]) -> dict[str, Any]:
        """Extra keyword arguments of the pipeline call for ``job`` (control images, scales
        ...); ``values`` are the job's."""
        return {}
