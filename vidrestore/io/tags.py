"""Stream tags as muxers expect them."""

from __future__ import annotations

import av


def stream_tags(stream: av.stream.Stream) -> dict[str, str]:
    """A stream's tags, with the MP4/MOV track title under the key every muxer reads.

    The mov demuxer reports a track's title as "name", but muxers (mov's own
    included) write the title from "title" only, so it would be lost on the way.
    """
    tags = dict(stream.metadata)
    if "name" in tags and "title" not in tags and "mov" in stream.container.format.name.split(","):
        tags["title"] = tags.pop("name")
    return tags
