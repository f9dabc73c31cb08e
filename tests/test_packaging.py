"""What a regular (non-editable) install contains.

The tests run against an editable install, which sees the whole checkout; a
wheel holds only the packages pyproject.toml lists. A package left off that
list once made `vidrestore train` fail on a machine with a plain install.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _config() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]


def _package_dirs() -> dict[str, Path]:
    """Every importable package of the checkout, by the name it installs as."""
    mapped = _config()["package-dir"]
    roots = {"vidrestore": ROOT / "vidrestore", **{name: ROOT / folder for name, folder in mapped.items()}}
    found: dict[str, Path] = {}
    for name, folder in roots.items():
        for init in folder.rglob("__init__.py"):
            rel = init.parent.relative_to(folder)
            found[".".join([name, *rel.parts])] = init.parent
    return found


def test_pyproject_lists_every_package() -> None:
    assert sorted(_config()["packages"]) == sorted(_package_dirs())


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # Built from a copy without the editable install's egg-info, which would
    # otherwise feed the build the file list of the checkout.
    src, out = tmp_path_factory.mktemp("src") / "vidrestore", tmp_path_factory.mktemp("wheel")
    shutil.copytree(ROOT, src, ignore=shutil.ignore_patterns(
        ".*", "*.egg-info", "build", "dist", "__pycache__", "runs", "samples"))
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "--no-index",
                    "-w", str(out), str(src)], check=True, capture_output=True, timeout=300)
    (path,) = out.glob("vidrestore-*.whl")
    return path


@pytest.mark.slow
def test_wheel_holds_every_module_weights_file_and_recipe(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    expected = set()
    for package, folder in _package_dirs().items():
        prefix = package.replace(".", "/")
        expected |= {f"{prefix}/{p.name}" for p in folder.glob("*.py")}
    expected |= {f"vidrestore/models/weights/{p.name}" for p in (ROOT / "vidrestore/models/weights").glob("*.safetensors")}
    expected |= {f"vidrestore/training/recipes/{p.name}" for p in (ROOT / "training/recipes").glob("*.toml")}
    expected.add("vidrestore/live/page.html")
    assert len(expected) > 60
    assert sorted(expected - names) == []


def _run_from(site: Path, code: str) -> list[str]:
    done = subprocess.run([sys.executable, "-c", code], cwd=site.parent, env={"PYTHONPATH": str(site), "PATH": "/usr/bin:/bin"},
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout.splitlines()


@pytest.mark.slow
def test_installed_wheel_imports_every_module(wheel: Path, tmp_path: Path) -> None:
    """Outside the checkout, from the wheel alone: every module imports, and
    the training stack does so with PyAV unimportable (a GPU machine without it)."""
    site = tmp_path / "site"
    with zipfile.ZipFile(wheel) as z:
        z.extractall(site)
    every = ("import importlib, pkgutil, vidrestore\n"
             "names = [m.name for m in pkgutil.walk_packages(vidrestore.__path__, 'vidrestore.')]\n"
             "for name in names: importlib.import_module(name)\n"
             "print(vidrestore.__file__, len(names))\n")
    where, count = _run_from(site, every)[0].split()
    assert where.startswith(str(site)) and int(count) > 50
    no_av = ("import sys; sys.modules['av'] = None\n"
             "import vidrestore.cli, vidrestore.training.trainer, vidrestore.training.tasks\n"
             "import vidrestore.eval.deblur, vidrestore.training.deblur_data, vidrestore.training.data\n"
             "from vidrestore.training.recipe import load_recipe\n"
             "print(load_recipe('srn').model_options())\n"
             # Training photos are read where PyAV is missing too.
             "from pathlib import Path; from PIL import Image; from vidrestore.eval.photos import load_rgb\n"
             f"Image.new('RGB', (6, 4), (255, 0, 0)).save({str(tmp_path / 'p.png')!r})\n"
             f"print(tuple(load_rgb(Path({str(tmp_path / 'p.png')!r}), 2).shape))\n")
    printed = _run_from(site, no_av)
    assert "'features': 24" in printed[0]
    assert printed[1] == "(3, 4, 6)"
