"""`--cluster`: segments on real Ray workers, joined on the driver, identical to one run.

Each test starts its own Ray (a local one, or a two-node `ray.cluster_utils.Cluster`)
in real processes; the commands run as `python -m vidrestore`.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from tests.media import Audio, make_video, remux_timestamps
from tests.runs import assert_one_error
from vidrestore.pipeline.resume import job_folder

ray = pytest.importorskip("ray")
pytestmark = pytest.mark.slow  # a Ray start and its workers' model loads: seconds each

QUICK = ("--x2", "--model", "bicubic", "--codec", "ffv1", "--segment-seconds", "1", "-q")
SLOW = ("--x4", "--model", "srresnet", "--backend", "torch", "--codec", "ffv1", "--segment-seconds", "1", "-q")
OPEN_GOP = {"bf": "3", "g": "12", "keyint_min": "12", "x264-params": "open-gop=1"}


def vidrestore(*args: object, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "vidrestore", *map(str, args)], capture_output=True, text=True, timeout=timeout)


def decoded(path: Path) -> list[tuple[int, np.ndarray]]:
    with av.open(str(path)) as container:
        return [(frame.pts, frame.to_ndarray()) for frame in container.decode(video=0)]


def audio(path: Path) -> list[bytes]:
    with av.open(str(path)) as container:
        if not container.streams.audio:
            return []
        return [bytes(p) for p in container.demux(container.streams.audio[0]) if p.size]


def assert_same(a: Path, b: Path) -> None:
    x, y = decoded(a), decoded(b)
    assert len(x) == len(y) > 0
    assert [p for p, _ in x] == [q for q, _ in y]
    assert all(np.array_equal(f, g) for (_, f), (_, g) in zip(x, y))
    assert audio(a) == audio(b)


@pytest.mark.parametrize("kind", ["open-gop", "variable-rate"])
def test_two_local_workers_write_what_one_run_writes(tmp_path: Path, kind: str) -> None:
    if kind == "open-gop":
        src = make_video(tmp_path / "in.mp4", frames=100, options=OPEN_GOP, audio=[Audio()])
    else:
        src = make_video(tmp_path / "in.mkv", frames=80, time_base=Fraction(1, 1000), options={"g": "10"},
                         pts=[40 * i + (i % 3) * 7 for i in range(80)], audio=[Audio()])
    plain, sharded = tmp_path / "plain.mkv", tmp_path / "sharded.mkv"
    assert vidrestore("upscale", src, *QUICK[:-3], "-q", "-o", plain).returncode == 0
    done = vidrestore("upscale", src, *QUICK[:-1], "--cluster", "local:2", "-o", sharded)
    assert done.returncode == 0, done.stderr
    assert "cluster: 2 workers (1 CPU each)" in done.stderr  # the machine's 2 cores shared out
    assert_same(sharded, plain)
    assert not job_folder(sharded).exists()


def test_a_two_node_cluster_needs_no_shared_files(tmp_path: Path) -> None:
    from ray.cluster_utils import Cluster

    src = make_video(tmp_path / "in.mp4", frames=100, options=OPEN_GOP, audio=[Audio()])
    plain = tmp_path / "plain.mkv"
    assert vidrestore("upscale", src, *QUICK[:-3], "-q", "-o", plain).returncode == 0
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "include_dashboard": False})
    try:
        cluster.add_node(num_cpus=2)
        cluster.wait_for_nodes()
        sharded = tmp_path / "sharded.mkv"
        done = vidrestore("upscale", src, *QUICK[:-1], "--cluster", cluster.address, "-o", sharded)
        assert done.returncode == 0, done.stderr
        assert "cluster: 1 worker (2 CPU each)" in done.stderr  # 3 CPUs in all, one per two cores; 2 on the larger node
    finally:
        cluster.shutdown()
    assert_same(sharded, plain)


def _segment_workers() -> list[int]:
    found = subprocess.run(["pgrep", "-f", "ray::SegmentWorker"], capture_output=True, text=True).stdout.split()
    return [int(pid) for pid in found]


def test_a_killed_worker_costs_its_segment_not_the_job(tmp_path: Path) -> None:
    src = make_video(tmp_path / "in.mp4", size=(32, 24), frames=100, options={"g": "25", "keyint_min": "25"}, audio=[Audio()])
    reference, sharded = tmp_path / "reference.mkv", tmp_path / "sharded.mkv"
    assert vidrestore("upscale", src, *SLOW[:-3], "-q", "-o", reference).returncode == 0
    process = subprocess.Popen([sys.executable, "-m", "vidrestore", "upscale", str(src), *SLOW, "--cluster", "local:2",
                                "-o", str(sharded)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        killed = None
        while time.monotonic() < deadline and killed is None:
            assert process.poll() is None, process.communicate()
            manifest = job_folder(sharded) / "manifest.json"
            workers = _segment_workers()
            if manifest.exists() and workers:
                time.sleep(0.3)  # into a segment
                killed = workers[0]
                os.kill(killed, signal.SIGKILL)
            time.sleep(0.05)
        assert killed is not None, "no worker to kill"
        _, stderr = process.communicate(timeout=240)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, stderr
    assert_same(sharded, reference)


def test_timestamps_that_cannot_travel_are_one_line(tmp_path: Path) -> None:
    ms = Fraction(1, 1000)
    src = make_video(tmp_path / "mpeg4.mkv", codec="mpeg4", options={"bf": "0", "g": "6"}, frames=24, time_base=ms,
                     pts=[40 * i for i in range(24)])
    broken = remux_timestamps(src, tmp_path / "broken.mkv", pts=[0, 80, 40] + [40 * i for i in range(3, 24)],
                              dts=[40 * i - 80 for i in range(24)])
    done = vidrestore("upscale", broken, *QUICK, "--cluster", "local:1",
                      "-o", tmp_path / "out.mkv")
    assert_one_error(done.returncode, done.stderr, contains="run it without --cluster (--resume still works)")


def test_without_ray_the_option_says_how_to_install_it(tmp_path: Path) -> None:
    src = make_video(tmp_path / "in.mp4", frames=10)
    code = "import sys; sys.modules['ray'] = None\nfrom vidrestore.__main__ import main\nsys.argv[0] = 'vidrestore'\nmain()"
    done = subprocess.run([sys.executable, "-c", code, "upscale", str(src), "--x2", "--cluster", "local", "-o",
                           str(tmp_path / "out.mp4")], capture_output=True, text=True, timeout=120)
    assert_one_error(done.returncode, done.stderr, contains="--cluster needs Ray: pip install 'vidrestore[cluster]'")
    assert not (tmp_path / "out.mp4").exists()
