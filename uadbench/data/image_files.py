"""Decoding image files into 8-bit grayscale arrays, and resizing them: the same for every image."""

from __future__ import annotations

from pathlib import Path

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


def read_image_file(path: Path) -> np.ndarray:
    """Any supported image file (DICOM by its suffix, else PIL) as a 2-D uint8 array."""
    if Path(path).suffix.lower() in DICOM_SUFFIXES:
        return read_dicom(path)
    return read_grayscale(path)


def read_dicom(path: Path) -> np.ndarray:
    """A DICOM image as a 2-D uint8 array, scaled by its stored bit depth.

    Every image gets the same rule: values are mapped from [0, 2**BitsStored - 1] to [0, 255]
    (signed data shifted into that range first), and MONOCHROME1 images, where low values are
    bright, are inverted so that bone is always bright. No per-image windowing.
    """
    import pydicom

    try:
        dataset = pydicom.dcmread(path)
        pixels = dataset.pixel_array
    except FileNotFoundError:
        raise ImageReadError(path, "no such file") from None
    except Exception as error:  # pydicom raises many types for bad or undecodable files
        raise ImageReadError(path, f"DICOM: {type(error).__name__}: {error}") from None
    if pixels.ndim != 2:
        raise ImageReadError(
            path, f"DICOM pixel data of shape {pixels.shape}; expected one 2-D frame"
        )
    bits = int(getattr(dataset, "BitsStored", 8 * pixels.dtype.itemsize))
    top = 2**bits - 1
    values = pixels.astype(np.float64)
    if int(getattr(dataset, "PixelRepresentation", 0)) == 1:
        values += 2 ** (bits - 1)
    values = np.clip(values, 0, top)
    if str(getattr(dataset, "PhotometricInterpretation", "")).upper() == "MONOCHROME1":
        values = top - values
    return (values / top * 255).round().astype(np.uint8)


def read_grayscale(path: Path) -> np.ndarray:
    """A PNG, JPEG or other PIL-readable file as a 2-D uint8 array.

    Colour images are converted to luma; 16-bit images are scaled by their full range.
    """
    try:
        with Image.open(path) as image:
            image.load()
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


def resize_square(image: np.ndarray, size: int) -> np.ndarray:
    """Resize a uint8 image straight to ``size`` x ``size`` (bilinear, antialiased)."""
    if image.shape == (size, size):
        return image
    resized = Image.fromarray(image).resize((size, size), Image.Resampling.BILINEAR)
    return np.asarray(resized, dtype=np.uint8)
