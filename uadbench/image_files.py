"""Decoding image files into 8-bit grayscale arrays, and resizing them: the same for every image.

How stored values become 0-255 is the *intensity rule*, a data-set option (``intensity``):

- ``bits``: the file's stored range to 0-255: ``[0, 2**BitsStored - 1]`` for a DICOM, the
  sample depth (8 or 16 bit) for a PNG or JPEG; an 8-bit file is unchanged.
- ``minmax``: per image, its darkest value to 0 and its brightest to 255.
- ``voi``: for a DICOM, the header's modality LUT (rescale) and VOI LUT or window, as pydicom
  applies them, then min-max of the result; a DICOM without a VOI LUT or window gets
  ``minmax``; any other file gets ``bits`` (a PNG or JPEG has been windowed by whoever made it).

A file is a DICOM by its suffix (``.dcm``, ``.dicom``) or, without an image suffix (exports
often have none, or a UID's last number), by the ``DICM`` mark at byte 128; any other file is
decoded by Pillow. MONOCHROME1 images (low values bright) are inverted after the rule, so that
bone is always bright. Multi-frame, colour and palette-colour DICOMs are refused. A DICOM whose
transfer syntax needs a codec that is not installed (also 12-bit JPEG Extended, which Pillow
cannot decode) fails naming the extra to install.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, UnidentifiedImageError

from uadbench.errors import UserError


class ImageReadError(UserError, OSError):
    """An image file that cannot be decoded (missing, truncated, not an image)."""

    def __init__(self, path: Path | str, reason: str) -> None:
        super().__init__(
            f"cannot read image {path}: {reason}. Replace the file, or pass --skip-unreadable to "
            "leave such images out (the run record then lists every one left out)."
        )
        self.path, self.reason = str(path), reason


DICOM_SUFFIXES = (".dcm", ".dicom")
RASTER_SUFFIXES = (
    ".png", ".jpg", ".jpeg", ".jpe", ".jfif", ".tif", ".tiff", ".bmp", ".webp", ".gif",
    ".jp2", ".j2k", ".pgm", ".ppm", ".pnm",
)  # fmt: skip
"""The suffixes of the image files Pillow decodes (PNG, JPEG, TIFF, BMP, WebP, GIF, JPEG 2000,
Netpbm); any case."""
DICOM_MARK = (128, b"DICM")
"""Where a DICOM file (Part 10) says it is one, whatever its name: the offset and the bytes."""
INTENSITY_RULES = ("bits", "minmax", "voi")
CODEC_EXTRA = "pip install 'uadbench[dicom]'"
"""What installs the DICOM codecs (pylibjpeg with its libjpeg, openjpeg and RLE plugins)."""


def read_image_file(path: Path, intensity: str = "bits") -> np.ndarray:
    """Any supported image file (a DICOM, else PIL) as a 2-D uint8 array, its values mapped to
    0-255 by the rule ``intensity`` (see the module docstring)."""
    if intensity not in INTENSITY_RULES:
        raise ValueError(f"intensity {intensity!r} is none of {', '.join(INTENSITY_RULES)}")
    if is_dicom(Path(path)):
        return read_dicom(path, intensity)
    return read_grayscale(path, "bits" if intensity == "voi" else intensity)


def is_dicom(path: Path) -> bool:
    """Whether ``path`` is read as a DICOM: by its suffix, or, for a file without an image
    suffix, by the DICOM mark in its first bytes."""
    suffix = path.suffix.lower()
    if suffix in DICOM_SUFFIXES:
        return True
    if suffix in RASTER_SUFFIXES:
        return False
    offset, mark = DICOM_MARK
    try:
        with open(path, "rb") as handle:
            return handle.read(offset + len(mark))[offset:] == mark
    except OSError:
        return False


def is_image_file(path: Path) -> bool:
    """Whether ``read_image_file`` decodes ``path``: a Pillow image by its suffix
    (``RASTER_SUFFIXES``) or a DICOM (``is_dicom``)."""
    return path.suffix.lower() in RASTER_SUFFIXES or is_dicom(path)


def read_dicom(path: Path, intensity: str = "bits") -> np.ndarray:
    """A DICOM image as a 2-D uint8 array, by the rule ``intensity``."""
    dataset, pixels = _decoded_dicom(path)
    photometric = str(getattr(dataset, "PhotometricInterpretation", "MONOCHROME2")).upper()
    if photometric not in ("MONOCHROME1", "MONOCHROME2"):
        raise ImageReadError(
            path, f"DICOM photometric interpretation {photometric}; only grey images are read"
        )
    if pixels.ndim != 2:
        raise ImageReadError(
            path, f"DICOM pixel data of shape {pixels.shape}; expected one 2-D frame"
        )
    bits = int(getattr(dataset, "BitsStored", 8 * pixels.dtype.itemsize))
    values = pixels.astype(np.float64)
    if intensity == "bits":
        if int(getattr(dataset, "PixelRepresentation", 0)) == 1:
            values += 2 ** (bits - 1)
        gray = np.clip(values, 0, 2**bits - 1) / (2**bits - 1)
    elif intensity == "voi" and _has_voi(dataset):
        from pydicom.pixels import apply_modality_lut, apply_voi_lut

        gray = _min_max(apply_voi_lut(apply_modality_lut(pixels, dataset), dataset))
    else:
        gray = _min_max(values)
    if photometric == "MONOCHROME1":
        gray = 1 - gray
    return (gray * 255).round().astype(np.uint8)


def _decoded_dicom(path: Path) -> tuple[Any, np.ndarray]:
    """The DICOM data set at ``path`` and its decoded pixels."""
    import pydicom

    try:
        dataset = pydicom.dcmread(path)
    except FileNotFoundError:
        raise ImageReadError(path, "no such file") from None
    except Exception as error:  # pydicom raises many types for bad files
        raise ImageReadError(path, f"DICOM: {type(error).__name__}: {error}") from None
    try:
        return dataset, dataset.pixel_array
    except Exception as error:
        syntax = getattr(dataset.file_meta, "TransferSyntaxUID", None)
        name = getattr(syntax, "name", "its transfer syntax")
        if _twelve_bit_jpeg_undecodable(dataset, syntax):
            name += f" with {dataset.BitsStored}-bit samples (Pillow decodes 8-bit JPEG only)"
        elif "missing dependencies" not in str(error):  # pydicom's words for "no plugin"
            raise ImageReadError(path, f"DICOM: {type(error).__name__}: {error}") from None
        raise ImageReadError(
            path, f"DICOM in {name}, which needs a codec that is not installed ({CODEC_EXTRA})"
        ) from None


TWELVE_BIT_JPEG_PLUGINS = ("pylibjpeg", "gdcm")
"""The pydicom decoder plugins that decode JPEG Extended with more than 8 bits (Pillow's does
not); the codec extra installs pylibjpeg's."""


