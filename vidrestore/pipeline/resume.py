"""Long jobs that survive Ctrl-C, `kill -9` and power cuts: a job folder with a manifest.

A resumable job runs in keyframe-aligned segments (`pipeline.segments`). Its
job folder sits hidden beside the output (`.NAME.vidrestore-job/`) and holds
the encoded segments and `manifest.json`:

- the input's identity: size, modification time, and a SHA-256 of its first
  and last MiB (cheap on a two-hour film, and any re-encode or truncation
  changes them);
- every setting that changes the picture or the encoding: the models with
  their weights files' hashes, filters, scale, tiles, runtime, encoder
  options, the output's container, and the segment plan;
- each finished segment: its file, frame count and SHA-256.

The manifest is rewritten atomically after each finished segment, and a
segment is listed only once its file is complete and flushed, so whatever
ends the process, the manifest names only whole segments. `--resume` checks
the identity and the settings (refusing, in one line, when anything
changed), re-checks each listed segment's hash, and runs the rest. The
folder is removed once the output is complete.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

from vidrestore.errors import OutputError, UsageError
from vidrestore.pipeline.segments import Segment

MANIFEST = "manifest.json"
VERSION = 1
_EDGE = 1 << 20  # bytes of the input's head and tail that its identity hashes


def job_folder(dst: Path) -> Path:
    """Where the job writing `dst` keeps its segments: hidden, beside it."""
    return dst.parent / f".{dst.name}.vidrestore-job"


def file_sha256(path: Path, limit: int | None = None, *, tail: bool = False) -> str:
    """SHA-256 of a file, or of its first (`tail`: last) `limit` bytes."""
    digest = hashlib.sha256()
    with path.open("rb") as f:
        if limit is not None:
            if tail:
                f.seek(max(0, path.stat().st_size - limit))
            digest.update(f.read(limit))
        else:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


def input_identity(path: Path) -> dict[str, Any]:
    stat = path.stat()
    return {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns,
            "head_sha256": file_sha256(path, _EDGE), "tail_sha256": file_sha256(path, _EDGE, tail=True)}


def _time(t: Fraction | None) -> str | None:
    return None if t is None else f"{t.numerator}/{t.denominator}"


def _fraction(text: str | None) -> Fraction | None:
    return None if text is None else Fraction(text)


@dataclass
class Manifest:
    input: dict[str, Any]
    settings: dict[str, Any]
    segments: list[Segment]
    done: dict[int, dict[str, Any]] = field(default_factory=dict)  # index -> {"file", "frames", "sha256"}

    def to_json(self) -> dict[str, Any]:
        return {"version": VERSION, "input": self.input, "settings": self.settings,
                "segments": [[_time(s.start), _time(s.end)] for s in self.segments],
                "done": {str(k): v for k, v in sorted(self.done.items())}}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Manifest:
        if data.get("version") != VERSION:
            raise ValueError(f"manifest version {data.get('version')!r}")
        segments = [Segment(i, _fraction(a), _fraction(b)) for i, (a, b) in enumerate(data["segments"])]
        done = {int(k): dict(v) for k, v in data["done"].items()}
        if any(k not in range(len(segments)) for k in done):
            raise ValueError("a finished segment outside the plan")
        return cls(dict(data["input"]), dict(data["settings"]), segments, done)


class JobFolder:
    """The job folder of one output: its manifest, read and written atomically."""

    def __init__(self, dst: Path) -> None:
        self.dst = dst
        self.path = job_folder(dst)

    @property
    def manifest_path(self) -> Path:
        return self.path / MANIFEST

    def exists(self) -> bool:
        return self.path.exists()

    def read(self) -> Manifest | None:
        """The manifest, or None when the folder holds none (a run killed before writing it)."""
        try:
            data = json.loads(self.manifest_path.read_text())
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            raise OutputError(f"{self.manifest_path} cannot be read ({exc}); delete {self.path} to start over") from None
        try:
            return Manifest.from_json(data)
        except (KeyError, TypeError, ValueError) as exc:
            raise OutputError(f"{self.manifest_path} is not a manifest vidrestore wrote ({exc}); "
                              f"delete {self.path} to start over") from None

    def write(self, manifest: Manifest) -> None:
        self.path.mkdir(mode=0o700, exist_ok=True)
        tmp = self.path / f".{MANIFEST}.{os.getpid()}"
        with tmp.open("w") as f:
            json.dump(manifest.to_json(), f, indent=1)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.manifest_path)

    def remove(self) -> None:
        shutil.rmtree(self.path, ignore_errors=True)

    def leftover_line(self) -> str:
        """The one line for a job folder found without --resume."""
        manifest = None
        try:
            manifest = self.read()
        except OutputError:
            pass
        progress = f" ({len(manifest.done)} of {len(manifest.segments)} segments done)" if manifest else ""
        return (f"{self.dst}: an interrupted run left {self.path}{progress}; pass --resume to finish it, "
                f"or delete that folder to start over")


def changed_settings(manifest: Manifest, identity: dict[str, Any], settings: dict[str, Any]) -> str | None:
    """What differs between a manifest and this run, in words; None when nothing does."""
    if manifest.input != identity:
        what = "size" if manifest.input.get("size") != identity["size"] else (
            "contents" if manifest.input.get("head_sha256") != identity["head_sha256"]
            or manifest.input.get("tail_sha256") != identity["tail_sha256"] else "modification time")
        return f"the input's {what} changed"
    for key in sorted(set(manifest.settings) | set(settings)):
        if manifest.settings.get(key) != settings.get(key):
            return f"{key} was {json.dumps(manifest.settings.get(key))}, now {json.dumps(settings.get(key))}"
    return None


def refuse_changed(folder: JobFolder, reason: str) -> UsageError:
    return UsageError(f"cannot resume {folder.dst}: {reason}; run with the earlier settings, "
                      f"or delete {folder.path} to start over")


class ResumableJob:
    """One output's job folder, opened for a run: its manifest (resumed after its checks,
    or new) and the segment files an earlier run finished, re-checked."""

    def __init__(self, info, dst: Path, settings: dict[str, Any], seconds: float, run) -> None:
        import logging

        from vidrestore.pipeline.segments import plan_segments

        log = logging.getLogger(__name__)
        self.folder = folder = JobFolder(dst)
        identity = input_identity(info.path)
        manifest = folder.read() if folder.exists() else None
        if manifest is not None:
            reason = changed_settings(manifest, identity, settings)
            if reason is not None:
                raise refuse_changed(folder, reason)
        else:
            start = None if run.start is None else Fraction(str(run.start)) if isinstance(run.start, float) else run.start
            end = None if run.end is None else Fraction(str(run.end)) if isinstance(run.end, float) else run.end
            manifest = Manifest(identity, settings, plan_segments(info, seconds, start=start, end=end))
            folder.write(manifest)
        self.manifest = manifest
        self.done: dict[int, Path] = {}  # finished by an earlier run
        for index, entry in sorted(manifest.done.items()):
            part = folder.path / entry["file"]
            if part.is_file() and file_sha256(part) == entry["sha256"]:
                self.done[index] = part
            else:
                log.warning("%s: segment %d of %d is missing or damaged; it is processed again", dst, index + 1,
                            len(manifest.segments))
                del manifest.done[index]
        if manifest.done:
            log.info("%s: resuming: %d of %d segments were done", dst, len(manifest.done), len(manifest.segments))

    @property
    def segments(self) -> list[Segment]:
        return self.manifest.segments

    @property
    def done_frames(self) -> int:
        return sum(self.manifest.done[i]["frames"] for i in self.done)

    def finished(self, segment: Segment, part: Path, frames: int) -> None:
        """`part` holds `segment`, complete: flushed to the disk, then listed."""
        with part.open("rb") as f:
            os.fsync(f.fileno())
        self.manifest.done[segment.index] = {"file": part.name, "frames": frames, "sha256": file_sha256(part)}
        self.folder.write(self.manifest)


def run_resumable(info, dst: Path, tmp: Path, processor, encode, run, settings: dict[str, Any], seconds: float, *,
                  stop, progress):
    """The video of `info` into `tmp` (the atomic output of `dst`) segment by segment on this
    machine, through `dst`'s job folder (`ResumableJob`). The folder is left for `--resume` if
    this raises, and removed by the caller once `dst` is complete."""
    from vidrestore.pipeline.segments import run_segmented

    job = ResumableJob(info, dst, settings, seconds, run)
    progress.update(job.done_frames)
    report = run_segmented(info, tmp, processor, encode, run, job.segments, job.folder.path, stop=stop,
                           progress=progress, done=job.done, finished=job.finished)
    report.resumed = len(job.done)
    report.segments = len(job.segments)
    return report
