"""Moving frame batches between the host and the device a model runs on.

On a CPU, staging is free: planes become tensors without a copy and come
back the same way. There a batch goes through the step in chunks of whole
frames of at most `CPU_CHUNK_PIXELS` input pixels (at least one frame): a
model's activations, and the float frames around it, grow with the pixels of
one call, and a CPU gains nothing from larger calls once frames are this big
(ESPCN on 2 cores: one 640x360 frame a call is as fast as four, and needs a
quarter of the memory). The codes that come back are those of the whole batch
in one call: every step treats its frames independently.

On CUDA batches stay whole (a GPU wants them large), and one batch's trip
has three legs, each on its own stream and ordered only by events, so that
nothing waits on the host:

    upload (H2D stream)   numpy planes -> pinned host buffer -> device
    compute (own stream)  integer codes -> float -> model -> codes (uint8/int16)
    download (D2H stream) device -> pinned host buffer; an event marks it done

`submit` queues all three and returns at once with a `Pending`; the encoder
thread calls `Pending.result()`, which waits for that batch's download only.
While the GPU runs batch n, the copy engines carry batch n+1 up and batch
n-1 down. Pinned buffers come from small free lists: an input buffer is
reused once its upload has finished, an output buffer once the encoder has
released it, so host memory stays bounded by the queue depth.

Codes travel as the narrowest integers that hold them (uint8, or int16 for
10-bit: the same bits as the decoder's uint16 below 2^15; int32 for 16-bit
images), so the copies move
a quarter of the bytes float32 frames would, and the colour conversions run
on the device.
"""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Callable

import torch

from vidrestore.frames import FrameBatch, PlaneFormat
from vidrestore.frames.codes import to_plane, to_tensor


class Pending:
    """One submitted batch: `result()` waits for its planes on the host."""

    def __init__(self, batch: FrameBatch, ready: Callable[[], None] | None = None,
                 release: Callable[[], None] | None = None) -> None:
        self._batch = batch
        self._ready = ready
        self._release = release

    def __len__(self) -> int:
        return len(self._batch)

    def result(self) -> FrameBatch:
        if self._ready is not None:
            self._ready()
            self._ready = None
        return self._batch

    def release(self) -> None:
        """The planes are no longer read: their pinned buffers may be reused."""
        if self._release is not None:
            self._release()
            self._release = None

    def detach(self) -> FrameBatch:
        """The finished batch in memory of its own, the pinned buffers given back."""
        batch = self.result()
        if self._release is not None:
            batch = FrameBatch(batch.luma.copy(), batch.chroma.copy(), batch.pts, batch.fmt)
            self.release()
        return batch


Step = Callable[[torch.Tensor, torch.Tensor, PlaneFormat], tuple[torch.Tensor, torch.Tensor]]
"""step(luma (N, H, W), chroma (N, 2, Hc, Wc), fmt) -> the same for N output frames, each frame
computed from its own input frame only (so a batch may be cut into chunks)."""

# Input pixels per step call on a CPU: a 640x360 frame is one call, a 320x180 one two
# frames, 160x90 nine (small frames still share a call: there the call's overhead shows).
CPU_CHUNK_PIXELS = 1 << 17


