"""What the numbers in a frame's planes mean, and frames as they travel between
decode, processing and encode.

`PlaneFormat` says how to read one batch's code values; `StreamFormat` is
what a decoder decided about a whole stream at its first frame (the plane
format, the colour tags to write back, the rotation), handed to the encoder
as one frozen value."""

from __future__ import annotations

from dataclasses import dataclass
from typing import get_args

import numpy as np

from vidrestore.ops.color import Matrix

# Planar YCbCr layouts the pipeline works in, with (chroma x, chroma y)
# subsampling shifts and bit depth. Everything else is converted on decode.
PLANAR_FORMATS: dict[str, tuple[int, int, int]] = {
    "yuv420p": (1, 1, 8),
    "yuv422p": (1, 0, 8),
    "yuv444p": (0, 0, 8),
    "yuv420p10le": (1, 1, 10),
    "yuv422p10le": (1, 0, 10),
    "yuv444p10le": (0, 0, 10),
    # 16-bit and float images (the staging carries these codes as int32).
    "yuv444p16le": (0, 0, 16),
}


@dataclass(frozen=True)
class PlaneFormat:
    """How the numbers in a batch's planes are to be read."""

    pix_fmt: str  # one of PLANAR_FORMATS
    full_range: bool
    chroma_left: bool  # chroma co-sited with the left luma column (MPEG-2/H.264 default)
    # Y'CbCr <-> R'G'B' matrix, for processors that need RGB; the default is JPEG's and swscale's.
    matrix: Matrix = "bt601"

    def __post_init__(self) -> None:
        if self.pix_fmt not in PLANAR_FORMATS:
            raise ValueError(f"unsupported planar format {self.pix_fmt!r}; expected one of {sorted(PLANAR_FORMATS)}")
        if self.matrix not in get_args(Matrix):
            raise ValueError(f"unsupported colour matrix {self.matrix!r}; expected one of {list(get_args(Matrix))}")

    @property
    def bit_depth(self) -> int:
        return PLANAR_FORMATS[self.pix_fmt][2]

    @property
    def subsampling(self) -> tuple[int, int]:
        sx, sy, _ = PLANAR_FORMATS[self.pix_fmt]
        return sx, sy

    @property
    def dtype(self) -> type:
        return np.uint8 if self.bit_depth == 8 else np.uint16

    def chroma_size(self, width: int, height: int) -> tuple[int, int]:
        sx, sy = self.subsampling
        return -(-width // (1 << sx)), -(-height // (1 << sy))


@dataclass
class FrameBatch:
    """N frames of one size: luma (N, H, W) and chroma (N, 2, Hc, Wc) planes."""

    luma: np.ndarray
    chroma: np.ndarray
    pts: list[int]
    fmt: PlaneFormat

    def __post_init__(self) -> None:
        n = self.luma.shape[0]
        if self.luma.ndim != 3 or self.chroma.ndim != 4 or self.chroma.shape[:2] != (n, 2):
            raise ValueError(f"bad plane shapes: luma {self.luma.shape}, chroma {self.chroma.shape}")
        if len(self.pts) != n:
            raise ValueError(f"{len(self.pts)} timestamps for {n} frames")

    def __len__(self) -> int:
        return self.luma.shape[0]

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) of the luma plane."""
        return self.luma.shape[2], self.luma.shape[1]


@dataclass(frozen=True)
class ColorTags:
    """FFmpeg's colour description codes (AVColorPrimaries, AVColorTransferCharacteristic,
    AVColorSpace, AVColorRange), as a stream is tagged."""

    primaries: int
    transfer: int
    matrix: int
    range: int  # 0 unspecified, 1 limited (MPEG), 2 full (JPEG)


@dataclass(frozen=True)
class StreamFormat:
    """A video stream as the decoder read it, decided once at its first frame: the
    layout its planes are processed in, the colour tags an encoder writes back
    (None: leave them unset) and the display rotation in degrees."""

    plane: PlaneFormat
    color: ColorTags | None = None
    rotation: int = 0
