"""The ``text-encoders`` sub-model kind: ``--text-encoders URI ...`` gives a model other
text encoders.

The Nth URI fills the Nth text encoder slot of the pipeline (``text_encoder``,
``text_encoder_2`` ... in the order of the pipeline class' constructor): ``+`` keeps the
model's own encoder, ``null`` leaves the slot empty where the pipeline allows it, and the
slots after the last URI keep the model's own. A text encoder shared by ``\\use_modules``
in a config script counts as the model's own: ``+`` (or no entry) keeps it, a URI or
``null`` replaces it (the model type loads with the shared modules as defaults and lets
these components override them). The parsing and loading are the diffusion
toolkit's (:mod:`dgenerate.plugin_api.diffusion.text_encoders`), which the SDXL family's
``--second-model-text-encoders`` uses too. Loaded encoders are kept in the
``text_encoder`` object cache under their creation parameters, so one encoder given to
several models loads once.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from typing import Any

from dgenerate.plugin_api import LoadTarget, SubModel
from dgenerate.plugin_api.diffusion.text_encoders import (
    TextEncoderUri,
    asks_help,
    describe_text_encoders,
    parse_text_encoders,
    text_encoder_components,
    text_encoders_key,
)

__all__ = ["TextEncoders"]


class TextEncoders(SubModel):
    """Other text encoders for the model: ``--text-encoders URI ...``."""

    def _given(self, values: Mapping[str, Any]) -> Any:
        return values.get(self.option_names[0] if self.option_names else "text_encoders")

    def entries(self, values: Mapping[str, Any]) -> list[TextEncoderUri | str] | None:
        """The values, parsed: a URI, or ``+`` / ``null``; None when not given or help."""
        return parse_text_encoders(self._given(values), self.context)

    def check(self, values: Mapping[str, Any], model_type: str) -> None:
        self.entries(values)

    def load_key(self, values: Mapping[str, Any]) -> Hashable:
        return text_encoders_key(self.entries(values))

    def help_text(self, values: Mapping[str, Any], target: LoadTarget) -> str | None:
        """The ``--text-encoders help`` text: the slots of the model's pipeline."""
        if not asks_help(self._given(values)):
            return None
        return describe_text_encoders(target)

    def components(self, values: Mapping[str, Any], target: LoadTarget) -> dict[str, Any]:
        return text_encoder_components(self.entries(values), self.context, target,
                                       cache=self.slot or "text_encoder")
