#!/usr/bin/env python
"""Generate ``samples/sample.mp4``, the short clip used by the README's first command.

The clip is a 4 second, 25 fps, 480x270 H.264 (yuv420p, BT.709) video with a
48 kHz stereo AAC soundtrack.  The pictures are a slow Ken Burns pan/zoom over
two public-domain / CC0 photographs that ship inside scikit-image
(``skimage.data.coffee`` and ``skimage.data.rocket``), joined by a crossfade.
The audio is a synthesized chord plus a small bell-like melody.

Everything is deterministic: no randomness, a single-threaded encoder and
bit-exact muxing, so re-running the script reproduces the same file with the
same PyAV/FFmpeg build.

Usage (from the repository root)::

    .venv/bin/python samples/make_sample.py            # writes samples/sample.mp4
    .venv/bin/python samples/make_sample.py -o out.mp4
"""

from __future__ import annotations

import argparse
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from PIL import Image
from skimage import data as skdata

# --------------------------------------------------------------------------
# Clip parameters
# --------------------------------------------------------------------------
WIDTH, HEIGHT = 480, 270  # 16:9, even; x3 -> 1440x810
FPS = 25
N_FRAMES = 100  # 4.0 s
DURATION = N_FRAMES / FPS
CRF = 21
SAMPLE_RATE = 48_000
AUDIO_BITRATE = 128_000
AUDIO_FRAME = 1024  # AAC frame size

# Scene timing (seconds). Scene A is visible on [0, XFADE_END], scene B on
# [XFADE_START, DURATION]; in between they crossfade.
XFADE_START, XFADE_END = 1.8, 2.4

# BT.709 tags (values from FFmpeg's AVColorPrimaries / AVColorTransferCharacteristic /
# AVColorSpace / AVColorRange enums).
AVCOL_PRI_BT709 = 1
AVCOL_TRC_BT709 = 1
AVCOL_SPC_BT709 = 1
AVCOL_RANGE_MPEG = 1  # limited ("tv") range


# --------------------------------------------------------------------------
# Pictures
# --------------------------------------------------------------------------
def smoothstep(x: float) -> float:
    """Ease-in/ease-out on [0, 1] (C1 continuous, so the camera starts and stops gently)."""
    x = min(max(x, 0.0), 1.0)
    return x * x * (3.0 - 2.0 * x)


def lerp_box(b0, b1, s):
    """Interpolate a crop box given as (centre_x, centre_y, width); height follows 16:9."""
    cx = b0[0] + (b1[0] - b0[0]) * s
    cy = b0[1] + (b1[1] - b0[1]) * s
    # Interpolate the zoom geometrically so the zoom speed looks uniform.
    w = b0[2] * (b1[2] / b0[2]) ** s
    h = w * HEIGHT / WIDTH
    return (cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2)


class KenBurns:
    """A slow pan/zoom over one still image, sampled with sub-pixel float crop boxes."""

    def __init__(self, image: np.ndarray, start, end, t0: float, t1: float):
        self.image = Image.fromarray(image)
        self.start, self.end = start, end
        self.t0, self.t1 = t0, t1
        w, h = self.image.size
        for box in (lerp_box(start, end, 0.0), lerp_box(start, end, 1.0)):
            assert box[0] >= 0 and box[1] >= 0 and box[2] <= w and box[3] <= h, box

    def render(self, t: float) -> np.ndarray:
        s = smoothstep((t - self.t0) / (self.t1 - self.t0))
        box = lerp_box(self.start, self.end, s)
        # PIL accepts a float box: the Lanczos filter is evaluated at sub-pixel
        # positions, so the motion is smooth rather than stepping by whole pixels.
        frame = self.image.resize((WIDTH, HEIGHT), Image.LANCZOS, box=box, reducing_gap=None)
        return np.asarray(frame, dtype=np.float32)


def build_scenes():
    # coffee: 600x400. Start on the whole table, drift in towards the cup and spoon.
    coffee = KenBurns(
        skdata.coffee(),
        start=(300.0, 200.0, 600.0),
        end=(292.0, 180.0, 500.0),
        t0=0.0,
        t1=XFADE_END,
    )
    # rocket: 640x427. Start wide on the launch pad, tilt up and push in on the rocket.
    rocket = KenBurns(
        skdata.rocket(),
        start=(320.0, 240.0, 632.0),
        end=(322.0, 170.0, 528.0),
        t0=XFADE_START,
        t1=DURATION,
    )
    return coffee, rocket


