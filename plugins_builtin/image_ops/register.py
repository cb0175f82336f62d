"""Registration module of the ``image-ops`` plugin (light: no Pillow, NumPy or OpenCV here).

Each implementation module holds one concern: ``ops`` (flip, mirror, grayscale,
invert), ``color`` (posterize, solarize), ``filters`` (gaussian-blur),
``morphology`` (dilate), ``edges`` (canny), ``lineart`` (lineart-standard),
``geometry`` (crop, crop-to-mask, resize, letterbox), ``masks`` (outpaint-mask),
``paste`` and ``patchmatch``.
"""

from dgenerate.plugin_api import ImageProcessorSpec, hookimpl

_OPS = ".ops"


@hookimpl
def dgenerate_image_processors():
    yield ImageProcessorSpec(
        name="flip",
        summary="Flip the image upside down (top row becomes the bottom row).",
        target=f"{_OPS}:Flip",
    )
    yield ImageProcessorSpec(
        name="mirror",
        summary="Mirror the image left to right.",
        target=f"{_OPS}:Mirror",
    )
    yield ImageProcessorSpec(
        name="grayscale",
        summary="Remove colour; the result stays RGB with three equal channels.",
        target=f"{_OPS}:Grayscale",
    )
    yield ImageProcessorSpec(
        name="invert",
        summary="Invert the colours (a photographic negative); alpha is kept.",
        target=f"{_OPS}:Invert",
    )
    yield ImageProcessorSpec(
        name="posterize",
        summary="Keep only the top bits of each colour channel (flat bands of colour).",
        target=".color:Posterize",
    )
    yield ImageProcessorSpec(
        name="solarize",
        summary="Invert the channel values above a threshold (darkroom solarization).",
        target=".color:Solarize",
    )
    yield ImageProcessorSpec(
        name="gaussian-blur",
        summary="Blur with a Gaussian kernel, e.g. to soften the edges of a mask.",
        target=".filters:GaussianBlur",
    )
    yield ImageProcessorSpec(
        name="dilate",
        summary="Grow the bright areas (OpenCV dilation), e.g. to widen a mask.",
        target=".morphology:Dilate",
    )
    yield ImageProcessorSpec(
        name="canny",
        summary="Canny edge detection: white edges on black, for Canny ControlNets.",
        target=".edges:Canny",
    )
    yield ImageProcessorSpec(
        name="lineart-standard",
        summary="Line drawing from the difference to a blurred copy; no model needed.",
        target=".lineart:LineartStandard",
    )
    yield ImageProcessorSpec(
        name="crop",
        summary="Cut out a box given as LEFTxTOPxRIGHTxBOTTOM.",
        target=".geometry:Crop",
    )
    yield ImageProcessorSpec(
        name="crop-to-mask",
        summary="Crop to the bounds of a mask's white area, plus padding.",
        target=".geometry:CropToMask",
    )
    yield ImageProcessorSpec(
        name="resize",
        summary="Resize to a size (aspect correct by default) or by a scale factor.",
        target=".geometry:Resize",
    )
    yield ImageProcessorSpec(
        name="letterbox",
        summary="Fit the image into a box of a fixed size, filling the rest with a colour.",
        target=".geometry:Letterbox",
    )
    yield ImageProcessorSpec(
        name="outpaint-mask",
        summary="Make an outpainting mask: black inside a box, white around it.",
        target=".masks:OutpaintMask",
    )
    yield ImageProcessorSpec(
        name="paste",
        summary="Paste an image onto the processed one, or the processed one onto it.",
        target=".paste:Paste",
    )
    yield ImageProcessorSpec(
        name="patchmatch",
        summary="Inpaint a mask's white area with PatchMatch; no model needed.",
        target=".patchmatch:PatchMatch",
        requires=("patchmatch",),
    )
