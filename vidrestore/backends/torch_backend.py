"""PyTorch eager inference on CPU or CUDA."""

from __future__ import annotations

import torch
from torch import nn

from vidrestore.backends import Device, resolve_device


class TorchBackend:
    name = "torch"

    def __init__(self, model: nn.Module, *, device: Device = "auto") -> None:
        self.device = resolve_device(device)
        self.model = model.eval().to(self.device)
        for p in self.model.parameters():
            p.requires_grad_(False)

    def run(self, batch: torch.Tensor) -> torch.Tensor:
        with torch.inference_mode():
            out = self.model(batch.to(self.device, non_blocking=True))
        return out.float().cpu()
