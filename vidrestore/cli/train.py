"""`vidrestore train`: train a model from a recipe."""

from __future__ import annotations

from pathlib import Path

import click

from vidrestore.cli.errors import user_errors


@click.command()
@click.argument("recipe")
@click.option("--data", "data", type=click.Path(path_type=Path), multiple=True, required=True,
              help="Training data, repeatable. Super-resolution: a folder of HR images, or a DIV2K-layout folder "
                   "(NAME_HR/ and NAME_LR_bicubic/X<scale>/). Deblurring: a folder of sharp images (blurred on the "
                   "fly), a GOPRO-layout folder (.../blur/ and .../sharp/), or a sharp video (frames averaged).")
@click.option("--run-dir", type=click.Path(path_type=Path), help="Folder for the checkpoint, logs and TensorBoard "
              "events. Default: runs/<recipe name>.")
@click.option("-o", "--output", type=click.Path(path_type=Path), help="Where to write the final fp16 safetensors "
              "weights. Default: <run-dir>/<model>_x<scale>.safetensors.")
@click.option("--steps", type=click.IntRange(1), help="Override the recipe's step budget.")
@click.option("--minutes", type=click.FloatRange(min=0, min_open=True), help="Override the recipe's time budget "
              "(training time; validation not counted).")
@click.option("--resume", is_flag=True, help="Continue the run in --run-dir from its checkpoint.")
@click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda or cuda:N (torchrun sets one GPU per process).")
@click.option("--amp", type=click.Choice(["auto", "off", "bf16", "fp16"]), help="Override the recipe's mixed precision.")
@click.option("--workers", type=click.IntRange(0), help="Data-loading processes (default: 0 on CPU, up to 8 on CUDA).")
@click.option("--vgg", type=click.Path(path_type=Path), help="VGG19 weights (torchvision layout, .pth or "
              ".safetensors) for recipes with a perceptual loss.")
@click.option("--init", help="Start from these weights (a path or shipped:MODEL:xS); tensors that fit are copied.")
@click.option("--val", help="Held-out images: auto, builtin, none, or a file of names (one per line).")
@click.option("--seed", type=int, help="Override the recipe's seed.")
@click.option("--threads", type=click.IntRange(1), help="CPU threads for PyTorch.")
@click.option("--no-final-eval", is_flag=True, help="Skip scoring the exported weights on the whole held-out photos.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
@click.option("--debug", is_flag=True, help="Show tracebacks for errors.")
@user_errors
def train(recipe: str, data: tuple[Path, ...], run_dir: Path | None, output: Path | None, steps: int | None,
          minutes: float | None, resume: bool, device: str, amp: str | None, workers: int | None, vgg: Path | None,
          init: str | None, val: str | None, seed: int | None, threads: int | None, no_final_eval: bool,
          quiet: bool, debug: bool) -> None:
    """Train a model from RECIPE: a recipe file or a shipped recipe name.

    \b
    Shipped recipes (training/recipes/): edsr_x2, edsr_x3, edsr_x4, srresnet_x4, srgan_x4,
    srgan_vgg54_x4 (needs --vgg), espcn_x2, espcn_x3, espcn_x4, espcn_lite_x2, espcn_lite_x3,
    espcn_lite_x4; deblurring: srn, deepdeblur. Second stages, continuing the installed weights:
    espcn_x2_finetune .. espcn_x4_finetune, edsr_x2_finetune .. edsr_x4_finetune.
    Examples:
      vidrestore train edsr_x2 --data DIV2K --minutes 600
      vidrestore train srn --data GOPRO_Large/train --data my_sharp_photos/
    Several GPUs: torchrun --nproc-per-node 4 -m vidrestore train edsr_x2 --data DIV2K
    """
    import dataclasses

    import torch

    from vidrestore import signals
    from vidrestore.training.recipe import load_recipe
    from vidrestore.training.trainer import RunConfig
    from vidrestore.training.trainer import train as run_training

    if threads:
        torch.set_num_threads(threads)
    r = load_recipe(recipe)
    data_changes = {"val": val, "workers": workers}
    r = dataclasses.replace(r, data=dataclasses.replace(r.data, **{k: v for k, v in data_changes.items() if v is not None}))
    if steps is not None or minutes is not None:
        # A budget given on the command line replaces the recipe's whole budget.
        r = dataclasses.replace(r, steps=steps, minutes=minutes)
    r = r.with_overrides(amp=amp, init=init, seed=seed)
    name = Path(recipe).stem
    config = RunConfig(recipe=r, data=data, run_dir=run_dir or Path("runs") / name, output=output, device=device,
                       resume=resume, vgg=vgg, progress=not quiet, final_eval=not no_final_eval)
    stop = signals.Stop()  # a signal ends the step in hand, then a checkpoint is saved
    with signals.graceful(stop.request, outcome=lambda: f"no checkpoint was saved in {config.run_dir}") as handle:
        summary = run_training(config, log=lambda message: click.echo(message, err=True), stop=stop, graceful=handle)
    if summary.output is not None:
        click.echo(str(summary.output))