def render_rgb(scenes, t: float) -> np.ndarray:
    a, b = scenes
    w = smoothstep((t - XFADE_START) / (XFADE_END - XFADE_START))
    if w <= 0.0:
        return a.render(t)
    if w >= 1.0:
        return b.render(t)
    return (1.0 - w) * a.render(t) + w * b.render(t)


def rgb_to_yuv420p_bt709(rgb: np.ndarray):
    """Float RGB [0, 255] (H, W, 3) -> limited-range BT.709 Y, U, V uint8 planes.

    Chroma is subsampled with H.264's default (left / "MPEG-2") siting:
    horizontally a [1, 2, 1]/4 filter centred on even columns, vertically the
    average of each pair of rows.
    """
    x = rgb / 255.0
    r, g, b = x[..., 0], x[..., 1], x[..., 2]
    kr, kb = 0.2126, 0.0722
    kg = 1.0 - kr - kb
    y = kr * r + kg * g + kb * b
    pb = (b - y) / (2.0 * (1.0 - kb))
    pr = (r - y) / (2.0 * (1.0 - kr))

    def sub(c):
        c = 0.5 * (c[0::2] + c[1::2])  # vertical: average row pairs
        left = np.concatenate([c[:, :1], c[:, 1:-1:2]], axis=1)  # column 2k-1 (edge-clamped)
        centre = c[:, 0::2]
        right = c[:, 1::2]
        return 0.25 * left + 0.5 * centre + 0.25 * right

    def q(v):
        return np.clip(np.rint(v), 0, 255).astype(np.uint8)

    Y = q(16.0 + 219.0 * y)
    U = q(128.0 + 224.0 * sub(pb))
    V = q(128.0 + 224.0 * sub(pr))
    return Y, U, V


def make_video_frame(rgb: np.ndarray, index: int) -> av.VideoFrame:
    Y, U, V = rgb_to_yuv420p_bt709(rgb)
    frame = av.VideoFrame(WIDTH, HEIGHT, "yuv420p")
    for plane, arr in zip(frame.planes, (Y, U, V)):
        h, w = arr.shape
        buf = np.zeros((h, plane.line_size), dtype=np.uint8)
        buf[:, :w] = arr
        plane.update(buf)
    frame.pts = index
    frame.time_base = Fraction(1, FPS)
    frame.color_primaries = AVCOL_PRI_BT709
    frame.color_trc = AVCOL_TRC_BT709
    frame.colorspace = AVCOL_SPC_BT709
    frame.color_range = AVCOL_RANGE_MPEG
    return frame


# --------------------------------------------------------------------------
# Sound
# --------------------------------------------------------------------------
def midi_hz(note: float) -> float:
    return 440.0 * 2.0 ** ((note - 69) / 12.0)


