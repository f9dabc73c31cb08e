import logging

import pytest
import torch

from vidrestore.backends.tiling import TiledBackend, is_out_of_memory, run_at_least, run_tiled
from vidrestore.backends.torch_backend import TorchBackend
from vidrestore.errors import BackendUnavailable, UsageError
from vidrestore.models import load

STEP = 1 / 255  # one 8-bit level: a seam below it cannot show in the encoded video


def frames(n: int, c: int, h: int, w: int) -> torch.Tensor:
    """Gradients and ripples plus mild noise: image-like, with detail at every scale."""
    y = torch.linspace(0, 1, h).view(h, 1)
    x = torch.linspace(0, 1, w).view(1, w)
    base = 0.2 + 0.3 * y + 0.3 * x + 0.1 * torch.sin(17 * x + 9 * y)
    noise = torch.rand(n, c, h, w, generator=torch.Generator().manual_seed(0))
    return (base + 0.08 * noise).clamp(0, 1)


@pytest.fixture(scope="module")
def espcn() -> TorchBackend:
    return TorchBackend(load("espcn", scale=3), device="cpu")


@pytest.fixture(scope="module")
def bicubic() -> TorchBackend:
    return TorchBackend(load("bicubic", scale=2), device="cpu")


def test_espcn_tiled_matches_whole_frames_at_odd_sizes(espcn):
    x = frames(2, 1, 75, 101)  # 3 x 4 tiles of 25 x 25-26, none dividing evenly
    whole = espcn.run(x)
    tiled = run_tiled(espcn.run, x, scale=3, tile=32, overlap=8)
    assert tiled.shape == whole.shape == (2, 1, 225, 303)
    # ESPCN sees 4 pixels around each output pixel (plus 2 for its bicubic skip);
    # the outer half of an 8-pixel overlap is never blended in, so this is exact.
    assert (tiled - whole).abs().max() < STEP
    # Without context the seams are plain to see: the comparison can fail.
    assert (run_tiled(espcn.run, x, scale=3, tile=32, overlap=0) - whole).abs().max() > 10 * STEP


def test_edsr_rgb_tiled_matches_whole_frames():
    edsr = TorchBackend(load("edsr", scale=2), device="cpu")
    x = frames(1, 3, 40, 56)
    whole = edsr.run(x)
    # Measured max differences at tile 24, in 8-bit levels: overlap 4 -> 1.2,
    # 6 -> 0.4, 8 -> 0.16, 16 -> 0.005; on pure noise overlap 8 -> 0.76.
    # EDSR's receptive field is large but fades fast: 8 pixels is enough.
    tiled = run_tiled(edsr.run, x, scale=2, tile=24, overlap=8)
    assert tiled.shape == (1, 3, 80, 112)
    assert (tiled - whole).abs().max() < STEP
    assert (run_tiled(edsr.run, x, scale=2, tile=24, overlap=4) - whole).abs().max() > STEP


def test_overlaps_cross_fade_linearly():
    calls: list[int] = []

    def constant_per_tile(tile: torch.Tensor) -> torch.Tensor:
        calls.append(len(calls))
        return torch.full_like(tile, float(len(calls) - 1))

    out = run_tiled(constant_per_tile, torch.zeros(1, 1, 8, 64), scale=1, tile=32, overlap=8)
    row = out[0, 0, 0]
    assert len(calls) == 2
    assert torch.equal(row[:28], torch.zeros(28)) and torch.equal(row[36:], torch.ones(28))
    # Across the middle half of the overlap band, tile 2's share rises by 1/8 a pixel.
    torch.testing.assert_close(row[28:36], (torch.arange(8) + 0.5) / 8)


def test_frame_within_one_tile_is_one_untouched_call(espcn):
    x = frames(2, 1, 30, 40)
    assert torch.equal(run_tiled(espcn.run, x, scale=3, tile=64, overlap=16), espcn.run(x))
    assert torch.equal(TiledBackend(espcn, scale=3).run(x), espcn.run(x))


class PixelLimited:
    """Bicubic x2 for real, out of memory (a real torch error) above `limit` pixels a frame."""

    name = "limited"
    device = "cpu"

    def __init__(self, limit: int) -> None:
        self.inner = TorchBackend(load("bicubic", scale=2), device="cpu")
        self.limit = limit
        self.failures = 0

    def run(self, batch: torch.Tensor) -> torch.Tensor:
        h, w = batch.shape[-2:]
        if h * w > self.limit:
            self.failures += 1
            raise torch.OutOfMemoryError(f"CUDA out of memory. Tried to allocate {h * w * 4} bytes")
        return self.inner.run(batch)

    run_device = run


