"""DeepFloyd IF, stage I and the super-resolution stage II (``--model-type if``, ``ifs``,
``ifs-img2img``)."""
