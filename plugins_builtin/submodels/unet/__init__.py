"""The ``unet`` sub-model kind: ``--unet PATH;ARGUMENT=VALUE...`` replaces a model's UNet."""
