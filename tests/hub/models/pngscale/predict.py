"""Test model for the hub's web pages: a PNG image in, a PNG `scale` times its width and height out.

Standard library only (the image is decoded just far enough to read its size from the IHDR chunk), so
the browser test can check the rendered output's natural size against the uploaded image's."""

import struct
import zlib

from cog import BasePredictor, Input, Path

SIGNATURE = b"\x89PNG\r\n\x1a\n"


def png_size(data: bytes) -> tuple[int, int]:
    if data[:8] != SIGNATURE or data[12:16] != b"IHDR":
        raise ValueError("the image is not a PNG")
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def png(width: int, height: int) -> bytes:
    """An RGB gradient of the given size."""
    rows = b"".join(
        b"\x00"
        + bytes(
            b
            for x in range(width)
            for b in (x * 255 // max(width - 1, 1), y * 255 // max(height - 1, 1), 128)
        )
        for y in range(height)
    )

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return SIGNATURE + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


class Predictor(BasePredictor):
    def predict(
        self,
        image: Path = Input(description="A PNG image"),
        scale: int = Input(description="Factor to scale the image by", default=2, ge=1, le=4),
    ) -> Path:
        width, height = png_size(image.read_bytes())
        print(f"input {width}x{height}, output {width * scale}x{height * scale}")
        out = Path("/tmp/scaled.png")
        out.write_bytes(png(width * scale, height * scale))
        return out
