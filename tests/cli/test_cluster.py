"""`--cluster`: segments on real Ray workers, joined on the driver, identical to one run.

Each test starts its own Ray (a local one, or a two-node `ray.cluster_utils.Cluster`)
in real processes; the commands run as `python -m vidrestore`.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import tempfile
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


def backwards_clip(folder: Path, frames: int = 48) -> Path:
    """Presentation times that run backwards against the decode order, as packed-B-frame AVIs
    give them (the decoder repairs them): no muxer takes them as they are."""
    ms = Fraction(1, 1000)
    src = make_video(folder / "mpeg4.mkv", codec="mpeg4", options={"bf": "0", "g": "6"}, frames=frames, time_base=ms,
                     pts=[40 * i for i in range(frames)])
    pts = [40 * i for i in range(frames)]
    for i in range(1, frames - 1, 12):
        pts[i], pts[i + 1] = pts[i + 1], pts[i]
    return remux_timestamps(src, folder / "backwards.mkv", pts=pts, dts=[40 * i - 80 for i in range(frames)])


def test_two_local_workers_write_what_one_run_writes(tmp_path: Path) -> None:
    src = make_video(tmp_path / "in.mp4", frames=100, options=OPEN_GOP, audio=[Audio()])
    plain, sharded = tmp_path / "plain.mkv", tmp_path / "sharded.mkv"
    single = vidrestore("upscale", src, *QUICK[:-3], "-q", "-o", plain)
    assert single.returncode == 0, single.stderr
    done = vidrestore("upscale", src, *QUICK[:-1], "--cluster", "local:2", "-o", sharded)
    assert done.returncode == 0, done.stderr
    assert "cluster: 2 workers (1 CPU each)" in done.stderr  # the machine's 2 cores shared out
    assert_same(sharded, plain)
    assert not job_folder(sharded).exists()


def served_by(stderr: str) -> dict[str, set[str]]:
    """From --debug's lines: which worker wrote each file's segments, and where it kept its files."""
    found: dict[str, set[str]] = {}
    for line in stderr.splitlines():
        match = re.search(r"debug: (\S+): segment \d+, \d+ frames, from (worker .*)$", line)
        if match:
            found.setdefault(match.group(1), set()).add(match.group(2))
    return found


def test_a_two_node_cluster_needs_no_shared_files(tmp_path: Path) -> None:
    from ray.cluster_utils import Cluster

    src = make_video(tmp_path / "in.mp4", frames=100, options=OPEN_GOP, audio=[Audio()])
    plain = tmp_path / "plain.mkv"
    assert vidrestore("upscale", src, *QUICK[:-3], "-q", "-o", plain).returncode == 0
    # Two nodes, each with its own Ray folder and its own temporary folder for the workers it
    # starts (short paths: Ray's sockets live there).
    short = tempfile.TemporaryDirectory(prefix="vr-")
    nodes = {name: Path(short.name) / name for name in ("h", "s")}
    for folder in nodes.values():
        (folder / "tmp").mkdir(parents=True)

    def node(name: str) -> dict:
        return {"num_cpus": 2, "temp_dir": str(nodes[name] / "ray"), "env_vars": {"TMPDIR": str(nodes[name] / "tmp")}}

    cluster = Cluster(initialize_head=True, head_node_args={**node("h"), "include_dashboard": False})
    try:
        cluster.add_node(**node("s"))
        cluster.wait_for_nodes()
        sharded = tmp_path / "sharded.mkv"
        done = vidrestore("upscale", src, *QUICK[:-1], "--cluster", cluster.address, "--debug", "-o", sharded)
        assert done.returncode == 0, done.stderr
        assert "cluster: 2 workers (2 CPU each)" in done.stderr  # 4 CPUs, one worker per two: one on each node
    finally:
        cluster.shutdown()
        short.cleanup()
    assert_same(sharded, plain)
    workers = served_by(done.stderr)["in.mp4"]
    assert len(workers) == 2, done.stderr
    assert {w.rsplit("temporary files in ", 1)[1].rstrip(")") for w in workers} == {str(f / "tmp") for f in nodes.values()}


def test_a_folder_is_spread_over_the_workers(tmp_path: Path) -> None:
    """Every file as one run would write it: a variable frame rate, times that run backwards,
    and short clips of one segment each, which only file-by-file spreading shares out."""
    folder = tmp_path / "clips"
    folder.mkdir()
    make_video(folder / "vfr.mkv", frames=80, time_base=Fraction(1, 1000), options={"g": "10"},
               pts=[40 * i + (i % 3) * 7 for i in range(80)], audio=[Audio()])
    backwards_clip(tmp_path).rename(folder / "backwards.mkv")
    for i in range(2):
        make_video(folder / f"clip{i}.mp4", frames=20 + 5 * i, audio=[Audio()] if i else [])
    names = sorted(p.name for p in folder.iterdir())
    plain, sharded = tmp_path / "plain", tmp_path / "sharded"
    single = vidrestore("upscale", folder, *QUICK[:-3], "-q", "-o", plain)
    assert single.returncode == 0, single.stderr
    done = vidrestore("upscale", folder, *QUICK[:-1], "--cluster", "local:2", "--debug", "-o", sharded)
    assert done.returncode == 0, done.stderr
    written = sorted(p.name for p in sharded.iterdir())
    assert written == sorted(p.name for p in plain.iterdir()) and len(written) == 4
    for name in written:
        assert_same(sharded / name, plain / name)
    served = served_by(done.stderr)
    assert sorted(served) == names
    assert len(set().union(*served.values())) == 2  # both workers had files
    assert not list(sharded.glob(".*vidrestore-job"))
    repaired = "backwards.mkv: 4 missing or out-of-order timestamps were repaired"  # the workers' counts come back
    assert repaired in single.stderr and repaired in done.stderr


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


def test_without_ray_the_option_says_how_to_install_it(tmp_path: Path) -> None:
    src = make_video(tmp_path / "in.mp4", frames=10)
    code = "import sys; sys.modules['ray'] = None\nfrom vidrestore.__main__ import main\nsys.argv[0] = 'vidrestore'\nmain()"
    done = subprocess.run([sys.executable, "-c", code, "upscale", str(src), "--x2", "--cluster", "local", "-o",
                           str(tmp_path / "out.mp4")], capture_output=True, text=True, timeout=120)
    assert_one_error(done.returncode, done.stderr, contains="--cluster needs Ray: pip install 'vidrestore[cluster]'")
    assert not (tmp_path / "out.mp4").exists()


def test_ctrl_c_keeps_the_finished_segments_for_resume(tmp_path: Path) -> None:
    src = make_video(tmp_path / "in.mp4", size=(32, 24), frames=150, options={"g": "25", "keyint_min": "25"}, audio=[Audio()])
    reference, sharded = tmp_path / "reference.mkv", tmp_path / "out" / "sharded.mkv"
    sharded.parent.mkdir()
    assert vidrestore("upscale", src, *SLOW[:-3], "-q", "-o", reference).returncode == 0
    command = [sys.executable, "-m", "vidrestore", "upscale", str(src), *SLOW, "--cluster", "local:2", "-o", str(sharded)]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    manifest = job_folder(sharded) / "manifest.json"
    try:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            assert process.poll() is None, process.communicate()
            try:
                if len(json.loads(manifest.read_text())["done"]) >= 2:
                    break
            except (OSError, ValueError):
                pass
            time.sleep(0.05)
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 130, stderr
    assert stderr.strip().splitlines()[-1] == "vidrestore: error: interrupted by SIGINT; nothing was written"
    assert sorted(p.name for p in sharded.parent.iterdir()) == [job_folder(sharded).name]  # no output, no temporary
    left = json.loads(manifest.read_text())
    done_before = len(left["done"])
    assert 2 <= done_before < len(left["segments"]) == 6
    assert not _segment_workers()  # the local Ray went with the driver

    changed = vidrestore("upscale", src, *SLOW[:-3], "--segment-seconds", "2", "-q", "--cluster", "local:2", "--resume",
                         "-o", sharded)
    assert_one_error(changed.returncode, changed.stderr, contains="segment_seconds was 1.0, now 2.0")
    stat = src.stat()
    os.utime(src, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    touched = vidrestore("upscale", src, *SLOW[:-1], "--cluster", "local:2", "--resume", "-o", sharded)
    assert_one_error(touched.returncode, touched.stderr, contains="the input's modification time changed")
    os.utime(src, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert json.loads(manifest.read_text()) == left  # refusals change nothing

    resumed = vidrestore("upscale", src, *SLOW[:-1], "--cluster", "local:2", "--resume", "-o", sharded)
    assert resumed.returncode == 0, resumed.stderr
    assert f"6 segments, {done_before} from the interrupted run" in resumed.stderr.splitlines()[-1]
    assert_same(sharded, reference)
    assert not job_folder(sharded).exists()
