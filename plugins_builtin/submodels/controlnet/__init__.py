"""The ``controlnet`` sub-model kind: ``--control-nets URI ...`` guides a model with control
images through ControlNets."""
