"""Frames at the bottom floor: plane layouts, code values, and the Y'CbCr <-> R'G'B'
and chroma maths that io/, pipeline/, live/ and training/ all use.

Nothing here imports another vidrestore package but `ops` (the resampler and
the colour matrices)."""

from vidrestore.frames.format import PLANAR_FORMATS, ColorTags, FrameBatch, PlaneFormat, StreamFormat

__all__ = ["PLANAR_FORMATS", "ColorTags", "FrameBatch", "PlaneFormat", "StreamFormat"]
