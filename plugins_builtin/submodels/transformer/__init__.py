"""The ``transformer`` sub-model kind: ``--transformer PATH;ARGUMENT=VALUE...`` replaces the
diffusion transformer of an SD3 or Flux model."""
