"""The ``upscaler`` image processor: chaiNNer-compatible super-resolution models run
through spandrel, tiled so that large images fit in memory."""
