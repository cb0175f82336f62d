"""The ``text-encoders`` sub-model kind: ``--text-encoders URI ...`` replaces a model's text
encoders, one URI per text encoder slot of its pipeline."""
