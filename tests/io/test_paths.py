"""Output naming and atomic writes."""

from __future__ import annotations

import pytest

from tests.runs import partial_files
from vidrestore.errors import OutputError
from vidrestore.io.paths import atomic_output, check_output, default_output


def test_default_output_sits_beside_the_input(tmp_path):
    assert default_output(tmp_path / "in.mp4", "x3") == tmp_path / "in.x3.mp4"
    assert default_output(tmp_path / "clip.final.mkv", "x2") == tmp_path / "clip.final.x2.mkv"
    folder = tmp_path / "frames"
    folder.mkdir()
    assert default_output(folder, "x4") == tmp_path / "frames.x4"


def test_atomic_output_renames_only_a_finished_file(tmp_path):
    dst = tmp_path / "out.mp4"
    with atomic_output(dst, overwrite=False) as tmp:
        assert tmp.parent == tmp_path and tmp.suffix == ".mp4" and tmp.name.startswith(".out.partial-")
        tmp.write_bytes(b"done")
        assert not dst.exists()
    assert dst.read_bytes() == b"done"
    assert partial_files(tmp_path) == []


def test_atomic_output_leaves_nothing_when_the_block_fails(tmp_path):
    dst = tmp_path / "out.mp4"
    dst.write_bytes(b"old")
    with pytest.raises(KeyboardInterrupt):
        with atomic_output(dst, overwrite=False) as tmp:
            tmp.write_bytes(b"half")
            raise KeyboardInterrupt
    assert dst.read_bytes() == b"old"
    assert partial_files(tmp_path) == []


def test_check_output_refuses_what_would_lose_data(tmp_path):
    src = tmp_path / "in.mp4"
    src.write_bytes(b"video")
    with pytest.raises(OutputError, match="is the input"):
        check_output(src, src, overwrite=True)
    (tmp_path / "sub").mkdir()
    with pytest.raises(OutputError, match="is the input"):  # another spelling of the same file
        check_output(tmp_path / "sub" / ".." / "in.mp4", src, overwrite=True)
    dst = tmp_path / "out.mp4"
    dst.write_bytes(b"old")
    with pytest.raises(OutputError, match="already exists; pass --overwrite"):
        check_output(dst, src, overwrite=False)
    check_output(dst, src, overwrite=True)
    with pytest.raises(OutputError, match="does not exist"):
        check_output(tmp_path / "nowhere" / "out.mp4", src, overwrite=False)
