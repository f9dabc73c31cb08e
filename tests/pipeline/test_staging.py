"""Staging: planes to the model's device and back, at once on a CPU, queued on CUDA.

The CUDA tests run the same processors on the GPU (pinned buffers, three
streams, events) and compare with the CPU answer; they skip without a GPU.
"""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest
import torch

from tests.media import make_video, pattern
from vidrestore.backends import open_backend
from vidrestore.models import get_spec
from vidrestore.pipeline.chain import Chain, FilterStage
from vidrestore.frames import FrameBatch, PlaneFormat
from vidrestore.pipeline.processor import RGBModel, SuperResolution, submit
from vidrestore.pipeline.staging import Pending
from vidrestore.frames.codes import pack, to_plane, to_tensor
from vidrestore.models import load


def batch_of(width: int, height: int, pix_fmt: str = "yuv420p", frames: int = 3, first: int = 0) -> FrameBatch:
    planes = [pattern(first + i, width, height, pix_fmt) for i in range(frames)]
    luma = np.stack([p[0] for p in planes])
    chroma = np.stack([np.stack(p[1:]) for p in planes])
    return FrameBatch(luma, chroma, list(range(first, first + frames)), PlaneFormat(pix_fmt, False, chroma_left=True))


def test_ten_bit_codes_cross_as_int16_and_come_back_unchanged():
    plane = np.array([[0, 64, 512, 940, 1023]], dtype=np.uint16)
    t = to_tensor(plane, PlaneFormat("yuv420p10le", False, chroma_left=True))
    assert t.dtype == torch.int16 and t.data_ptr() == plane.ctypes.data  # a view, not a copy
    back = to_plane(t)
    assert back.dtype == np.uint16 and np.array_equal(back, plane)


def test_sixteen_bit_codes_cross_as_int32_and_come_back_unchanged():
    plane = np.array([[0, 1, 32767, 32768, 65535]], dtype=np.uint16)
    fmt = PlaneFormat("yuv444p16le", True, chroma_left=False)
    t = to_tensor(plane, fmt)
    assert t.dtype == torch.int32 and t.tolist() == [[0, 1, 32767, 32768, 65535]]  # none turned negative
    assert pack(t.float(), fmt).dtype == torch.int32
    back = to_plane(t)
    assert back.dtype == np.uint16 and np.array_equal(back, plane)


def test_pack_rounds_and_clamps_to_the_format():
    eight = PlaneFormat("yuv420p", False, True)
    ten = PlaneFormat("yuv420p10le", False, True)
    values = torch.tensor([-3.0, 0.4, 0.6, 254.5, 300.0, 1100.0])
    assert pack(values.clone(), eight).tolist() == [0, 0, 1, 254, 255, 255]  # 254.5 rounds to even
    assert pack(values.clone(), ten).dtype == torch.int16
    assert pack(values.clone(), ten).tolist() == [0, 0, 1, 254, 300, 1023]


def test_a_model_stage_on_the_cpu_submits_finished_batches(bicubic):
    stage = bicubic(2)
    src = batch_of(40, 30)
    pending = submit(stage, src)
    assert isinstance(pending, Pending) and len(pending) == 3
    out = pending.result()
    pending.release()
    again = stage.process(src)
    assert np.array_equal(out.luma, again.luma) and np.array_equal(out.chroma, again.chroma)
    assert out.size == (80, 60) and out.pts == src.pts


def test_processors_without_submit_are_wrapped():
    from vidrestore.filters import parse_filter

    filters = FilterStage([parse_filter("gamma=0.8")])
    src = batch_of(32, 24)
    assert np.array_equal(submit(filters, src).result().luma, filters.process(src).luma)


def test_a_compiled_model_runs_inside_the_staging():
    """Staging works in inference mode; the compiled model traces outside it. The codes match
    eager's (within one: fused kernels may sum in another order)."""
    src = batch_of(64, 48)
    eager = SuperResolution(open_backend("torch", load("espcn", scale=2), "cpu"), 2).process(src)
    compiled = SuperResolution(open_backend("torch-compile", load("espcn", scale=2), "cpu"), 2)
    _close(compiled.process(src), eager, codes=1)


# -- CUDA ---------------------------------------------------------------------------------------


def _pair(name: str, scale: int, device: str):
    model = load(name, scale=scale, untrained_ok=True)
    backend = open_backend("torch", model, device)
    return SuperResolution(backend, scale) if get_spec(name).color == "y" else RGBModel(backend, scale)


