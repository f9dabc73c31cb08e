"""What the WebRTC page sends, checked before anything uses it: the offer, the before/after
toggle, and its once-a-second reports of what it receives. A message that is not what the
page sends is refused whole (HTTP 400) and changes nothing."""

from __future__ import annotations

import math
import time
from collections import deque
from dataclasses import dataclass
from typing import Any

from vidrestore.live.guard import Refused

MODES = ("before", "after")
CAMERA_SIDE = (16, 8192)  # a camera size the page may announce, per side, in pixels
REPORT_NUMBERS = ("t", "framesDecoded", "framesPerSecond", "frameWidth", "frameHeight", "videoWidth", "videoHeight",
                  "jitterBufferMs")
KEPT_REPORTS = 120  # two minutes of the page's reports, the newest; older ones are only counted


def _bad(message: str) -> Refused:
    return Refused(400, message)


@dataclass(frozen=True)
class Offer:
    sdp: str
    camera: tuple[int, int] | None  # the size the page's camera says it sends (even), if it said


def parse_offer(body: Any) -> Offer:
    """The page's offer: {"type": "offer", "sdp": "v=0...m=video...", "camera": {"width", "height"}?}."""
    if not isinstance(body, dict):
        raise _bad("the offer must be a JSON object with type and sdp")
    if body.get("type") != "offer":
        raise _bad('the offer\'s type must be "offer"')
    sdp = body.get("sdp")
    if not isinstance(sdp, str) or not sdp.startswith("v=0"):
        raise _bad("the offer's sdp must be a session description (v=0 ...)")
    if not any(line.startswith("m=video ") for line in sdp.splitlines()):
        raise _bad("the offer has no video")
    camera = body.get("camera")
    if camera is None:
        return Offer(sdp, None)
    if not isinstance(camera, dict):
        raise _bad("the offer's camera must be an object with width and height")
    width, height = camera.get("width"), camera.get("height")
    if width is None or height is None:  # a browser that does not say: the frames will tell
        return Offer(sdp, None)
    lo, hi = CAMERA_SIDE
    for side in (width, height):
        if isinstance(side, bool) or not isinstance(side, int) or not lo <= side <= hi:
            raise _bad(f"the offer's camera width and height must be whole numbers from {lo} to {hi}")
    return Offer(sdp, (width & ~1, height & ~1))


def parse_mode(body: Any) -> str:
    mode = body.get("mode") if isinstance(body, dict) else None
    if mode not in MODES:
        raise _bad("mode must be before or after")
    return mode


def parse_report(body: Any) -> dict[str, Any]:
    """The fields of a report the stats keep (numbers, and the mode the page showed); others go."""
    if not isinstance(body, dict):
        raise _bad("a report must be a JSON object")
    report: dict[str, Any] = {}
    for key in REPORT_NUMBERS:
        value = body.get(key)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise _bad(f"the report's {key} must be a number")
        report[key] = value
    mode = body.get("mode")
    if mode is not None:
        if mode not in MODES:
            raise _bad("the report's mode must be before or after")
        report["mode"] = mode
    return report


class Reports:
    """The page's reports: how many came, and the newest `keep` (a page reports once a
    second; a flood of reports costs a count, not memory)."""

    def __init__(self, keep: int = KEPT_REPORTS) -> None:
        self.recent: deque[dict[str, Any]] = deque(maxlen=keep)
        self.received = 0

    def add(self, report: dict[str, Any]) -> None:
        report["server_t"] = time.monotonic()
        self.recent.append(report)
        self.received += 1

    @property
    def last(self) -> dict[str, Any] | None:
        return self.recent[-1] if self.recent else None
