"""Synthetic fingerprints in the spirit of SFinGe (Cappelli, Maio and Maltoni).

Engine layer: numbers in, images out; nothing here knows about the database or the web. Method and
parameters are described in ``docs/SYNTHESIS.md``.

Typical use::

    from crms.fingerprint.synthesis import generate_master, render_impression, render_latent

    master = generate_master(seed=42, finger_index=7)      # one finger: class, orientation, ridges
    plain = render_impression(master, 0)                    # uint8 288 x 384 at 500 ppi
    again = render_impression(master, 1)                    # a mate of ``plain``
    latent = render_latent(master, 0)                       # a small smudged part on a textured surface

Everything is deterministic: finger ``i`` of seed ``s`` (and its impression ``k``) is the same, bit for bit,
whatever other fingers are made and in which order.
"""

from crms.fingerprint.synthesis.fields import CLASS_FREQUENCIES, CLASSES
from crms.fingerprint.synthesis.impression import (
    IMPRESSION_HEIGHT,
    IMPRESSION_WIDTH,
    LATENT_HEIGHT,
    LATENT_WIDTH,
    render_impression,
    render_latent,
)
from crms.fingerprint.synthesis.master import Master, generate_master
from crms.fingerprint.synthesis.output import SYNTH_DPI, fvc_name, png_bytes, write_png

__all__ = [
    "CLASSES",
    "CLASS_FREQUENCIES",
    "IMPRESSION_HEIGHT",
    "IMPRESSION_WIDTH",
    "LATENT_HEIGHT",
    "LATENT_WIDTH",
    "Master",
    "SYNTH_DPI",
    "fvc_name",
    "generate_master",
    "png_bytes",
    "render_impression",
    "render_latent",
    "write_png",
]
