"""PyTorch eager inference on CPU or CUDA.

On CUDA the model runs in fp16 or bf16 when asked (the weights converted, not
autocast: fewer casts per layer) and in channels-last layout, which lets cuDNN
pick its tensor-core convolutions.
"""

from __future__ import annotations

import torch
from torch import nn

from vidrestore.backends import Device, Precision, resolve_device
from vidrestore.errors import UsageError

DTYPES = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}


class TorchBackend:
    name = "torch"

    def __init__(self, model: nn.Module, *, device: Device = "auto", precision: Precision = "fp32") -> None:
        self.device = resolve_device(device)
        if self.device == "cpu" and precision == "fp16":
            raise UsageError("fp16 needs a GPU; on a CPU use --precision fp32 (or bf16)")
        self.dtype = DTYPES[precision]
        self.model = model.eval().to(self.device, self.dtype)
        self.channels_last = self.device == "cuda"
        if self.channels_last:
            self.model = self.model.to(memory_format=torch.channels_last)
            torch.backends.cudnn.benchmark = True
        for p in self.model.parameters():
            p.requires_grad_(False)

    def run_device(self, batch: torch.Tensor) -> torch.Tensor:
        """The batch on the backend's device in, the result there out (float32)."""
        x = batch.to(self.device, self.dtype, non_blocking=True)
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        with torch.inference_mode():
            return self.model(x).float()

    def run(self, batch: torch.Tensor) -> torch.Tensor:
        return self.run_device(batch).cpu()
