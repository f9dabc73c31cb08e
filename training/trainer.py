"""The training loop behind `vidrestore train`.

One loop serves every model: pixel and perceptual losses, optional GAN
fine-tuning (SRGAN's second phase), an exponential moving average of the
weights, mixed precision (bf16 on CPUs with AMX and on recent GPUs, fp16 with
loss scaling on older GPUs), several GPUs through torchrun
(DistributedDataParallel, one process per GPU), checkpoints with resume,
TensorBoard logs, and a final export of the best held-out weights as fp16
safetensors with their measured figures in the metadata.

A run folder holds ``checkpoint.pt`` (see `checkpoints`), ``log.jsonl`` (one
line per validation), ``recipe.toml``-equivalent JSON in ``recipe.json`` and
``tb/`` for TensorBoard. Checkpoints, starting weights and the export live in
`checkpoints`; ranks, DDP and what the ranks agree on in `distributed`.
"""

from __future__ import annotations

import copy
import json
import math
import os
import signal
import sys
import time
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import torch
from torch import nn
from torch.utils.data import DataLoader

from vidrestore.backends import cpu_name
from vidrestore.errors import InputError, Interrupted, UsageError
from vidrestore.signals import Graceful, Stop
from vidrestore.models.registry import MODELS
from vidrestore.training.checkpoints import (Parts, checkpoint_path, export, load_checkpoint, load_matching,
                                             resolve_init, save_checkpoint)
from vidrestore.training.data import StepSampler
from vidrestore.training.distributed import ddp, init_dist, leave, rank0_decides, unwrap
from vidrestore.training.losses import ContentLoss, gan_loss
from vidrestore.training.recipe import Recipe
from vidrestore.training.tasks import make_task

Log = Callable[[str], None]


@dataclass(frozen=True)
class RunConfig:
    recipe: Recipe
    data: tuple[Path, ...]
    run_dir: Path
    output: Path | None = None  # default: run_dir / "<model>_x<scale>.safetensors"
    device: str = "auto"
    resume: bool = False
    vgg: Path | None = None
    progress: bool = True
    final_eval: bool = True  # score the exported weights on the whole held-out photos

    @property
    def weights_out(self) -> Path:
        r = self.recipe
        return self.output or self.run_dir / f"{r.model}_x{r.scale}.safetensors"


@dataclass
class TrainSummary:
    output: Path | None
    steps: int
    seconds: float
    best_step: int | None
    final: dict[str, float]  # held-out means of the exported weights (full photos) and bicubic's


def amp_dtype(mode: str, device: torch.device) -> torch.dtype | None:
    """The autocast dtype for ``mode`` on ``device``; None = full fp32."""
    if mode == "off":
        return None
    if device.type == "cuda":
        if mode == "fp16" or (mode == "auto" and not torch.cuda.is_bf16_supported()):
            return torch.float16
        return torch.bfloat16
    if mode == "fp16":
        raise UsageError("fp16 autocast needs CUDA; on a CPU use --amp bf16 or off")
    if mode == "bf16":
        return torch.bfloat16
    # auto on CPU: bf16 pays off only with AMX or AVX-512 bf16 instructions.
    fast = getattr(torch.cpu, "_is_amx_tile_supported", lambda: False)() or \
        getattr(torch.cpu, "_is_avx512_bf16_supported", lambda: False)()
    return torch.bfloat16 if fast else None


def hardware(device: torch.device, world: int) -> str:
    if device.type == "cuda":
        name = torch.cuda.get_device_name(device)
    else:
        name = cpu_name()
        name = f"{name}, {torch.get_num_threads()} threads"
    return f"{world} x {name}" if world > 1 else name


class EMA:
    """Exponential moving average of a model's weights; buffers (batch-norm
    statistics) are copied. The decay ramps up over the first steps so the
    average does not start out dominated by the random initialisation."""

    def __init__(self, model: nn.Module, decay: float) -> None:
        self.decay = decay
        self.module = copy.deepcopy(model).eval()
        for p in self.module.parameters():
            p.requires_grad_(False)

    @torch.no_grad()
    def update(self, model: nn.Module, step: int) -> None:
        d = min(self.decay, (1 + step) / (10 + step))
        for e, p in zip(self.module.parameters(), model.parameters()):
            e.lerp_(p.detach(), 1 - d)
        for e, b in zip(self.module.buffers(), model.buffers()):
            e.copy_(b)


def learning_rate(recipe: Recipe, progress: float, step: int) -> float:
    o = recipe.optim
    if o.warmup and step < o.warmup:
        return o.lr * (step + 1) / o.warmup
    progress = min(max(progress, 0.0), 1.0)
    if o.schedule == "cosine":
        return o.lr_final + 0.5 * (o.lr - o.lr_final) * (1 + math.cos(math.pi * progress))
    if o.schedule == "step":
        return o.lr * o.gamma ** sum(progress >= m for m in o.milestones)
    return o.lr


