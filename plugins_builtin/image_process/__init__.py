"""The image-process sub-command and the \\image_process directive."""
