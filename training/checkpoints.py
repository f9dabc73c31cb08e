"""What a training run reads and writes besides its logs: the starting weights,
the checkpoint it resumes from, and the exported weights.

A run folder's ``checkpoint.pt`` holds only our own tensors and numbers, so
it is read back with ``weights_only=True``; a run never unpickles a file
someone hands it (``--init`` weights are safetensors, read by `read_weights`).
The export is fp16 safetensors with the run's provenance and, when the
held-out photos are scored, its measured figures in the metadata.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

import torch
from torch import nn

from vidrestore.errors import InputError, UsageError, WeightsError
from vidrestore.models.registry import MODELS
from vidrestore.models.weights import build_model, read_weights, save_weights, validation_metadata
from vidrestore.training.recipe import Recipe

if TYPE_CHECKING:
    from vidrestore.training.tasks import Task

# A checkpoint's parts by name: what the trainer steps (modules, optimisers, the loss
# scaler), each saved with state_dict() and restored with load_state_dict(); None for a
# part the run does not have (no EMA, no discriminator).
Parts = dict[str, Any]


# -- starting weights --------------------------------------------------------------------------------
def resolve_init(init: str) -> Path:
    """A weights path, or "shipped:MODEL:xS" for a shipped file."""
    if init.startswith("shipped:"):
        try:
            _, name, scale = init.split(":")
            path = MODELS[name].weights_path(int(scale.lstrip("x")))
        except (ValueError, KeyError):
            raise UsageError(f"init {init!r}: expected shipped:MODEL:xS with a model that ships weights") from None
        if path is None:
            raise UsageError(f"init {init!r}: {name} ships no weights")
        return path
    return Path(init)


def load_matching(model: nn.Module, path: Path) -> tuple[int, int]:
    """Copy the tensors of ``path`` whose names and shapes fit ``model``: how a
    x3/x4 model starts from the x2 one (the EDSR paper's schedule), or SRGAN
    from SRResNet. Returns (copied, model tensors left as initialised)."""
    tensors, _ = read_weights(path)
    own = model.state_dict()
    fit = {k: v.to(own[k].dtype) for k, v in tensors.items() if k in own and v.shape == own[k].shape}
    if not fit:
        raise WeightsError(f"{path}: no tensor fits this model")
    own.update(fit)
    model.load_state_dict(own)
    return len(fit), len(own) - len(fit)


# -- checkpoints -------------------------------------------------------------------------------------
def checkpoint_path(run_dir: Path, resume: bool) -> Path:
    """Where the run in `run_dir` keeps its checkpoint, once sure that a new run
    overwrites none and that a resumed one has one to resume."""
    path = run_dir / "checkpoint.pt"
    if path.exists() and not resume:
        raise UsageError(f"{run_dir} already holds a run: pass --resume to continue it, "
                         "or choose another --run-dir")
    if resume and not path.exists():
        raise UsageError(f"--resume: no checkpoint in {run_dir}")
    return path


def save_checkpoint(path: Path, recipe: Recipe, parts: Parts, *, step: int, seconds: float,
                    best: dict[str, Any] | None) -> None:
    """Everything a resumed run needs to go on as if it had never stopped, written atomically."""
    state = {
        "format": 1,
        "model_name": recipe.model,
        "scale": recipe.scale,
        "step": step,
        "seconds": seconds,
        **{name: part.state_dict() if part is not None else None for name, part in parts.items()},
        "best": best,
        "recipe": recipe.to_dict(),
    }
    _atomic_torch_save(state, path)


def load_checkpoint(path: Path, recipe: Recipe, parts: Parts) -> tuple[int, float, dict[str, Any] | None]:
    """Restore `parts` from the checkpoint `save_checkpoint` wrote for the same model and
    scale; parts that either side lacks are skipped. Returns (step, seconds, best)."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any failure to read is one message
        raise InputError(f"cannot read {path}: {exc}") from None
    if state.get("model_name") != recipe.model or state.get("scale") != recipe.scale:
        raise UsageError(f"{path} is a {state.get('model_name')} x{state.get('scale')} run, "
                         f"not {recipe.model} x{recipe.scale}")
    for name, part in parts.items():
        if part is not None and state[name] is not None:
            part.load_state_dict(state[name])
    return state["step"], state["seconds"], state["best"]


def _atomic_torch_save(obj: Any, path: Path) -> None:
    from vidrestore.io.paths import atomic_output

    with atomic_output(path, overwrite=True) as tmp:  # the run's own checkpoint, replaced each time
        torch.save(obj, tmp)


# -- export ------------------------------------------------------------------------------------------
def export(model: nn.Module, recipe: Recipe, out: Path, *, best: dict[str, Any] | None, step: int, seconds: float,
           hardware: str, precision: str, task: Task | None, device: torch.device,
           log: Callable[[str], None]) -> tuple[int | None, dict[str, float]]:
    """Write `model`'s weights (the best held-out state instead when the recipe selects
    it) to `out` as fp16 safetensors; with a `task`, score the written file on its
    whole held-out images. Returns (the exported best step or None, the scores)."""
    r = recipe
    best_step = None
    if r.select == "best" and best is not None:
        model = copy.deepcopy(model)
        model.load_state_dict(best["state"])
        best_step = best["step"]
    model = model.to(memory_format=torch.contiguous_format).float().cpu().eval()
    extra = {
        "recipe": json.dumps(r.to_dict()),
        "train_steps": str(step),
        "train_minutes": f"{seconds / 60:.2f}",
        "train_hardware": hardware,
        "train_precision": precision,
        "exported_step": str(best_step if best_step is not None else step),
        "trainer": "vidrestore train",
    }
    if task is not None:
        extra["train_data"] = json.dumps({"folders": task.folders, "images": task.description})
    save_weights(model, out, arch=r.model, scale=r.scale, options=r.model_options(), extra=extra, half=True)
    final: dict[str, float] = {}
    if task is not None:
        # Scored from the file just written, so the figures are those of the fp16 weights.
        final = task.final(build_model(MODELS[r.model], r.scale, out).to(device), device)
        base = task.baseline
        extra.update(validation_metadata(psnr=final["psnr"], ssim=final["ssim"], baseline=base,
                                         baseline_psnr=final["baseline_psnr"], grad_energy=final["grad_energy"],
                                         files=task.held_names, protocol=task.protocol))
        save_weights(model, out, arch=r.model, scale=r.scale, options=r.model_options(), extra=extra, half=True)
        log(f"held-out (whole photos): PSNR-Y {final['psnr']:.3f} dB, {base} {final['baseline_psnr']:.3f} dB, "
            f"gain {final['gain']:+.3f} dB, SSIM-Y {final['ssim']:.4f}")
    log(f"wrote {out} (fp16, step {extra['exported_step']} of {step}, {seconds / 60:.1f} min)")
    return best_step, final
