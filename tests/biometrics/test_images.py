"""Image intake: every format, resolution handling and hostile files (all images generated here)."""

from __future__ import annotations

import struct
import zlib

import numpy as np
import pytest

from crms.fingerprint import images
from crms.fingerprint.images import TAG_TOLERANCE, TYPICAL_PERIOD_500, ImageError, estimate_dpi, load_image

from .fpdata import encode, synthetic_print


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "TIFF", "BMP", "WSQ", "JPEG2000"])
def test_each_format_decodes_to_gray_500ppi(fmt):
    px = synthetic_print(200, 240)
    data = encode(px, fmt)
    img = load_image(data, dpi=500, name=f"x.{fmt.lower()}")
    assert img.format == fmt
    assert img.pixels.dtype == np.uint8 and img.pixels.shape == (240, 200)
    # Lossy formats change pixels a little; the pattern must survive.
    corr = np.corrcoef(img.pixels.ravel().astype(float), px.ravel().astype(float))[0, 1]
    assert corr > 0.9


def test_colour_and_alpha_become_gray_on_white():
    from PIL import Image

    px = synthetic_print(120, 140)
    rgb = np.dstack([px, px, px])
    rgba = np.dstack([px, px, px, np.where(px > 0, 255, 0).astype(np.uint8)])
    rgba[:10, :10, 3] = 0  # transparent corner: paper, not ridge
    import io

    for arr, mode in ((rgb, "RGB"), (rgba, "RGBA")):
        buf = io.BytesIO()
        Image.fromarray(arr, mode).save(buf, "PNG")
        img = load_image(buf.getvalue())
        assert img.pixels.ndim == 2
    assert img.pixels[:10, :10].min() == 255


def test_sixteen_bit_is_scaled_to_eight():
    import io

    from PIL import Image

    px = synthetic_print(100, 100).astype(np.uint16) * 200
    buf = io.BytesIO()
    Image.fromarray(px).save(buf, "PNG")
    img = load_image(buf.getvalue())
    assert img.pixels.dtype == np.uint8 and img.pixels.max() == 255


def test_dpi_from_file_is_normalised_to_500():
    px = synthetic_print(400, 300, period=18)
    img = load_image(encode(px, "PNG", dpi=1000))
    assert img.dpi == 1000 and img.dpi_source == "file"
    assert img.pixels.shape == (150, 200)


def test_dpi_from_caller_wins_and_is_reported():
    px = synthetic_print(296, 560)
    img = load_image(encode(px, "PNG", dpi=500), dpi=569)
    assert (img.dpi, img.dpi_source) == (569, "caller")
    assert img.pixels.shape == (round(560 * 500 / 569), round(296 * 500 / 569))


def test_screen_dpi_is_ignored():
    """96 ppi is an editor's default, not a scanner's: the ridge period decides."""
    img = load_image(encode(synthetic_print(300, 360), "PNG", dpi=96))
    assert img.dpi_source == "estimated" and abs(img.dpi - 500) / 500 < 0.15
    assert "no usable resolution" in img.dpi_reason and img.dpi_file is None


def _rendered(true_dpi: float, seed: int = 0) -> np.ndarray:
    """A synthetic print as a scanner at ``true_dpi`` would give it (finger 15 x 18 mm)."""
    period = TYPICAL_PERIOD_500 * true_dpi / 500
    side = int(300 * true_dpi / 500)
    return synthetic_print(side, int(side * 1.2), period=period, seed=seed)


@pytest.mark.parametrize("true_dpi", [170, 250, 500, 569, 1000])
def test_missing_tag_is_estimated_from_the_ridges(true_dpi):
    img = load_image(encode(_rendered(true_dpi), "PNG"))
    assert img.dpi_source == "estimated" and img.dpi_file is None
    assert abs(img.dpi - true_dpi) / true_dpi < 0.12
    assert img.dpi_estimate == img.dpi


@pytest.mark.parametrize("true_dpi, tag", [(170, 500), (500, 1000), (1000, 500), (250, 569)])
def test_implausible_tag_gives_way_to_the_estimate(true_dpi, tag):
    """A tag the ridge period contradicts by more than TAG_TOLERANCE is not used, and the reason says so."""
    img = load_image(encode(_rendered(true_dpi, seed=2), "PNG", dpi=tag))
    assert (img.dpi_source, img.dpi_file) == ("estimated", tag)
    assert abs(img.dpi - true_dpi) / true_dpi < 0.12
    assert "implausible" in img.dpi_reason


@pytest.mark.parametrize("true_dpi, tag", [(500, 500), (569, 500), (500, 569), (1000, 1000), (512, 500)])
def test_plausible_tag_is_used_as_it_is(true_dpi, tag):
    img = load_image(encode(_rendered(true_dpi, seed=3), "PNG", dpi=tag))
    assert (img.dpi, img.dpi_source) == (tag, "file")
    assert 1 / TAG_TOLERANCE <= img.dpi_estimate / tag <= TAG_TOLERANCE
    assert "consistent" in img.dpi_reason


def test_no_tag_and_no_ridges_is_the_default():
    img = load_image(encode(np.full((200, 200), 255, np.uint8), "PNG"))
    assert (img.dpi, img.dpi_source) == (500, "default")


