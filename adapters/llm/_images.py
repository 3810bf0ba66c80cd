"""Turn an `ImageInput` into what a backend sends: a URL/data URI, or raw base64.

Why here: the domain only *describes* an image (a URL, bytes, or a local path) and never
touches files. Adapters need it as an ``image_url`` string (OpenAI-compatible backends, the
Hugging Face router) or as base64 plus a media type (Ollama, Anthropic). Reading the file,
checking its size and finding its media type is the same work for all of them.

Downloading an http(s) URL is not done here: `image_base64` refuses one with
`NotSupportedError`, and `is_remote` lets a backend that needs bytes download it first.
"""

from __future__ import annotations

import base64
import binascii
import os
import re
import urllib.parse
from pathlib import Path

from domain.errors import ConfigError, NotSupportedError
from domain.messages import ImageInput

__all__ = [
    "DEFAULT_MAX_IMAGE_BYTES",
    "IMAGE_FILE_TYPES",
    "image_base64",
    "image_bytes",
    "image_url",
    "is_remote",
    "media_type_of_file",
    "sniff_media_type",
]

DEFAULT_MAX_IMAGE_BYTES = 20 * 1024 * 1024
"""The largest image we send, 20 MiB (providers refuse larger ones anyway)."""

_EXTENSIONS = {
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".jpe": "image/jpeg",
    ".gif": "image/gif",
    ".webp": "image/webp",
    ".bmp": "image/bmp",
    ".tif": "image/tiff",
    ".tiff": "image/tiff",
    ".heic": "image/heic",
    ".heif": "image/heif",
    ".avif": "image/avif",
}

_DATA_URI = re.compile(
    r"^data:(?P<type>[^;,]*)(?P<params>(?:;[^;,]*)*),(?P<payload>.*)$", re.DOTALL | re.IGNORECASE
)