def test_out_of_memory_shrinks_the_tile_once_and_keeps_it(caplog):
    x = frames(2, 1, 100, 140)
    limited = PixelLimited(limit=6000)  # whole frames (14000) fail; 64-pixel tiles (66 x 79 at most) fit
    backend = TiledBackend(limited, scale=2, overlap=16)
    with caplog.at_level(logging.WARNING, logger="vidrestore.backends.tiling"):
        out = backend.run(x)
    assert backend.tile == 64  # half of 140, down to a multiple of 8
    assert limited.failures == 1
    assert caplog.messages == ["out of memory on whole 140x100 frames; retrying with 64-pixel tiles"]
    assert torch.equal(out, run_tiled(limited.inner.run, x, scale=2, tile=64, overlap=16))
    assert (out - limited.inner.run(x)).abs().max() < 1e-5

    caplog.clear()
    backend.run(x)
    assert limited.failures == 1 and backend.tile == 64 and not caplog.messages


def test_out_of_memory_even_at_the_smallest_tile_is_one_clear_error(caplog):
    limited = PixelLimited(limit=100)
    backend = TiledBackend(limited, scale=2, tile=128)
    with pytest.raises(BackendUnavailable) as err:
        backend.run(frames(1, 1, 100, 140))
    assert backend.tile == 32
    assert str(err.value).startswith("out of memory on cpu even with --tile 32 on 140x100 frames;")
    assert "\n" not in str(err.value)
    assert caplog.messages == [
        "out of memory with 128-pixel tiles; retrying with 64-pixel tiles",
        "out of memory with 64-pixel tiles; retrying with 32-pixel tiles",
    ]


def test_other_errors_are_not_retried():
    class Broken:
        name, device = "broken", "cpu"

        def run(self, batch: torch.Tensor) -> torch.Tensor:
            raise RuntimeError("Given groups=1, weight of size [64, 3, 3, 3], expected input to have 3 channels")

        run_device = run

    backend = TiledBackend(Broken(), scale=2)
    with pytest.raises(RuntimeError, match="expected input"):
        backend.run(torch.zeros(1, 1, 64, 64))
    assert backend.tile is None


def test_out_of_memory_errors_are_recognised():
    assert is_out_of_memory(torch.OutOfMemoryError("CUDA out of memory."))
    assert is_out_of_memory(RuntimeError("CUDA error: out of memory"))
    assert not is_out_of_memory(RuntimeError("shape mismatch"))
    assert not is_out_of_memory(ValueError("out of memory"))
    ort = pytest.importorskip("onnxruntime.capi.onnxruntime_pybind11_state")
    assert is_out_of_memory(ort.RuntimeException("[ONNXRuntimeError] : 6 : Failed to allocate memory for requested buffer"))


@pytest.mark.parametrize(("tile", "overlap"), [(4, 0), (7, 2), (32, -1), (32, 32), (32, 48)])
def test_unworkable_tile_or_overlap_is_a_usage_error(bicubic, tile, overlap):
    with pytest.raises(UsageError) as err:
        run_tiled(bicubic.run, torch.zeros(1, 1, 64, 64), scale=2, tile=tile, overlap=overlap)
    assert "\n" not in str(err.value)
    with pytest.raises(UsageError):
        TiledBackend(bicubic, scale=2, tile=tile, overlap=overlap)


def test_a_failed_cpu_allocation_is_out_of_memory():
    with pytest.raises(RuntimeError) as err:
        torch.empty(1 << 50, dtype=torch.uint8)  # 1 PiB: the CPU allocator's real refusal
    assert "DefaultCPUAllocator" in str(err.value)
    assert is_out_of_memory(err.value)


@pytest.mark.parametrize("h, w", [(1, 1), (3, 1), (2, 5), (9, 13), (15, 40)])
def test_tiny_frames_are_mirrored_out_and_cut_back_exactly_for_the_resamplers(bicubic, h, w):
    x = frames(2, 1, h, w)
    seen: list[tuple[int, int]] = []

    def run(batch: torch.Tensor) -> torch.Tensor:
        seen.append(tuple(batch.shape[-2:]))
        return bicubic.run(batch)

    out = run_at_least(run, x, 16)
    assert seen == [(h + 16 if h < 16 else h, w + 16 if w < 16 else w)]
    # Symmetric edges are what imresize reads past an edge: the same answer, now from a frame ONNX graphs can take.
    assert out.shape == (2, 1, 2 * h, 2 * w) and (out - bicubic.run(x)).abs().max() < 1e-6


def test_tiled_backend_mirrors_tiny_tiles_too(bicubic):
    sizes: list[tuple[int, int]] = []

    class Recording:
        name, device = "recording", "cpu"

        def run(self, batch: torch.Tensor) -> torch.Tensor:
            sizes.append(tuple(batch.shape[-2:]))
            return bicubic.run(batch)

        run_device = run

    x = frames(1, 1, 20, 24)
    out = TiledBackend(Recording(), scale=2, tile=8, overlap=4).run(x)
    assert min(min(s) for s in sizes) >= 16 and len(sizes) == 9
    assert (out - bicubic.run(x)).abs().max() < 1e-5
