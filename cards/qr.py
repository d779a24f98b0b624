"""A QR code as PNG bytes (segno: pure Python, no Pillow needed; imported when the first code is drawn)."""

from __future__ import annotations

import hashlib
import io

from cards.model import Image


def qr_image(text: str, alt: str) -> Image:
    """Large modules and a quiet zone, so a phone camera reads it off another phone's screen."""
    import segno

    buf = io.BytesIO()
    segno.make(text, error="m").save(buf, kind="png", scale=8, border=3)
    png = buf.getvalue()
    return Image(png, "qr-" + hashlib.sha256(png).hexdigest()[:32], alt)