def _washed_out(pixels: np.ndarray) -> np.ndarray:
    """A smudge: blurred (σ 4 px) and cut to a tenth of its contrast on a light ground."""
    import cv2

    return (200 + cv2.GaussianBlur(pixels, (0, 0), 4) // 10).astype(np.uint8)


def test_a_smudged_print_keeps_its_tag_and_an_untagged_one_the_default():
    """The ridges of a smudge are too unclear to measure (its spectrum's peak is noise): its tag is not
    overruled by a false estimate, and without a tag it is read at 500 ppi, not at a figure the noise gave."""
    from crms.fingerprint.images import MIN_ESTIMATE_CLARITY, ridge_clarity
    from crms.fingerprint.synthesis import generate_master, render_impression

    clean = render_impression(generate_master(seed=3, finger_index=2), 0)  # 500 ppi, with skin and noise
    smudge = _washed_out(clean)
    assert ridge_clarity(smudge) < MIN_ESTIMATE_CLARITY < ridge_clarity(clean)
    with pytest.raises(ImageError, match="no ridge pattern"):
        estimate_dpi(smudge)
    tagged = load_image(encode(smudge, "PNG", dpi=500))
    assert (tagged.dpi, tagged.dpi_source, tagged.dpi_estimate) == (500, "file", None)
    assert tagged.dpi_reason == "the file's tag (500 ppi); no ridge pattern to check it"
    assert load_image(encode(smudge, "PNG")).dpi_source == "default"
    faint = (200 + clean // 10).astype(np.uint8)  # faint but sharp: its ridges still measured
    assert abs(estimate_dpi(faint) - estimate_dpi(clean)) < 1


def test_small_image_is_not_sent_to_a_high_resolution():
    """96 x 103 pixels cannot hold a finger at more than 96 * 25.4 / MIN_FINGER_MM ppi."""
    from crms.fingerprint.images import MIN_FINGER_MM

    px = _rendered(170)[:103, :96]
    assert estimate_dpi(px) <= 96 * 25.4 / MIN_FINGER_MM
    assert abs(estimate_dpi(px) - 170) / 170 < 0.15


@pytest.mark.parametrize("true_dpi", [170, 250, 500, 1000])
def test_dpi_auto_estimates_from_ridge_period(true_dpi):
    period = 9.0 * true_dpi / 500  # adult ridge period is about 9 px at 500 ppi
    side = int(300 * true_dpi / 500)
    px = synthetic_print(side, int(side * 1.2), period=period)
    img = load_image(encode(px, "PNG", dpi=500), dpi="auto")
    assert img.dpi_source == "estimated"
    assert abs(img.dpi - true_dpi) / true_dpi < 0.15
    assert abs(estimate_dpi(px) - true_dpi) / true_dpi < 0.15


@pytest.mark.parametrize("bad", ["0", "-3", "abc", "5000", "nan", 5000.0, float("inf"), 12])
def test_bad_dpi_values_are_rejected(bad):
    with pytest.raises(ImageError) as e:
        load_image(encode(synthetic_print(100, 100), "PNG"), dpi=bad)
    assert e.value.field == "dpi"


def test_empty_file():
    with pytest.raises(ImageError, match="empty"):
        load_image(b"")


def test_random_bytes_and_mislabelled_text(tmp_path):
    p = tmp_path / "print.png"
    p.write_text("this is not an image")
    with pytest.raises(ImageError, match="unrecognised"):
        load_image(p)
    with pytest.raises(ImageError):
        load_image(np.random.default_rng(1).bytes(5000))


def test_jpeg_named_png_is_read_by_content(tmp_path):
    p = tmp_path / "print.png"
    p.write_bytes(encode(synthetic_print(100, 100), "JPEG"))
    assert load_image(p).format == "JPEG"


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "TIFF", "BMP", "WSQ", "JPEG2000"])
def test_truncated_files(fmt):
    data = encode(synthetic_print(200, 200, seed=3), fmt)
    for cut in (len(data) // 2, 40):
        with pytest.raises(ImageError):
            load_image(data[:cut])


def _png_claiming(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims a huge image (a decompression bomb's calling card)."""
    raw = zlib.compress(b"\x00" * 64)
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", raw) + chunk(b"IEND", b"")


def test_pixel_bomb_is_refused_before_decoding():
    with pytest.raises(ImageError, match="pixels"):
        load_image(_png_claiming(60000, 60000))


def test_real_compressed_bomb_is_refused(monkeypatch):
    monkeypatch.setattr(images, "MAX_PIXELS", 1_000_000)
    data = encode(np.full((1500, 1500), 255, np.uint8), "PNG")  # 2.25 Mpx in a few kB
    assert len(data) < 20_000
    with pytest.raises(ImageError, match="decompression bomb|over the limit"):
        load_image(data)


def test_byte_limit(monkeypatch, tmp_path):
    monkeypatch.setattr(images, "MAX_BYTES", 1000)
    data = encode(synthetic_print(200, 200), "BMP")
    p = tmp_path / "big.bmp"
    p.write_bytes(data)
    with pytest.raises(ImageError, match="bytes"):
        load_image(p)
    with pytest.raises(ImageError, match="bytes"):
        load_image(data)


def test_tiny_images_are_refused():
    with pytest.raises(ImageError, match="too small"):
        load_image(encode(np.zeros((10, 10), np.uint8), "PNG"))
    # Fine at 1000 ppi on disk, too small once halved to 500 ppi.
    with pytest.raises(ImageError, match="too small"):
        load_image(encode(np.zeros((40, 40), np.uint8), "PNG"), dpi=1000)


def test_missing_file_and_folder(tmp_path):
    with pytest.raises(ImageError, match="cannot read"):
        load_image(tmp_path / "nope.png")
    with pytest.raises(ImageError, match="not a regular file"):
        load_image(tmp_path)


def test_small_socofing_sized_images_work():
    img = load_image(encode(synthetic_print(96, 103, period=3.1), "PNG", dpi=500), dpi="auto")
    assert 120 < img.dpi < 230
    assert min(img.pixels.shape) >= 200