def synth_audio() -> np.ndarray:
    """A soft Cmaj9 pad under a bell-like arpeggio melody, stereo float32 (2, N)."""
    n = int(round(DURATION * SAMPLE_RATE))
    t = np.arange(n, dtype=np.float64) / SAMPLE_RATE
    left = np.zeros(n)
    right = np.zeros(n)

    # Pad: C3 G3 E4 B4 D5, each with a few decaying harmonics and a slow
    # tremolo; notes panned across the stereo field.
    pad = [(48, -0.5), (55, 0.3), (64, -0.2), (71, 0.5), (74, 0.0)]
    for i, (note, pan) in enumerate(pad):
        f = midi_hz(note)
        tone = np.zeros(n)
        for k, amp in ((1, 1.0), (2, 0.35), (3, 0.18), (4, 0.08), (5, 0.04)):
            # slight detune per harmonic gives a gentle chorus
            tone += amp * np.sin(2 * np.pi * f * k * (1.0 + 0.0007 * (i - 2)) * t + 0.7 * i * k)
        tone *= 1.0 + 0.15 * np.sin(2 * np.pi * (0.9 + 0.2 * i) * t)
        left += 0.09 * tone * np.sqrt(0.5 * (1 - pan))
        right += 0.09 * tone * np.sqrt(0.5 * (1 + pan))

    # Melody: eighth notes at 120 bpm (0.25 s), a rising-falling arpeggio, bell
    # timbre (inharmonic partials, exponential decay).
    melody = [72, 76, 79, 83, 86, 83, 79, 76, 74, 77, 81, 84, 88, 84, 81, 79]
    step = DURATION / len(melody)
    for j, note in enumerate(melody):
        start = j * step
        m = t >= start
        tt = t[m] - start
        f = midi_hz(note)
        bell = np.zeros_like(tt)
        for ratio, amp, decay in ((1.0, 1.0, 3.0), (2.0, 0.45, 5.0), (3.01, 0.2, 8.0), (4.2, 0.1, 12.0)):
            bell += amp * np.sin(2 * np.pi * f * ratio * tt) * np.exp(-decay * tt)
        bell *= np.minimum(tt / 0.004, 1.0)  # 4 ms attack to avoid clicks
        pan = 0.6 * np.sin(j * 0.8)
        left[m] += 0.16 * bell * np.sqrt(0.5 * (1 - pan))
        right[m] += 0.16 * bell * np.sqrt(0.5 * (1 + pan))

    # Fade in 0.3 s, fade out 0.6 s (raised-cosine), normalise to -3 dBFS.
    env = np.ones(n)
    fi, fo = int(0.3 * SAMPLE_RATE), int(0.6 * SAMPLE_RATE)
    env[:fi] = 0.5 - 0.5 * np.cos(np.pi * np.arange(fi) / fi)
    env[n - fo:] = 0.5 + 0.5 * np.cos(np.pi * np.arange(fo) / fo)
    stereo = np.stack([left, right]) * env
    stereo *= 10 ** (-3 / 20) / np.max(np.abs(stereo))
    return stereo.astype(np.float32)


# --------------------------------------------------------------------------
# Muxing
# --------------------------------------------------------------------------
def write_clip(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    scenes = build_scenes()
    audio = synth_audio()

    # bitexact: no library version strings / timestamps in the container.
    container = av.open(str(path), mode="w", format="mp4",
                        options={"movflags": "+faststart", "fflags": "+bitexact"})

    vstream = container.add_stream("libx264", rate=FPS)
    vstream.width, vstream.height = WIDTH, HEIGHT
    vstream.pix_fmt = "yuv420p"
    vcc = vstream.codec_context
    vcc.color_primaries = AVCOL_PRI_BT709
    vcc.color_trc = AVCOL_TRC_BT709
    vcc.colorspace = AVCOL_SPC_BT709
    vcc.color_range = AVCOL_RANGE_MPEG
    vcc.thread_count = 1  # single-threaded x264 => deterministic output
    vstream.options = {"crf": str(CRF), "preset": "slow", "profile": "high",
                       "g": str(2 * FPS), "threads": "1"}

    astream = container.add_stream("aac", rate=SAMPLE_RATE, layout="stereo")
    astream.bit_rate = AUDIO_BITRATE

    # Interleave roughly in time order.
    n_audio = audio.shape[1]
    audio_pos = 0
    for i in range(N_FRAMES):
        t = i / FPS
        frame = make_video_frame(render_rgb(scenes, t), i)
        for packet in vstream.encode(frame):
            container.mux(packet)
        while audio_pos < n_audio and audio_pos < (i + 1) / FPS * SAMPLE_RATE:
            chunk = np.ascontiguousarray(audio[:, audio_pos:audio_pos + AUDIO_FRAME])
            af = av.AudioFrame.from_ndarray(chunk, format="fltp", layout="stereo")
            af.sample_rate = SAMPLE_RATE
            af.pts = audio_pos
            af.time_base = Fraction(1, SAMPLE_RATE)
            for packet in astream.encode(af):
                container.mux(packet)
            audio_pos += chunk.shape[1]

    for packet in vstream.encode(None):
        container.mux(packet)
    for packet in astream.encode(None):
        container.mux(packet)
    container.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-o", "--output", type=Path,
                        default=Path(__file__).resolve().parent / "sample.mp4")
    args = parser.parse_args()
    write_clip(args.output)
    print(f"wrote {args.output} ({args.output.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
