"""Images become data URIs or base64 with the right media type, or a clear error."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from adapters.llm._images import image_base64, image_bytes, image_url, is_remote, sniff_media_type
from domain.errors import ConfigError, NotSupportedError
from domain.messages import ImageInput

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 16
JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 16
GIF = b"GIF89a" + b"\x00" * 8
WEBP = b"RIFF\x10\x00\x00\x00WEBPVP8 " + b"\x00" * 8


def test_http_urls_and_data_uris_are_sent_as_given() -> None:
    assert image_url(ImageInput(url="https://example.com/cat.png")) == "https://example.com/cat.png"
    uri = "data:image/png;base64,iVBORw0KGgo="
    assert image_url(ImageInput(url=uri)) == uri


def test_bytes_become_a_data_uri_with_the_sniffed_media_type() -> None:
    url = image_url(ImageInput(data=JPEG))
    assert url == "data:image/jpeg;base64," + base64.b64encode(JPEG).decode()


def test_a_given_media_type_wins() -> None:
    assert image_url(ImageInput(data=b"abc", media_type="image/heic")).startswith("data:image/heic;base64,")


def test_bytes_of_unknown_type_without_media_type_are_refused() -> None:
    with pytest.raises(ConfigError, match="media_type"):
        image_url(ImageInput(data=b"not an image"))


@pytest.mark.parametrize(
    ("data", "media_type"),
    [(PNG, "image/png"), (JPEG, "image/jpeg"), (GIF, "image/gif"), (WEBP, "image/webp"), (b"nope", None)],
)
def test_sniff_media_type(data: bytes, media_type: str | None) -> None:
    assert sniff_media_type(data) == media_type


def test_a_file_is_read_and_typed_by_its_bytes(tmp_path: Path) -> None:
    path = tmp_path / "photo.jpg"  # the extension lies; the bytes say PNG
    path.write_bytes(PNG)
    assert image_url(ImageInput(path=str(path))) == "data:image/png;base64," + base64.b64encode(PNG).decode()


def test_extension_is_the_fallback_for_unknown_bytes(tmp_path: Path) -> None:
    path = tmp_path / "scan.webp"
    path.write_bytes(b"\x01\x02\x03")
    assert image_bytes(ImageInput(path=str(path))) == (b"\x01\x02\x03", "image/webp")
    unknown = tmp_path / "notes.txt"
    unknown.write_bytes(b"hello")
    with pytest.raises(ConfigError, match="cannot tell the image type"):
        image_url(ImageInput(path=str(unknown)))


def test_a_missing_file_is_a_clear_config_error(tmp_path: Path) -> None:
    missing = tmp_path / "nope.png"
    with pytest.raises(ConfigError, match=r"image file not found: .*nope\.png"):
        image_url(ImageInput(path=str(missing)))


def test_a_folder_and_an_empty_file_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="folder"):
        image_url(ImageInput(path=str(tmp_path)))
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    with pytest.raises(ConfigError, match="empty"):
        image_url(ImageInput(path=str(empty)))


def test_a_file_over_the_cap_is_refused_before_reading(tmp_path: Path) -> None:
    path = tmp_path / "big.png"
    path.write_bytes(PNG + b"\x00" * 2000)
    with pytest.raises(ConfigError, match="more than the"):
        image_url(ImageInput(path=str(path)), max_bytes=1024)
    assert image_url(ImageInput(path=str(path)), max_bytes=4096).startswith("data:image/png")


def test_bytes_and_data_uris_over_the_cap_are_refused() -> None:
    with pytest.raises(ConfigError, match="limit"):
        image_url(ImageInput(data=PNG * 100), max_bytes=100)
    uri = "data:image/png;base64," + base64.b64encode(PNG * 100).decode()
    with pytest.raises(ConfigError, match="limit"):
        image_base64(ImageInput(url=uri), max_bytes=100)


def test_base64_for_backends_that_embed_raw_images(tmp_path: Path) -> None:
    assert image_base64(ImageInput(data=GIF)) == (base64.b64encode(GIF).decode(), "image/gif")
    assert image_base64(ImageInput(url="data:image/png;base64,iVBORw0KGgo=")) == ("iVBORw0KGgo=", "image/png")
    # a percent-encoded (non-base64) data URI is converted
    assert image_base64(ImageInput(url="data:image/svg+xml,%3Csvg%2F%3E")) == (
        base64.b64encode(b"<svg/>").decode(),
        "image/svg+xml",
    )
    path = tmp_path / "a.png"
    path.write_bytes(PNG)
    assert image_base64(ImageInput(path=str(path))) == (base64.b64encode(PNG).decode(), "image/png")


def test_broken_data_uris_are_config_errors() -> None:
    with pytest.raises(ConfigError, match="base64"):
        image_base64(ImageInput(url="data:image/png;base64,@@@"))
    with pytest.raises(ConfigError, match="malformed"):
        image_base64(ImageInput(url="data:image/png;base64"))


def test_remote_urls_must_be_downloaded_by_the_caller() -> None:
    image = ImageInput(url="https://example.com/a.png")
    assert is_remote(image)
    assert not is_remote(ImageInput(url="data:image/png;base64,AA=="))
    assert not is_remote(ImageInput(data=PNG))
    with pytest.raises(NotSupportedError, match="downloaded"):
        image_base64(image)


def test_other_url_schemes_are_refused() -> None:
    with pytest.raises(ConfigError, match="unsupported image URL"):
        image_url(ImageInput(url="ftp://example.com/a.png"))