def sniff_media_type(data: bytes) -> str | None:
    """The image media type from the first bytes of the file, or ``None`` when unknown."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data.startswith((b"GIF87a", b"GIF89a")):
        return "image/gif"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    if data.startswith(b"BM"):
        return "image/bmp"
    if data.startswith((b"II*\x00", b"MM\x00*")):
        return "image/tiff"
    if data[4:8] == b"ftyp":
        brand = data[8:12]
        if brand in (b"avif", b"avis"):
            return "image/avif"
        if brand in (b"heic", b"heix", b"mif1", b"msf1"):
            return "image/heic"
    return None


IMAGE_FILE_TYPES = "PNG, JPEG, GIF, WebP, BMP, TIFF, HEIC or AVIF"
"""The image files whose type we can tell, for messages."""


def media_type_of_file(name: str, head: bytes) -> str | None:
    """The media type of a file from its first bytes, else its extension; ``None`` when neither says.

    Args:
        name: the file's name or path (for the extension).
        head: the first bytes of the file (16 are enough).
    """
    return sniff_media_type(head) or _EXTENSIONS.get(Path(name).suffix.lower())


def is_remote(image: ImageInput) -> bool:
    """Whether the image is an http(s) URL that someone must download to get its bytes."""
    return image.url is not None and image.url.lower().startswith(("http://", "https://"))


def _too_large(size: int, limit: int, what: str) -> ConfigError:
    return ConfigError(
        f"{what} is {size / 1048576:.1f} MiB, more than the {limit / 1048576:.1f} MiB limit; "
        "send a smaller or more compressed image"
    )


def _read_file(path_text: str, max_bytes: int) -> bytes:
    path = Path(os.path.expanduser(path_text))
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        raise ConfigError(f"image file not found: {path_text}; check the path") from None
    except OSError as exc:
        raise ConfigError(f"cannot read image file {path_text}: {exc.strerror or exc}") from exc
    if path.is_dir():
        raise ConfigError(f"image path is a folder, not a file: {path_text}")
    if size > max_bytes:
        raise _too_large(size, max_bytes, f"image file {path_text}")
    try:
        with path.open("rb") as handle:
            data = handle.read(max_bytes + 1)
    except OSError as exc:
        raise ConfigError(f"cannot read image file {path_text}: {exc.strerror or exc}") from exc
    if len(data) > max_bytes:  # the file grew after stat
        raise _too_large(len(data), max_bytes, f"image file {path_text}")
    if not data:
        raise ConfigError(f"image file is empty: {path_text}")
    return data


def _media_type(image: ImageInput, data: bytes) -> str:
    if image.media_type:
        return image.media_type
    sniffed = sniff_media_type(data)
    if sniffed:
        return sniffed
    if image.path is not None:
        by_extension = _EXTENSIONS.get(Path(image.path).suffix.lower())
        if by_extension:
            return by_extension
        raise ConfigError(
            f"cannot tell the image type of {image.path}; use a PNG, JPEG, GIF or WebP file "
            "or give media_type="
        )
    raise ConfigError("cannot tell the image type of the given bytes; give media_type=")


def _parse_data_uri(uri: str, max_bytes: int) -> tuple[bytes, str]:
    match = _DATA_URI.match(uri)
    if match is None:
        raise ConfigError("the image data URI is malformed; expected data:<type>;base64,<data>")
    media_type = match["type"] or "application/octet-stream"
    params = [p.strip().lower() for p in match["params"].split(";") if p.strip()]
    payload = match["payload"]
    if "base64" in params:
        if len(payload) * 3 // 4 > max_bytes + 3:
            raise _too_large(len(payload) * 3 // 4, max_bytes, "the image data URI")
        try:
            data = base64.b64decode("".join(payload.split()), validate=True)
        except (binascii.Error, ValueError):
            raise ConfigError("the image data URI does not hold valid base64") from None
    else:
        data = urllib.parse.unquote_to_bytes(payload)
    if len(data) > max_bytes:
        raise _too_large(len(data), max_bytes, "the image data URI")
    return data, media_type


def image_bytes(image: ImageInput, *, max_bytes: int = DEFAULT_MAX_IMAGE_BYTES) -> tuple[bytes, str]:
    """The image's bytes and media type (reads a file, decodes a data URI).

    Raises:
        ConfigError: a missing, unreadable, empty or too large file, bad data, or an
            unknown image type.
        NotSupportedError: for an http(s) URL, which must be downloaded by the caller.
    """
    if image.url is not None:
        if is_remote(image):
            raise NotSupportedError(
                "this backend needs the image bytes; an http(s) image URL must be downloaded first"
            )
        if image.url.lower().startswith("data:"):
            data, media_type = _parse_data_uri(image.url, max_bytes)
            return data, image.media_type or sniff_media_type(data) or media_type
        raise ConfigError(
            f"unsupported image URL {image.url[:60]!r}; use http(s), a data: URI or a file path"
        )
    if image.data is not None:
        if len(image.data) > max_bytes:
            raise _too_large(len(image.data), max_bytes, "the image")
        if not image.data:
            raise ConfigError("the image has no bytes")
        return image.data, _media_type(image, image.data)
    assert image.path is not None  # ImageInput guarantees exactly one source
    data = _read_file(image.path, max_bytes)
    return data, _media_type(image, data)


def image_base64(image: ImageInput, *, max_bytes: int = DEFAULT_MAX_IMAGE_BYTES) -> tuple[str, str]:
    """The image as ``(base64 text, media type)``, for backends that embed raw base64.

    Raises:
        ConfigError: see `image_bytes`.
        NotSupportedError: for an http(s) URL (download it first; see `is_remote`).
    """
    data, media_type = image_bytes(image, max_bytes=max_bytes)
    return base64.b64encode(data).decode("ascii"), media_type


def image_url(image: ImageInput, *, max_bytes: int = DEFAULT_MAX_IMAGE_BYTES) -> str:
    """The ``image_url`` string for OpenAI-compatible requests.

    An http(s) URL and a data URI are sent as given; bytes and files become a base64
    ``data:`` URI with their media type.

    Raises:
        ConfigError: see `image_bytes`.
    """
    if image.url is not None:
        lowered = image.url.lower()
        if lowered.startswith("data:") and len(image.url) > max_bytes * 4 // 3 + 1024:
            raise _too_large(len(image.url) * 3 // 4, max_bytes, "the image data URI")
        if lowered.startswith(("http://", "https://", "data:")):
            return image.url
        raise ConfigError(
            f"unsupported image URL {image.url[:60]!r}; use http(s), a data: URI or a file path"
        )
    data, media_type = image_bytes(image, max_bytes=max_bytes)
    return f"data:{media_type};base64,{base64.b64encode(data).decode('ascii')}"
