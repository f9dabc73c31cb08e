"""The ONNX and TensorRT caches trust nothing they did not write and cannot check.

A cache entry is used only when its folder and file belong to this user and
are writable by no one else, and its bytes hash to what was recorded when it
was written; anything else gets one warning and is rebuilt (or, for an unsafe
folder, the run goes on without the cache). ONNX Runtime runs for real here on
a tiny frame, with ESPCN x2, the shipped model the CLI picks on a CPU.
"""

from __future__ import annotations

import logging
import os
import shutil
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner
from torch import nn

from tests.media import make_image
from tests.runs import lines
from vidrestore.backends import BackendOptions
from vidrestore.backends.onnxruntime_backend import OnnxRuntimeBackend
from vidrestore.cli import cli
from vidrestore.models import LoadedModel, load, wrap

pytestmark = pytest.mark.filterwarnings("ignore:You are using the legacy TorchScript-based ONNX export")

FRAME = torch.rand(1, 1, 16, 20, generator=torch.Generator().manual_seed(0))  # at least MIN_SIDE: no mirroring
OTHER_UID = 54321  # nobody's: stands for another user
as_root = pytest.mark.skipif(os.geteuid() != 0, reason="changing a file's owner needs root (CI runs as root)")


class Inverted(nn.Module):
    """Another valid graph with the same inputs and outputs: the luma turned upside down."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return 1 - self.model(x)


@pytest.fixture(scope="module")
def espcn() -> LoadedModel:
    return load("espcn", scale=2)


@pytest.fixture(scope="module")
def golden(espcn: LoadedModel, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A cache folder filled once by a real run; each test starts from a copy."""
    root = tmp_path_factory.mktemp("golden") / "cache"
    before = os.environ.get("VIDRESTORE_CACHE")
    os.environ["VIDRESTORE_CACHE"] = str(root)
    try:
        OnnxRuntimeBackend(espcn, BackendOptions(device="cpu"))
    finally:
        if before is None:
            del os.environ["VIDRESTORE_CACHE"]
        else:
            os.environ["VIDRESTORE_CACHE"] = before
    return root


