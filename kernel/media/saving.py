"""Writing outputs: images in any Pillow format, with metadata, and latents tensors,
atomically."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from dgenerate.plugin_api.diffusion.latents_files import TENSOR_EXTENSIONS, save_latents
from dgenerate.plugin_api.files import atomic_new_file, atomic_output

if TYPE_CHECKING:
    from PIL.Image import Image

__all__ = ["write_image", "write_text"]

_USER_COMMENT = 0x9286
_EXIF_IFD = 0x8769
# Pillow's format names for extensions it does not map by itself
_FORMAT_NAMES = {"jpg": "JPEG", "jpe": "JPEG", "jfif": "JPEG", "tif": "TIFF", "apng": "PNG",
                 "dib": "DIB", "bw": "SGI", "rgb": "SGI", "rgba": "SGI", "icb": "TGA",
                 "vda": "TGA", "vst": "TGA", "j2k": "JPEG2000", "jpc": "JPEG2000",
                 "jpf": "JPEG2000", "jpx": "JPEG2000", "j2c": "JPEG2000", "jp2": "JPEG2000",
                 "pbm": "PPM", "pgm": "PPM", "pnm": "PPM", "ppm": "PPM", "pfm": "PPM"}


def _format(extension: str) -> str:
    from PIL import Image

    extension = extension.lower()
    if extension in _FORMAT_NAMES:
        return _FORMAT_NAMES[extension]
    Image.init()
    return Image.registered_extensions().get(f".{extension}", extension.upper())


def _user_comment(text: str) -> bytes:
    # EXIF UserComment: an 8-byte character code, then the text (UTF-16, as piexif writes it)
    return b"UNICODE\0" + text.encode("utf-16-be")


def _prepare(image: Image, format_name: str) -> Image:
    if format_name in ("JPEG", "PPM", "PCX", "MSP", "EPS", "PDF", "SGI", "BLP", "XBM") and (
            image.mode not in ("RGB", "L")):
        return image.convert("RGB")
    if format_name == "XBM":
        return image.convert("1")
    return image


def write_image(image: Image, path: str, extension: str, *,
                metadata: dict[str, str] | None = None,
                names: Iterable[str] | None = None) -> str:
    """Save ``image`` to ``path`` in the format of ``extension``, storing ``metadata`` text;
    return the path written.

    PNG keeps each entry as a text chunk; JPEG keeps one entry as the EXIF
    UserComment. Other formats store no metadata (callers refuse that earlier).
    With ``names`` nothing is replaced: the image takes the first of them that is
    free when it is complete (``path`` replaces what is there otherwise).
    """
    from PIL import Image as ImageModule
    from PIL import PngImagePlugin

    if extension in TENSOR_EXTENSIONS:  # latents, from --image-format pt ...
        return _publish(path, names, lambda target: save_latents(image, target, extension))
    format_name = _format(extension)
    options: dict[str, object] = {}
    if metadata and format_name == "PNG":
        info = PngImagePlugin.PngInfo()
        for key, value in metadata.items():
            info.add_itxt(key, value)
        options["pnginfo"] = info
    elif metadata and format_name == "JPEG":
        exif = ImageModule.Exif()
        exif.get_ifd(_EXIF_IFD)[_USER_COMMENT] = _user_comment("\n".join(metadata.values()))
        options["exif"] = exif.tobytes()
    prepared = _prepare(image, format_name)
    return _publish(path, names,
                    lambda target: prepared.save(target, format=format_name, **options))


def _publish(path: str, names: Iterable[str] | None, save: Callable[[Path], None]) -> str:
    """Save through a temporary file renamed to ``path`` (or the first free of ``names``)."""
    if names is None:
        with atomic_output(path) as temporary:
            save(temporary)
        return path
    with atomic_new_file(path, names) as new_file:
        save(new_file.temporary)
    return str(new_file.path)


def write_text(text: str, path: str) -> None:
    with atomic_output(path) as temporary:
        temporary.write_text(text, encoding="utf-8")