def frames_per_chunk(height: int, width: int, pixels: int | None = CPU_CHUNK_PIXELS) -> int | None:
    """Frames of height x width per call within `pixels` (at least one); None: no limit."""
    return None if pixels is None else max(1, pixels // max(height * width, 1))


def run_chunked(step: Step, luma: torch.Tensor, chroma: torch.Tensor, fmt: PlaneFormat,
                frames: int | None) -> tuple[torch.Tensor, torch.Tensor]:
    """`step` on at most `frames` frames at a time, the codes gathered into one batch;
    `frames` None or the batch's size or more: one call, as it is."""
    n = luma.shape[0]
    if frames is None or frames >= n:
        return step(luma, chroma, fmt)
    out_luma = out_chroma = None
    for i in range(0, n, frames):
        y, c = step(luma[i : i + frames], chroma[i : i + frames], fmt)
        if out_luma is None:
            out_luma, out_chroma = y.new_empty((n, *y.shape[1:])), c.new_empty((n, *c.shape[1:]))
        out_luma[i : i + len(y)] = y
        out_chroma[i : i + len(c)] = c
    assert out_luma is not None and out_chroma is not None
    return out_luma, out_chroma


class Staging:
    """Runs `step(luma, chroma, fmt) -> (luma, chroma)` on `device`, codes in, codes out;
    on a CPU in chunks of at most `chunk_pixels` input pixels (None: whole batches)."""

    def __init__(self, device: str | torch.device, chunk_pixels: int | None = CPU_CHUNK_PIXELS) -> None:
        self.device = torch.device(device)
        self.cuda = self.device.type == "cuda"
        self.chunk_pixels = chunk_pixels
        if self.cuda:
            self._up = torch.cuda.Stream(self.device)
            self._compute = torch.cuda.Stream(self.device)
            self._down = torch.cuda.Stream(self.device)
            self._inputs = _PinnedPool()
            self._outputs = _PinnedPool()

    def submit(self, batch: FrameBatch, step: Step) -> Pending:
        if not self.cuda:
            frames = frames_per_chunk(*batch.luma.shape[-2:], self.chunk_pixels)
            with torch.inference_mode():
                luma, chroma = run_chunked(step, to_tensor(batch.luma, batch.fmt), to_tensor(batch.chroma, batch.fmt),
                                           batch.fmt, frames)
            return Pending(FrameBatch(to_plane(luma), to_plane(chroma), batch.pts, batch.fmt))
        return self._submit_cuda(batch, step)

    def _submit_cuda(self, batch: FrameBatch, step: Step) -> Pending:
        uploaded = torch.cuda.Event()
        with torch.cuda.stream(self._up):
            planes = []
            for plane in (batch.luma, batch.chroma):
                codes = to_tensor(plane, batch.fmt)
                host = self._inputs.take(plane.shape, codes.dtype)
                host.copy_(codes)  # host memcpy into page-locked memory
                planes.append((host, host.to(self.device, non_blocking=True)))
            uploaded.record(self._up)
        for host, _ in planes:
            self._inputs.give(host, uploaded)  # reusable once the upload has read it
        self._compute.wait_event(uploaded)
        computed = torch.cuda.Event()
        with torch.cuda.stream(self._compute), torch.inference_mode():
            for _, device in planes:
                device.record_stream(self._compute)  # allocated on the upload stream, read here
            luma, chroma = step(planes[0][1], planes[1][1], batch.fmt)
            computed.record(self._compute)
        self._down.wait_event(computed)
        downloaded = torch.cuda.Event()
        outputs = []
        with torch.cuda.stream(self._down):
            for codes in (luma, chroma):
                codes.record_stream(self._down)
                host = self._outputs.take(tuple(codes.shape), codes.dtype)
                host.copy_(codes, non_blocking=True)
                outputs.append(host)
            downloaded.record(self._down)

        def release() -> None:
            for host in outputs:
                self._outputs.give(host)

        out = FrameBatch(to_plane(outputs[0]), to_plane(outputs[1]), batch.pts, batch.fmt)
        return Pending(out, ready=downloaded.synchronize, release=release)


class _PinnedPool:
    """Page-locked host buffers by (shape, dtype), each reusable once an optional
    event has completed. Thread-safe: the encoder thread gives output buffers back."""

    def __init__(self) -> None:
        self._free: dict[tuple, list[tuple[torch.Tensor, torch.cuda.Event | None]]] = defaultdict(list)
        self._lock = threading.Lock()

    def take(self, shape: tuple[int, ...], dtype: torch.dtype) -> torch.Tensor:
        with self._lock:
            free = self._free[(tuple(shape), dtype)]
            buffer, event = free.pop(0) if free else (None, None)
        if buffer is None:
            return torch.empty(shape, dtype=dtype, pin_memory=True)
        if event is not None:
            event.synchronize()
        return buffer

    def give(self, buffer: torch.Tensor, event: torch.cuda.Event | None = None) -> None:
        with self._lock:
            self._free[(tuple(buffer.shape), buffer.dtype)].append((buffer, event))