@pytest.fixture
def cache(golden: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """VIDRESTORE_CACHE for this test, holding the golden run's entries."""
    root = tmp_path / "cache"
    shutil.copytree(golden, root)
    monkeypatch.setenv("VIDRESTORE_CACHE", str(root))
    return root


@pytest.fixture
def warned() -> Iterator[list[str]]:
    """The warnings vidrestore logs (as the CLI's `vidrestore: warning:` lines)."""
    messages: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            messages.append(record.getMessage())

    handler = Collect(logging.WARNING)
    logger = logging.getLogger("vidrestore")
    logger.addHandler(handler)
    yield messages
    logger.removeHandler(handler)


@pytest.fixture
def exports(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts fresh ONNX exports (cache misses)."""
    from vidrestore.export import onnx

    calls: list[int] = []
    real = onnx.onnx_bytes

    def counted(*args, **kwargs) -> bytes:
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(onnx, "onnx_bytes", counted)
    return calls


def entry_of(root: Path) -> Path:
    (entry,) = (root / "onnx").glob("*.onnx")
    return entry


def run_espcn(model: LoadedModel) -> torch.Tensor:
    return OnnxRuntimeBackend(model, BackendOptions(device="cpu")).run(FRAME)


def assert_espcn_output(out: torch.Tensor, model: LoadedModel) -> None:
    with torch.no_grad():
        want = model.module(FRAME)
    assert out.shape == want.shape == (1, 1, 32, 40)
    assert float((out - want).abs().max()) < 1e-4


def listing(folder: Path) -> dict[str, tuple[int, int, bytes]]:
    return {p.name: (p.stat().st_mode, p.stat().st_uid, p.read_bytes()) for p in sorted(folder.iterdir())}


# --- what a run writes ----------------------------------------------------------------------


def test_the_cache_is_private_and_a_second_run_is_a_silent_hit(espcn, tmp_path, monkeypatch, warned, exports) -> None:
    root = tmp_path / "fresh" / "cache"
    monkeypatch.setenv("VIDRESTORE_CACHE", str(root))
    old_umask = os.umask(0o002)  # a usual desktop umask: files would come out group-writable
    try:
        assert_espcn_output(run_espcn(espcn), espcn)
    finally:
        os.umask(old_umask)
    for folder in (root, root / "onnx"):
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700, folder
    files = sorted((root / "onnx").iterdir())
    assert files and not [p for p in files if p.name.startswith(".")]  # no temporaries left behind
    assert all(stat.S_IMODE(p.stat().st_mode) & 0o022 == 0 for p in files)
    assert_espcn_output(run_espcn(espcn), espcn)
    assert exports == [1] and warned == []


# --- damaged or replaced entries: one warning, rebuilt, right output -------------------------


@pytest.mark.parametrize("damage", ["garbage", "empty", "truncated", "inverted"])
def test_a_bad_entry_is_rebuilt_with_one_warning(espcn, cache, warned, exports, damage) -> None:
    entry = entry_of(cache)
    data = entry.read_bytes()
    if damage == "inverted":
        from vidrestore.export.onnx import onnx_bytes

        planted = onnx_bytes(wrap(Inverted(espcn.module), scale=2, color="y"))
        exports.clear()
    else:
        planted = {"garbage": b"\x08\x07 not an ONNX graph", "empty": b"", "truncated": data[: len(data) // 2]}[damage]
    entry.write_bytes(planted)

    assert_espcn_output(run_espcn(espcn), espcn)
    assert len(warned) == 1 and str(entry) in warned[0] and "rebuil" in warned[0], warned
    assert exports == [1]
    assert entry.read_bytes() != planted
    assert_espcn_output(run_espcn(espcn), espcn)  # the rebuilt entry is trusted again
    assert len(warned) == 1 and exports == [1]


def test_an_entry_without_its_recorded_hash_is_rebuilt(espcn, cache, warned, exports) -> None:
    for path in (cache / "onnx").iterdir():
        if path != entry_of(cache):
            path.unlink()
    assert_espcn_output(run_espcn(espcn), espcn)
    assert len(warned) == 1 and exports == [1]


def test_the_cli_says_one_warning_line_and_writes_the_right_image(cache, tmp_path) -> None:
    entry_of(cache).write_bytes(b"garbage")
    src = make_image(tmp_path / "in.png", (16, 12))
    result = CliRunner().invoke(cli, ["upscale", str(src), "--x2", "--backend", "onnxruntime", "-q"])
    assert result.exit_code == 0, result.stderr
    (warning,) = lines(result.stderr, "warning")
    assert str(entry_of(cache)) in warning
    assert (tmp_path / "in.x2.png").is_file()


# --- entries and folders someone else could have written: never used -------------------------


@pytest.mark.parametrize("mode", [0o666, 0o620, 0o602], ids=oct)
def test_an_entry_writable_by_others_is_not_used(espcn, cache, warned, exports, mode) -> None:
    entry = entry_of(cache)
    entry.chmod(mode)
    assert_espcn_output(run_espcn(espcn), espcn)
    assert exports == [1] and len(warned) == 1 and "writable" in warned[0]
    assert stat.S_IMODE(entry.stat().st_mode) & 0o022 == 0


@as_root
def test_an_entry_owned_by_another_user_is_not_used(espcn, cache, warned, exports) -> None:
    entry = entry_of(cache)
    os.chown(entry, OTHER_UID, OTHER_UID)
    assert_espcn_output(run_espcn(espcn), espcn)
    assert exports == [1] and len(warned) == 1 and str(OTHER_UID) in warned[0]
    assert entry.stat().st_uid == os.getuid()


@pytest.mark.parametrize("mode", [0o770, 0o777, 0o1777], ids=oct)
def test_a_folder_writable_by_others_is_not_used(espcn, cache, warned, exports, mode) -> None:
    folder = cache / "onnx"
    folder.chmod(mode)
    before = listing(folder)
    assert_espcn_output(run_espcn(espcn), espcn)
    assert_espcn_output(run_espcn(espcn), espcn)
    assert exports == [1, 1]  # exported every time: the cache is not read
    assert listing(folder) == before  # nor written
    assert len(warned) == 2 and all(str(folder) in w and "writable" in w for w in warned)


@as_root
def test_a_folder_owned_by_another_user_is_not_used(espcn, cache, warned, exports) -> None:
    folder = cache / "onnx"
    os.chown(folder, OTHER_UID, OTHER_UID)
    before = listing(folder)
    assert_espcn_output(run_espcn(espcn), espcn)
    assert exports == [1] and listing(folder) == before
    assert len(warned) == 1 and str(folder) in warned[0] and str(OTHER_UID) in warned[0]


def test_a_symlinked_entry_is_not_followed(espcn, cache, warned, exports, tmp_path) -> None:
    entry = entry_of(cache)
    elsewhere = tmp_path / "elsewhere.onnx"
    shutil.copy(entry, elsewhere)
    entry.unlink()
    entry.symlink_to(elsewhere)
    assert_espcn_output(run_espcn(espcn), espcn)
    assert exports == [1] and len(warned) == 1
    assert not entry.is_symlink()


# --- the TensorRT engine cache: the same rules, checked without TensorRT ----------------------


@pytest.fixture
def no_tensorrt(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "tensorrt", None)


def engine_spec():
    from tests.export.test_tensorrt_cache import make_spec

    return make_spec()


def test_a_recorded_engine_is_used_without_tensorrt(no_tensorrt, tmp_path, warned) -> None:
    from vidrestore.export.cache import CacheFolder
    from vidrestore.export.tensorrt import build_engine, cache_key

    spec = engine_spec()
    written = CacheFolder(tmp_path / "engines").write(f"{cache_key(spec)}.engine", b"engine bytes")
    assert written is not None
    assert build_engine(tmp_path / "missing.onnx", spec, cache_dir=tmp_path / "engines") == written
    assert warned == []


def test_a_planted_engine_is_not_used(no_tensorrt, tmp_path, warned) -> None:
    from vidrestore.errors import BackendUnavailable
    from vidrestore.export.tensorrt import build_engine, cache_key

    spec = engine_spec()
    folder = tmp_path / "engines"
    folder.mkdir(mode=0o700)
    planted = folder / f"{cache_key(spec)}.engine"
    planted.write_bytes(b"planted engine")
    with pytest.raises(BackendUnavailable, match="TensorRT is not installed"):  # a build is attempted instead
        build_engine(tmp_path / "missing.onnx", spec, cache_dir=folder)
    assert len(warned) == 1 and str(planted) in warned[0], warned
    assert not planted.exists()


@pytest.mark.parametrize("damage", ["unrecorded", "garbage", "writable", "folder", "owner"])
def test_a_doubtful_engine_is_not_used(no_tensorrt, tmp_path, warned, damage) -> None:
    from vidrestore.errors import BackendUnavailable
    from vidrestore.export.cache import CacheFolder
    from vidrestore.export.tensorrt import build_engine, cache_key

    if damage == "owner" and os.geteuid() != 0:
        pytest.skip("changing a file's owner needs root")
    spec = engine_spec()
    folder = tmp_path / "engines"
    engine = CacheFolder(folder).write(f"{cache_key(spec)}.engine", b"engine bytes")
    assert engine is not None
    if damage == "unrecorded":
        for path in folder.glob("*.sha256"):
            path.unlink()
    elif damage == "garbage":
        engine.write_bytes(b"planted engine")
    elif damage == "writable":
        engine.chmod(0o666)
    elif damage == "folder":
        folder.chmod(0o777)
    else:
        os.chown(engine, OTHER_UID, OTHER_UID)
    # Not used: a build is attempted, and TensorRT is absent here.
    with pytest.raises(BackendUnavailable, match="TensorRT is not installed"):
        build_engine(tmp_path / "missing.onnx", spec, cache_dir=folder)
    assert len(warned) == 1, warned
