"""The ``t2i_adapter`` sub-model kind: ``--t2i-adapters`` guides txt2img with control images."""
