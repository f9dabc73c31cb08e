"""What the protocols run: anything with `run(batch)`, whole or in cross-faded tiles.

A backend (`vidrestore.backends`) is the usual runner: it owns its model,
frozen and in eval mode on its device. The trainer cannot hand its network
to one: the network is still learning, so it must not be moved, cast or
frozen. `ModuleRunner` runs such a module where it is, as it is.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Protocol

import torch
from torch import nn

# Input pixels of context each tile shares with its neighbours. `run_tiled`
# blends over the inner half of it and never uses the outer half, so every
# output pixel it keeps saw 8 real pixels past its tile's core: more than the
# receptive field of ESPCN (4) and of the interpolators (2), whose tiled
# answers therefore equal the whole photo's.
TILE_OVERLAP = 16


class Runner(Protocol):
    device: str

    def run(self, batch: torch.Tensor) -> torch.Tensor:
        """Float NCHW on the CPU in, float NCHW on the CPU out."""
        ...


@contextmanager
def eval_mode(model: nn.Module) -> Iterator[None]:
    """Eval mode for the call (batch norm!), then the caller's mode again (a training loop's)."""
    was_training = model.training
    model.eval()
    try:
        yield
    finally:
        model.train(was_training)


class ModuleRunner:
    """A module that stays the caller's: each call runs it on `device` (where it must
    already be) in eval mode under `torch.inference_mode`, then puts its mode back.
    Outputs come back as float32 on the CPU, whatever autocast the caller has on."""

    name = "module"

    def __init__(self, module: nn.Module, device: str | torch.device = "cpu") -> None:
        self.module = module
        self.device = str(device)

    def run(self, batch: torch.Tensor) -> torch.Tensor:
        with torch.inference_mode(), eval_mode(self.module):
            return self.module(batch.to(self.device)).float().cpu()


def run_whole_or_tiled(runner: Runner, batch: torch.Tensor, *, scale: int, tile: int | None = None) -> torch.Tensor:
    """`runner.run(batch)`, or with `tile` on tile x tile input pieces blended by
    `backends.tiling.run_tiled` (with `TILE_OVERLAP` of context, less for tiles that small)."""
    if tile is None:
        return runner.run(batch)
    from vidrestore.backends.tiling import run_tiled

    return run_tiled(runner.run, batch, scale=scale, tile=tile, overlap=min(TILE_OVERLAP, tile - 1))
