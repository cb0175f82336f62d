"""The prompt-upscale sub-command and the \\prompt_upscale directive."""