class Trainer:
    def __init__(self, config: RunConfig, log: Log = print, stop: Stop | None = None,
                 graceful: Graceful | None = None) -> None:
        self.config, self.recipe = config, config.recipe
        # From the CLI: a signal sets `stop`; the loop checkpoints and stops, and keeps
        # `graceful`'s grace and outcome up to date (a step's time, the last checkpoint).
        self.stop = stop or Stop()
        self.graceful = graceful
        self.dist, self.device = init_dist(config.device)
        self.log = log if self.dist.main else (lambda message: None)
        r = self.recipe
        self.amp = amp_dtype(r.amp, self.device)
        self.channels_last = self.amp is not None
        if self.device.type == "cuda":
            torch.backends.cudnn.benchmark = True  # patches have one size: pick the fastest kernels once
        self.ckpt_path = checkpoint_path(config.run_dir, config.resume)
        self._load_data()  # first: bad --data must not leave an empty run folder behind
        if self.dist.main:
            config.run_dir.mkdir(parents=True, exist_ok=True)
        self._build()

    # -- setup -------------------------------------------------------------------------------------
    def _load_data(self) -> None:
        t0 = time.monotonic()
        self.task = make_task(self.recipe, list(self.config.data), main=self.dist.main)
        self.dataset = self.task.dataset
        self.log(f"data: {self.task.description}; loaded in {time.monotonic() - t0:.1f}s")

    def _build(self) -> None:
        r, c = self.recipe, self.config
        torch.manual_seed(r.seed)
        spec = MODELS[r.model]
        model = spec.build(scale=r.scale, **r.model_options())
        if r.init and not c.resume:
            copied, fresh = load_matching(model, resolve_init(r.init))
            self.log(f"init: {copied} tensors from {r.init}, {fresh} left as initialised")
        model = model.to(self.device)
        if self.channels_last:
            model = model.to(memory_format=torch.channels_last)
        self.ema = EMA(model, r.ema) if r.ema else None
        self.disc: nn.Module | None = None
        if r.gan is not None:
            from vidrestore.models.srresnet import Discriminator

            self.disc = Discriminator(features=r.gan.d_features).to(self.device)
            if self.channels_last:
                self.disc = self.disc.to(memory_format=torch.channels_last)
        if self.dist.world > 1:
            model = ddp(model, self.device, sync_batchnorm=True)
            if self.disc is not None:
                self.disc = ddp(self.disc, self.device)
        self.model = model
        o = r.optim
        self.opt = torch.optim.Adam(model.parameters(), lr=o.lr, betas=o.betas, weight_decay=o.weight_decay)
        self.d_opt = None
        if self.disc is not None and r.gan is not None:
            self.d_opt = torch.optim.Adam(self.disc.parameters(), lr=r.gan.d_lr, betas=r.gan.d_betas)
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.amp == torch.float16)
        self.multiscale = hasattr(unwrap(model), "targets")
        self.content = ContentLoss(r.loss, border=r.loss_border * r.scale, vgg=c.vgg,
                                   perceptual_layer=r.perceptual_layer).to(self.device)
        self.step, self.seconds = 0, 0.0
        self.best: dict[str, Any] | None = None  # {"psnr", "step", "state"}
        if c.resume:
            self._restore()

    def _precision(self) -> str:
        return f"autocast {str(self.amp).removeprefix('torch.')}" if self.amp else "fp32"

    def _autocast(self) -> Any:
        if self.amp is None:
            return nullcontext()
        return torch.autocast(self.device.type, dtype=self.amp)

    # -- checkpoints -------------------------------------------------------------------------------
    _checkpoint_seconds = 0.0

    def _parts(self) -> Parts:
        return {
            "model": unwrap(self.model),
            "ema": self.ema.module if self.ema else None,
            "optimizer": self.opt,
            "disc": unwrap(self.disc) if self.disc is not None else None,
            "d_optimizer": self.d_opt,
            "scaler": self.scaler,
        }

    def _checkpoint(self) -> None:
        if not self.dist.main:
            return
        started = time.monotonic()
        save_checkpoint(self.ckpt_path, self.recipe, self._parts(), step=self.step, seconds=self.seconds,
                        best=self.best)
        self._checkpoint_seconds = time.monotonic() - started
        if self.graceful is not None:
            step, run_dir = self.step, self.config.run_dir
            self.graceful.outcome = lambda: f"the checkpoint of step {step} in {run_dir} is kept; continue with --resume"

    def _restore(self) -> None:
        self.step, self.seconds, self.best = load_checkpoint(self.ckpt_path, self.recipe, self._parts())
        self.log(f"resumed {self.ckpt_path} at step {self.step} ({self.seconds / 60:.1f} min trained)")

    # -- validation --------------------------------------------------------------------------------
    def _eval_model(self) -> nn.Module:
        return self.ema.module if self.ema else unwrap(self.model)

    def _validate(self) -> dict[str, float] | None:
        if not self.task.val_images:
            return None
        model = self._eval_model()
        was_training = model.training
        model.eval()
        with self._autocast():
            scores = self.task.validate(model, self.device)
        model.train(was_training)
        if self.best is None or scores["psnr"] > self.best["psnr"]:
            state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
            self.best = {"psnr": scores["psnr"], "step": self.step, "state": state}
        return scores

    # -- the loop ----------------------------------------------------------------------------------
    def _loader(self) -> DataLoader:
        r = self.recipe
        cuda = self.device.type == "cuda"
        workers = r.data.workers
        if workers is None:
            workers = min(8, max(1, (os.cpu_count() or 2) // self.dist.world - 1)) if cuda else 0
        sampler = StepSampler(start_step=self.step, batch=r.data.batch, rank=self.dist.rank, world=self.dist.world)
        return DataLoader(self.dataset, batch_size=r.data.batch, sampler=sampler, num_workers=workers,
                          pin_memory=cuda, prefetch_factor=4 if workers else None,
                          persistent_workers=bool(workers))

    def _progress(self) -> tuple[float, bool]:
        """How far the budget is spent, and whether a signal asked to stop."""
        r = self.recipe
        by_steps = self.step / r.steps if r.steps else 0.0
        by_time = self.seconds / (r.minutes * 60) if r.minutes else 0.0
        return rank0_decides(self.dist, self.device, max(by_steps, by_time), self.stop.is_set())

    def _train_step(self, lr: torch.Tensor, hr: torch.Tensor) -> dict[str, float]:
        r = self.recipe
        fmt = torch.channels_last if self.channels_last else torch.contiguous_format
        lr = lr.to(self.device, non_blocking=True).contiguous(memory_format=fmt)
        hr = hr.to(self.device, non_blocking=True).contiguous(memory_format=fmt)
        out: dict[str, float] = {}
        with self._autocast():
            if self.multiscale:
                # Every scale's output against the target at that scale, equally weighted (DeepDeblur, SRN).
                outputs = self.model(lr, all_scales=True)
                targets = unwrap(self.model).targets(hr)
            else:
                outputs, targets = [self.model(lr)], [hr]
        sr = outputs[-1]
        adversarial = torch.zeros((), device=self.device)
        if self.disc is not None and self.d_opt is not None:
            # The discriminator's step: real HR patches against the current SR.
            with self._autocast():
                d_loss = gan_loss(self.disc(hr), True) + gan_loss(self.disc(sr.detach()), False)
            self.d_opt.zero_grad(set_to_none=True)
            self.scaler.scale(d_loss).backward()
            self.scaler.step(self.d_opt)
            out["d_loss"] = float(d_loss.detach())
            # The generator's adversarial term; no gradient kept for D here.
            disc = unwrap(self.disc)
            disc.requires_grad_(False)
            with self._autocast():
                adversarial = r.loss["adversarial"] * gan_loss(disc(sr), True)
            disc.requires_grad_(True)
            out["adversarial"] = float(adversarial.detach())
        per_scale = [self.content(o, t) for o, t in zip(outputs, targets, strict=True)]
        terms = {k: sum(p[k] for p in per_scale) / len(per_scale) for k in per_scale[0]}
        total = terms["total"] + adversarial
        self.opt.zero_grad(set_to_none=True)
        self.scaler.scale(total).backward()
        if r.optim.grad_clip:
            self.scaler.unscale_(self.opt)
            nn.utils.clip_grad_norm_(self.model.parameters(), r.optim.grad_clip)
        self.scaler.step(self.opt)
        self.scaler.update()
        if self.ema:
            self.ema.update(unwrap(self.model), self.step)
        out.update({k: float(v.detach()) for k, v in terms.items()})
        out["loss"] = float(total.detach())
        return out

    def run(self) -> TrainSummary:
        r, c = self.recipe, self.config
        writer = self._writer()
        if self.dist.main:
            (c.run_dir / "recipe.json").write_text(json.dumps(r.to_dict(), indent=2) + "\n")
        self.log(f"training {r.model} x{r.scale} on {hardware(self.device, self.dist.world)}, {self._precision()}; "
                 f"{unwrap(self.model).__class__.__name__} "
                 f"{sum(p.numel() for p in self.model.parameters()):,} parameters")
        if r.init and self.step == 0:
            # A run from other weights (a second stage, x3 from x2) scores them first: its
            # validation curve starts where they stand, and they stay the best until beaten.
            self._report(self._validate(), [], writer)
        bar = self._bar()
        self.model.train()
        recent: list[float] = []
        stop_reason = "budget"
        try:
            for lr, hr in self._loader():
                progress, stopping = self._progress()
                if stopping:
                    stop_reason = "interrupted"
                    break
                if progress >= 1.0:
                    break
                rate = learning_rate(r, progress, self.step)
                for group in self.opt.param_groups:
                    group["lr"] = rate
                t = time.monotonic()
                stats = self._train_step(lr, hr)
                took = time.monotonic() - t
                self.seconds += took
                if self.graceful is not None:
                    # After a signal the step in hand ends and a checkpoint is written: allow for both.
                    self.graceful.grace = 1.0 + 2 * took + self._checkpoint_seconds
                self.step += 1
                recent = (recent + [stats["loss"]])[-100:]
                if bar is not None:
                    bar.update(1)
                    bar.set_postfix(loss=f"{sum(recent) / len(recent):.4g}", lr=f"{rate:.2e}", refresh=False)
                if writer is not None and self.step % 20 == 0:
                    for k, v in stats.items():
                        writer.add_scalar(f"train/{k}", v, self.step)
                    writer.add_scalar("train/lr", rate, self.step)
                if self.step % r.val_every == 0:
                    self._report(self._validate(), recent, writer)
                if self.step % r.checkpoint_every == 0:
                    self._checkpoint()
                if not math.isfinite(stats["loss"]):
                    stop_reason = "the loss is not finite"
                    break
        except KeyboardInterrupt:
            stop_reason = "interrupted"
        finally:
            if bar is not None:
                bar.close()
        if stop_reason == "interrupted":
            self._checkpoint()
            raise Interrupted(self.stop.signum or signal.SIGINT, f"checkpoint of step {self.step} saved in {c.run_dir}; "
                              "continue with --resume")
        if stop_reason != "budget":
            raise InputError(f"training stopped at step {self.step}: {stop_reason}; last checkpoint in {c.run_dir}")
        if self.step % r.val_every:
            self._report(self._validate(), recent, writer)
        self._checkpoint()
        summary = self._export()
        if writer is not None:
            writer.close()
        if self.dist.world > 1:
            self.model = unwrap(self.model)  # no DDP wrapper may outlive the process group (see `leave`)
            if self.disc is not None:
                self.disc = unwrap(self.disc)
            leave()
        return summary

    def _report(self, scores: dict[str, float] | None, recent: list[float], writer: Any) -> None:
        if not self.dist.main:
            return
        loss = sum(recent) / len(recent) if recent else None  # None: no step trained yet
        line = f"step {self.step:7d}  {self.seconds / 60:6.1f} min  loss {'-' if loss is None else f'{loss:.4g}'}"
        record: dict[str, Any] = {"step": self.step, "minutes": round(self.seconds / 60, 3), "loss": loss}
        if scores is not None:
            best = self.best is not None and self.best["step"] == self.step
            line += (f"  held-out PSNR-Y {scores['psnr']:.3f} ({scores['gain']:+.3f} dB vs {self.task.baseline})"
                     f"  SSIM {scores['ssim']:.4f}{'  best' if best else ''}")
            record.update(scores)
            if writer is not None:
                for k, v in scores.items():
                    writer.add_scalar(f"val/{k}", v, self.step)
        self.log(line)
        with open(self.config.run_dir / "log.jsonl", "a") as f:
            f.write(json.dumps(record) + "\n")

    def _writer(self) -> Any:
        if not self.dist.main:
            return None
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            self.log("warning: TensorBoard is not installed (pip install 'vidrestore[train]'); "
                     "logging to log.jsonl only")
            return None
        return SummaryWriter(str(self.config.run_dir / "tb"))

    def _bar(self) -> Any:
        if not (self.dist.main and self.config.progress and sys.stderr.isatty()):
            return None
        try:
            from tqdm import tqdm
        except ImportError:
            return None
        r = self.recipe
        return tqdm(total=r.steps, initial=self.step, unit="step", dynamic_ncols=True,
                    desc=f"{r.model} x{r.scale}")

    # -- export ------------------------------------------------------------------------------------
    def _export(self) -> TrainSummary:
        c = self.config
        if not self.dist.main:
            return TrainSummary(None, self.step, self.seconds, None, {})
        scorer = self.task if c.final_eval and self.task.held else None
        best_step, final = export(self._eval_model(), self.recipe, c.weights_out, best=self.best, step=self.step,
                                  seconds=self.seconds, hardware=hardware(self.device, self.dist.world),
                                  precision=self._precision(), task=scorer, device=self.device, log=self.log)
        return TrainSummary(c.weights_out, self.step, self.seconds, best_step, final)


def train(config: RunConfig, log: Log = print, stop: Stop | None = None, graceful: Graceful | None = None) -> TrainSummary:
    return Trainer(config, log, stop, graceful).run()
