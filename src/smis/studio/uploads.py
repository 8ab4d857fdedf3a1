"""What the studio accepts from a client, and how it refuses: limits, the error type the web layer
turns into a 4xx JSON answer, and uploads decoded only after their size is checked. Also the PNG
encoding of answers."""

from __future__ import annotations

import base64
import io
from dataclasses import dataclass

from PIL import Image, UnidentifiedImageError

from ..data.io import header_size, upright
from ..inputs import MAX_PIXELS


class StudioError(Exception):
    """A request the studio refuses: `status` is the HTTP status, `field` the control it came from
    (the page shows the message next to it)."""

    def __init__(self, message: str, status: int = 422, field: str | None = None):
        super().__init__(message)
        self.message, self.status, self.field = message, status, field


@dataclass(frozen=True)
class Limits:
    max_bytes: int = 8 * 2**20          # one uploaded file
    max_pixels: int = MAX_PIXELS        # one uploaded image, checked before decoding
    max_sessions: int = 32              # beyond this, an unused or idle session makes room (else 429)
    examples: int = 6                   # built-in example scenes


def too_big(n: int, limits: Limits, field_name: str) -> StudioError:
    return StudioError(f"the file is {n} bytes; the limit is {limits.max_bytes}", 413, field_name)


def open_upload(data: bytes, limits: Limits, field_name: str) -> Image.Image:
    """Bytes -> a decoded PIL image, refusing too many bytes or pixels before decoding."""
    if len(data) > limits.max_bytes:
        raise too_big(len(data), limits, field_name)
    if not data:
        raise StudioError("the file is empty", 400, field_name)
    try:
        try:
            picture = Image.open(io.BytesIO(data))
        except Image.DecompressionBombError:         # beyond Pillow's own limit: read the header only
            size = header_size(data)
            shown = f"{size[0]}x{size[1]} = {size[0] * size[1]} pixels" if size else "too many pixels"
            raise StudioError(f"the image is {shown}; the limit is {limits.max_pixels}", 413, field_name) \
                from None
        w, h = picture.size
        if w * h > limits.max_pixels:
            raise StudioError(f"the image is {w}x{h} = {w * h} pixels; the limit is {limits.max_pixels}",
                              413, field_name)
        picture.load()
        return upright(picture)                  # a phone photo taken sideways reads upright
    except StudioError:
        raise
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError, SyntaxError) as e:
        raise StudioError(f"cannot be read as an image ({type(e).__name__})", 400, field_name) from None


def png_bytes(picture: Image.Image, compress_level: int = 1) -> bytes:
    buf = io.BytesIO()
    picture.save(buf, "PNG", compress_level=compress_level)
    return buf.getvalue()


def data_url(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode()
