"""Training losses: pixel (L1, MSE), VGG19 perceptual, adversarial.

`ContentLoss` sums the weighted pixel and perceptual terms of a recipe; the
adversarial term lives with the discriminator in the trainer. The perceptual
term needs VGG19 weights the user supplies (torchvision's layout, see
`vgg.py`): nothing is downloaded.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from vidrestore.errors import UsageError


class ContentLoss(nn.Module):
    def __init__(self, weights: dict[str, float], *, border: int = 0, vgg: Path | None = None,
                 perceptual_layer: str = "relu5_4") -> None:
        super().__init__()
        self.weights = {k: float(v) for k, v in weights.items() if k != "adversarial" and v}
        self.border = border
        self.perceptual: nn.Module | None = None
        if "perceptual" in self.weights:
            if vgg is None:
                raise UsageError("the recipe has a perceptual loss: give VGG19 weights with --vgg PATH "
                                 "(torchvision's vgg19 state dict, .pth or .safetensors)")
            from vidrestore.training.vgg import PerceptualLoss, load_vgg19

            self.perceptual = PerceptualLoss(load_vgg19(vgg, upto=perceptual_layer))

    def forward(self, pred: torch.Tensor, target: torch.Tensor) -> dict[str, torch.Tensor]:
        """Each weighted term, and their sum under "total"."""
        b = self.border
        if b:
            pred, target = pred[..., b:-b, b:-b], target[..., b:-b, b:-b]
        pred, target = pred.float(), target.float()
        terms: dict[str, torch.Tensor] = {}
        if "l1" in self.weights:
            terms["l1"] = self.weights["l1"] * F.l1_loss(pred, target)
        if "mse" in self.weights:
            terms["mse"] = self.weights["mse"] * F.mse_loss(pred, target)
        if self.perceptual is not None:
            terms["perceptual"] = self.weights["perceptual"] * self.perceptual(pred, target)
        terms["total"] = sum(terms.values())  # type: ignore[assignment]
        return terms


def gan_loss(logits: torch.Tensor, real: bool) -> torch.Tensor:
    """Binary cross-entropy of the discriminator's logits (the sigmoid inside)."""
    target = torch.ones_like(logits) if real else torch.zeros_like(logits)
    return F.binary_cross_entropy_with_logits(logits.float(), target)
