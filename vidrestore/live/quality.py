"""How much a rung improves a camera picture: the measurement behind the ladder's order.

A photo stands in for the scene. The camera frame is the photo made `scale`
times smaller (antialiased MATLAB bicubic, 8-bit R'G'B', as the SR papers make
their LR images) and converted to the live format (limited-range BT.601
4:2:0, by swscale, as a camera's frame arrives); the rung's output luma is
compared with the full photo's luma converted the same way. PSNR-Y, in
8-bit codes, `scale` pixels cropped at each border as the papers do.
"""

from __future__ import annotations

from dataclasses import dataclass

import av
import numpy as np
import torch

from vidrestore.live.frames import Frame, from_av
from vidrestore.metrics import psnr


@dataclass(frozen=True)
class Scene:
    """One photo as a camera would see it: the `frame` the rung takes, the full-size `luma` it should give."""

    name: str
    frame: Frame
    luma: np.ndarray  # (H * scale, W * scale) uint8
    scale: int


def _live(rgb: np.ndarray) -> Frame:
    return from_av(av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24"), t=0.0, index=0)


def scene(name: str, rgb: np.ndarray, scale: int) -> Scene:
    """`rgb` (H, W, 3) uint8, cropped to a multiple of 2 * `scale`, as the camera frame and the reference."""
    from vidrestore.eval.photos import make_lr

    step = 2 * scale  # the frame's sides stay even (4:2:0)
    h, w = (rgb.shape[0] // step) * step, (rgb.shape[1] // step) * step
    hr = np.array(rgb[:h, :w, :3])  # a copy: torch wants a writable array
    lr = make_lr(torch.from_numpy(hr).permute(2, 0, 1).float() / 255, scale)
    lr_rgb = (lr.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
    return Scene(name, _live(lr_rgb), _live(hr).luma, scale)


def psnr_y(rung, shot: Scene) -> float:
    """The rung's PSNR-Y (dB) on `shot`."""
    w, h = shot.frame.size
    luma, _ = rung.run(shot.frame, (w, h), (w * shot.scale, h * shot.scale))
    c = shot.scale
    return psnr(torch.from_numpy(luma[c:-c, c:-c]), torch.from_numpy(shot.luma[c:-c, c:-c]), data_range=255.0)


def ladder_gains(rungs: list, shots: list[Scene]) -> dict[str, float]:
    """Each rung's mean PSNR-Y gain over the ladder's last rung (bicubic) on `shots`, dearest first."""
    scores = {rung.label: float(np.mean([psnr_y(rung, s) for s in shots])) for rung in rungs}
    base = scores[rungs[-1].label]
    return {label: score - base for label, score in scores.items()}
