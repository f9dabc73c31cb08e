"""What differs between training a super-resolution and a deblurring model:
the data, the held-out images, and the baseline the model is scored against.

`make_task` picks the task from the recipe's model. A task holds the training
`dataset`, the held-out images for quick validation (centre crops), and
scores a model on them, or on the whole held-out photos at the end, as a dict
of means: ``psnr``, ``ssim``, ``grad_energy``, ``baseline_psnr`` and ``gain``
(model minus baseline PSNR-Y). The baseline is bicubic for super-resolution
and the blurry input for deblurring. The model is the trainer's own, still
learning: it is scored where it is (`eval.runner.ModuleRunner`), never handed
to a backend, which would move and freeze it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import torch
from torch import nn
from torch.utils.data import Dataset

from vidrestore.training.recipe import Recipe

Log = Callable[[str], None]


def folder_names(folders: list[Path]) -> list[str]:
    """The training folders as a weights file records them: the last two parts
    of each path ("bsds500/train"), enough to say which data without the
    machine's own directories."""
    parts = [Path(p).resolve().parts[-2:] for p in folders]  # resolved: "." and "../x" have no name
    return ["/".join(p) for p in parts]
_METRICS = ("psnr", "ssim", "grad_energy")


def _summary(ours: Any, base: Any) -> dict[str, float]:
    return {"psnr": ours.mean("psnr"), "ssim": ours.mean("ssim"), "grad_energy": ours.mean("grad_energy"),
            "baseline_psnr": base.mean("psnr"), "gain": ours.mean("psnr") - base.mean("psnr")}


class SRTask:
    baseline = "bicubic"
    protocol = ("whole held-out photos; LR = 8-bit MATLAB bicubic downscale; "
                "PSNR/SSIM on MATLAB rgb2ycbcr Y, border = scale px (vidrestore eval)")

    def __init__(self, recipe: Recipe, folders: list[Path], *, main: bool) -> None:
        from vidrestore.eval.sr import evaluate_bicubic, prepare_images
        from vidrestore.training.data import PatchDataset, describe_layout, find_sources, load_photo, split_sources

        r = recipe
        self.recipe = r
        self.folders = folder_names(folders)
        sources = find_sources(folders, r.scale)
        train, held = split_sources(sources, r.data.val)
        clean = r.data.degradation is None
        photos = [load_photo(s, r.scale, with_lr=clean) for s in train]
        self.dataset: Dataset = PatchDataset(photos, scale=r.scale, patch=r.data.patch, color=r.color, seed=r.seed,
                                             sampling=r.data.sampling, degradation=r.data.degradation)
        self.held: list[Path] = [s.hr for s in held]
        self.val_images = prepare_images(self.held, r.scale, crop=r.data.val_crop) if held and main else []
        self._val_base = evaluate_bicubic(self.val_images, r.scale, metrics=_METRICS) if self.val_images else None
        self.description = (f"{len(photos)} training and {len(held)} held-out images, {describe_layout(sources)}"
                            f"{', degraded on the fly' if not clean else ''}")

    def validate(self, model: nn.Module, device: torch.device) -> dict[str, float]:
        from vidrestore.eval.runner import ModuleRunner
        from vidrestore.eval.sr import evaluate

        runner = ModuleRunner(model, device)
        ours = evaluate(runner, self.recipe.color, self.val_images, self.recipe.scale, metrics=_METRICS)
        return _summary(ours, self._val_base)

    def final(self, model: nn.Module, device: torch.device) -> dict[str, float]:
        from vidrestore.eval.runner import ModuleRunner
        from vidrestore.eval.sr import evaluate, evaluate_bicubic, prepare_images

        r = self.recipe
        images = prepare_images(self.held, r.scale)
        ours = evaluate(ModuleRunner(model, device), r.color, images, r.scale, metrics=_METRICS)
        return _summary(ours, evaluate_bicubic(images, r.scale, metrics=_METRICS))

    @property
    def held_names(self) -> list[str]:
        return [p.name for p in self.held]


class DeblurTask:
    baseline = "blurry"

    @property
    def protocol(self) -> str:
        from vidrestore.eval.deblur import PROTOCOL

        return f"whole held-out photos; {PROTOCOL} (vidrestore eval --task deblur)"

    def __init__(self, recipe: Recipe, folders: list[Path], *, main: bool) -> None:
        from vidrestore.errors import InputError
        from vidrestore.training.data import held_out_names
        from vidrestore.training.deblur_data import BlurPatchDataset, find_deblur_sources, load_pairs, source_name
        from vidrestore.io.paths import is_image

        r = self.recipe = recipe
        self.folders = folder_names(folders)
        sources = find_deblur_sources(folders)
        names = [source_name(s) for s in sources]
        held_names = set(held_out_names(names, r.data.val))
        train = [s for s, n in zip(sources, names, strict=True) if n not in held_names]
        if not train:
            raise InputError("every image is held out; nothing is left to train on")
        # Held-out sources that can be scored: sharp photos (protocol blur) and given pairs.
        self.held: list[Any] = [s for s, n in zip(sources, names, strict=True)
                                if n in held_names and (isinstance(s, tuple) or is_image(s))]
        pairs = load_pairs(train)
        self.dataset = BlurPatchDataset(pairs, patch=r.data.patch, seed=r.seed, blur=r.data.blur)
        self.val_images = self._images(crop=r.data.val_crop) if self.held and main else []
        self._val_base = self._blurry(self.val_images) if self.val_images else None
        given = sum(p.blurry is not None for p in pairs)
        kinds = f"{given} given blurry/sharp pairs, {len(pairs) - given} sharp images blurred on the fly"
        self.description = f"{len(pairs)} training and {len(self.held)} held-out images ({kinds})"

    def _images(self, crop: int | None) -> list[Any]:
        from vidrestore.eval.deblur import load_deblur_image

        images = []
        for source in self.held:
            if isinstance(source, tuple):
                blurry, sharp = source
                images.append(load_deblur_image(sharp, name=f"{sharp.parent.parent.name}/{sharp.name}", crop=crop,
                                                blurry_path=blurry))
            else:
                images.append(load_deblur_image(source, crop=crop))
        return images

    @staticmethod
    def _blurry(images: list[Any]) -> Any:
        from vidrestore.eval.deblur import evaluate_blurry

        return evaluate_blurry(images, metrics=_METRICS)

    def validate(self, model: nn.Module, device: torch.device) -> dict[str, float]:
        from vidrestore.eval.deblur import evaluate_deblur
        from vidrestore.eval.runner import ModuleRunner

        ours = evaluate_deblur(ModuleRunner(model, device), self.val_images, metrics=_METRICS)
        return _summary(ours, self._val_base)

    def final(self, model: nn.Module, device: torch.device) -> dict[str, float]:
        from vidrestore.eval.deblur import evaluate_deblur
        from vidrestore.eval.runner import ModuleRunner

        images = self._images(crop=None)
        return _summary(evaluate_deblur(ModuleRunner(model, device), images, metrics=_METRICS), self._blurry(images))

    @property
    def held_names(self) -> list[str]:
        return [s[1].name if isinstance(s, tuple) else s.name for s in self.held]


Task = SRTask | DeblurTask


def make_task(recipe: Recipe, folders: list[Path], *, main: bool) -> Task:
    return DeblurTask(recipe, folders, main=main) if recipe.task == "deblur" else SRTask(recipe, folders, main=main)