def _twelve_bit_jpeg_undecodable(dataset: Any, syntax: Any) -> bool:
    """Whether ``dataset`` is JPEG Extended with more than 8 bits and no installed pydicom
    plugin decodes that (Pillow's is the only one, or none)."""
    from pydicom.pixels import get_decoder
    from pydicom.uid import JPEGExtended12Bit

    if syntax != JPEGExtended12Bit or int(getattr(dataset, "BitsStored", 8)) <= 8:
        return False
    available = get_decoder(JPEGExtended12Bit).available_plugins
    return not set(available) & set(TWELVE_BIT_JPEG_PLUGINS)


def _has_voi(dataset: Any) -> bool:
    return "VOILUTSequence" in dataset or "WindowCenter" in dataset


def _min_max(values: np.ndarray) -> np.ndarray:
    """``values`` scaled to [0, 1] by their own minimum and maximum (a flat image is 0)."""
    values = np.asarray(values, dtype=np.float64)
    low, high = values.min(), values.max()
    return (values - low) / (high - low) if high > low else np.zeros_like(values)


def read_grayscale(path: Path, intensity: str = "bits") -> np.ndarray:
    """A PNG, JPEG or other PIL-readable file as a 2-D uint8 array.

    Colour images are converted to luma; with ``bits``, 16-bit images are scaled by their full
    range; with ``minmax``, every image by its own darkest and brightest values.
    """
    try:
        with Image.open(path) as image:
            image.load()
            if intensity == "minmax":
                return (_min_max(_values(image)) * 255).round().astype(np.uint8)
            return to_gray8(image)
    except FileNotFoundError:
        raise ImageReadError(path, "no such file") from None
    except UnidentifiedImageError:
        raise ImageReadError(path, "not an image file PIL can identify") from None
    except Image.DecompressionBombError as error:  # Pillow's guard against decompression bombs
        raise ImageReadError(path, f"too large to decode safely ({error})") from None
    except (OSError, SyntaxError, ValueError) as error:
        raise ImageReadError(path, f"{type(error).__name__}: {error}") from None


def to_gray8(image: Image.Image) -> np.ndarray:
    """A PIL image as a 2-D uint8 array."""
    if image.mode == "L":
        return np.asarray(image, dtype=np.uint8).copy()
    if image.mode in ("I;16", "I;16B", "I;16L"):
        return (np.asarray(image, dtype=np.float64) / 65535 * 255).round().astype(np.uint8)
    if image.mode == "I":
        values = np.asarray(image, dtype=np.float64)
        top = 65535 if values.max() > 255 else 255
        return (np.clip(values, 0, top) / top * 255).round().astype(np.uint8)
    if image.mode == "F":
        raise ValueError("floating-point images have no defined grey scale")
    return np.asarray(image.convert("L"), dtype=np.uint8).copy()


def _values(image: Image.Image) -> np.ndarray:
    if image.mode in ("L", "I;16", "I;16B", "I;16L", "I"):
        return np.asarray(image, dtype=np.float64)
    if image.mode == "F":
        raise ValueError("floating-point images have no defined grey scale")
    return np.asarray(image.convert("L"), dtype=np.float64)


def resize_square(image: np.ndarray, size: int) -> np.ndarray:
    """Resize a uint8 image straight to ``size`` x ``size`` (bilinear, antialiased)."""
    if image.shape == (size, size):
        return image
    resized = Image.fromarray(image).resize((size, size), Image.Resampling.BILINEAR)
    return np.asarray(resized, dtype=np.uint8)