def _close(a: FrameBatch, b: FrameBatch, codes: int) -> None:
    assert a.luma.dtype == b.luma.dtype and a.luma.shape == b.luma.shape and a.chroma.shape == b.chroma.shape
    assert np.abs(a.luma.astype(np.int32) - b.luma).max() <= codes
    assert np.abs(a.chroma.astype(np.int32) - b.chroma).max() <= codes


@pytest.mark.needs_cuda
@pytest.mark.parametrize(("name", "scale", "pix_fmt"), [("espcn", 3, "yuv420p"), ("espcn", 2, "yuv420p10le"),
                                                        ("edsr", 2, "yuv420p"), ("srn", 1, "yuv422p")])
def test_cuda_staging_matches_the_cpu(name: str, scale: int, pix_fmt: str):
    src = batch_of(96, 64, pix_fmt)
    cpu = _pair(name, scale, "cpu").process(src)
    gpu = _pair(name, scale, "cuda").process(src)
    _close(gpu, cpu, codes=1)  # fp32 on both; TF32/cuDNN summation order moves a few values across a rounding edge


@pytest.mark.needs_cuda
def test_cuda_batches_queue_without_waiting_and_reuse_their_pinned_buffers():
    stage = _pair("espcn", 2, "cuda")
    sources = [batch_of(128, 72, first=4 * i, frames=4) for i in range(8)]
    pending = [stage.submit(b) for b in sources]  # queued; nothing has been waited for yet
    cpu = _pair("espcn", 2, "cpu")
    for p, src in zip(pending, sources):
        _close(p.result(), cpu.process(src), codes=1)
        assert p.result().pts == src.pts
        p.release()
    outputs = stage.staging._outputs._free
    buffers = sum(len(v) for v in outputs.values())
    assert buffers == 16  # luma and chroma of the 8 batches in flight, all back in the pool
    for src in sources:  # a steady stream with prompt releases takes no new buffers
        p = stage.submit(src)
        p.result()
        p.release()
    assert sum(len(v) for v in outputs.values()) == buffers


@pytest.mark.needs_cuda
def test_a_chain_runs_every_stage_on_the_gpu():
    from vidrestore.filters import parse_filter

    src = batch_of(64, 48)
    stages = lambda device: Chain([_pair("srn", 1, device), _pair("espcn", 2, device), FilterStage([parse_filter("gamma=0.9")])])  # noqa: E731
    gpu_chain = stages("cuda")
    assert gpu_chain.staging.cuda
    _close(gpu_chain.process(src), stages("cpu").process(src), codes=2)


@pytest.mark.needs_cuda
def test_the_pipeline_on_cuda_writes_what_the_cpu_writes(tmp_path: Path):
    from vidrestore.io.encode import EncodeOptions
    from vidrestore.io.probe import probe
    from vidrestore.pipeline.progress import Progress
    from vidrestore.pipeline.runner import RunOptions, Stop, run_video

    src = make_video(tmp_path / "in.mp4", size=(96, 64), frames=23)
    info = probe(src)
    frames = {}
    for device in ("cpu", "cuda"):
        out = tmp_path / f"{device}.mkv"
        report = run_video(info, out, _pair("espcn", 2, device), EncodeOptions(codec="ffv1"), RunOptions(batch=4),
                           stop=Stop(), progress=Progress(0, enabled=False))
        assert report.frames_out == 23
        assert report.stages.frames["process"] == 23
        with av.open(str(out)) as container:
            frames[device] = [f.to_ndarray(format="yuv420p") for f in container.decode(video=0)]
    assert len(frames["cuda"]) == 23
    worst = max(np.abs(a.astype(np.int32) - b).max() for a, b in zip(frames["cuda"], frames["cpu"]))
    assert worst <= 1


@pytest.mark.needs_cuda
@pytest.mark.parametrize("precision", ["fp32", "fp16"])
def test_torch_compile_with_cuda_graphs_matches_eager(precision: str):
    model = load("espcn", scale=3)
    eager = open_backend("torch", model, "cuda", precision)
    graphs = open_backend("torch-compile", load("espcn", scale=3), "cuda", precision)
    x = torch.rand(4, 1, 64, 96, generator=torch.Generator().manual_seed(1))
    bound = 1e-3 if precision == "fp32" else 2e-2
    first = graphs.run(x)
    second = graphs.run(x.flip(0))  # the next replay must not overwrite the first result
    assert float((first - eager.run(x)).abs().max()) < bound
    assert float((second - eager.run(x.flip(0))).abs().max()) < bound
    assert float((graphs.run(x[:3]) - eager.run(x[:3])).abs().max()) < bound
