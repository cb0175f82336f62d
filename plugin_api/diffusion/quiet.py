"""Keeping the libraries' own chatter (loading bars, deprecation notes) off the console."""

from __future__ import annotations

import warnings

__all__ = ["quiet_libraries"]


def quiet_libraries(verbose: bool) -> None:
    """Hide diffusers/transformers progress bars and warnings unless ``-v`` was given."""
    import diffusers.utils.logging as diffusers_logging
    import huggingface_hub.utils.logging as hub_logging
    import transformers.utils.logging as transformers_logging

    if verbose:
        diffusers_logging.set_verbosity_warning()
        transformers_logging.set_verbosity_warning()
        hub_logging.set_verbosity_warning()
        return
    hub_logging.set_verbosity_error()  # "Could not reach the Hub ... using the cache"
    diffusers_logging.set_verbosity_error()
    diffusers_logging.disable_progress_bar()
    transformers_logging.set_verbosity_error()
    transformers_logging.disable_progress_bar()
    warnings.filterwarnings("ignore", category=FutureWarning, module=r"diffusers(\.|$)")
    warnings.filterwarnings("ignore", category=FutureWarning, module=r"transformers(\.|$)")
