"""A job is a small frozen, picklable description: any process can rebuild and run it."""

from __future__ import annotations

import dataclasses
import multiprocessing
import pickle
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from tests.media import Audio, make_video
from vidrestore.cli import cli
from vidrestore.io.encode import EncodeOptions
from vidrestore.pipeline.build import ModelStep, ProcessingSpec, Runtime
from vidrestore.pipeline.jobs import plan_jobs, run_job


def _spec() -> ProcessingSpec:
    return ProcessingSpec(models=(ModelStep("espcn", "sr", 2),), filters=("sharpen=0.5",), runtime=Runtime("cpu", "torch"))


def _planes(path: Path) -> list[np.ndarray]:
    import av

    with av.open(str(path)) as container:
        return [frame.to_ndarray() for frame in container.decode(video=0)]


def _run_pickled(data: bytes) -> None:
    run_job(pickle.loads(data))


def test_a_job_is_frozen_and_survives_pickling(tmp_path: Path) -> None:
    src = make_video(tmp_path / "in.mp4", frames=4)
    (job,) = plan_jobs(src, tmp_path / "out.mp4", "x2", _spec(), EncodeOptions(preset="ultrafast"), overwrite=False)
    assert pickle.loads(pickle.dumps(job)) == job
    with pytest.raises(dataclasses.FrozenInstanceError):
        job.dst = tmp_path / "elsewhere.mp4"  # type: ignore[misc]


@pytest.mark.slow
def test_a_job_rebuilt_in_another_process_writes_what_the_command_writes(tmp_path: Path) -> None:
    src = make_video(tmp_path / "in.mp4", frames=6, audio=[Audio()])
    by_command = tmp_path / "command.mp4"
    result = CliRunner().invoke(cli, ["upscale", str(src), "--x2", "--model", "espcn", "--device", "cpu", "--backend", "torch",
                                      "--preset", "ultrafast", "-q", "-o", str(by_command)])
    assert result.exit_code == 0, result.output
    spec = ProcessingSpec(models=(ModelStep("espcn", "sr", 2),), runtime=Runtime("cpu", "torch"))
    (job,) = plan_jobs(src, tmp_path / "worker.mp4", "x2", spec, EncodeOptions(preset="ultrafast"), overwrite=False)
    worker = multiprocessing.get_context("spawn").Process(target=_run_pickled, args=(pickle.dumps(job),))
    worker.start()
    worker.join(timeout=120)
    if worker.is_alive():
        worker.kill()
    assert worker.exitcode == 0
    ours, theirs = _planes(job.dst), _planes(by_command)
    assert len(ours) == len(theirs) == 6
    assert all(np.array_equal(a, b) for a, b in zip(ours, theirs))


def test_a_job_runs_its_time_range_only(tmp_path: Path) -> None:
    src = make_video(tmp_path / "in.mp4", frames=25, rate=25)
    (job,) = plan_jobs(src, tmp_path / "part.mp4", "x2", _spec(), EncodeOptions(preset="ultrafast"), overwrite=False)
    run_job(dataclasses.replace(job, start=0.4, end=0.8))
    assert len(_planes(job.dst)) == 10
