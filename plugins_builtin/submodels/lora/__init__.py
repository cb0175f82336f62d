"""The ``lora`` plugin: LoRA weights fused into a model type's UNet and text encoders."""
