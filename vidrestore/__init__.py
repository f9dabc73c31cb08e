"""vidrestore: sharper videos, images and camera streams.

Decode with PyAV, run super-resolution or restoration models, re-encode and
re-mux with the original audio and subtitles.
"""

__version__ = "0.1.0"
