"""SRN-DeblurNet: Tao, Gao, Shen, Wang and Jia, "Scale-recurrent Network for
Deep Image Deblurring", CVPR 2018.

One encoder-decoder runs at ``levels`` scales, coarse to fine, with the same
weights at every scale. Its input at a scale is the blurry frame at that
size stacked with the previous scale's result, upsampled bilinearly (at the
coarsest scale, the blurry frame itself). The encoder has three stages
(``features``, 2x and 4x as many channels; the second and third start with a
stride-2 convolution), each a convolution and ``blocks`` residual blocks; a
ConvLSTM (Shi et al. 2015) at the bottleneck carries a hidden state from
scale to scale, upsampled bilinearly like the image; the decoder mirrors the
encoder with x2 transposed convolutions and adds the encoder's features of
the same size (skip connections). As in the authors' code, the previous
scale's estimate enters the next one without a gradient, and training
compares every scale's output with the sharp frame at that size (the
multi-scale loss). Frames are shrunk by 2x2 averaging (exact halving, and an
ONNX-friendly operation); the paper says bilinear.

Knobs: the paper uses 3 levels, 3 blocks per stage, 32 features and 5x5
kernels (a 3x3 ConvLSTM). ``residual`` (on in the shipped weights, not in the
paper) adds the blurry frame to each scale's output, so training starts from
"no change". Any frame size works: the module pads (mirrored) to a multiple
of 4 * 2^(levels-1) and crops back.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from vidrestore.models.blocks import CoarseToFine, ResBlock


class ConvLSTM(nn.Module):
    """A convolutional LSTM cell: the four gates from one convolution of [input, hidden]."""

    def __init__(self, channels: int, hidden: int, kernel: int = 3) -> None:
        super().__init__()
        self.hidden = hidden
        self.gates = nn.Conv2d(channels + hidden, 4 * hidden, kernel, padding=kernel // 2)
        with torch.no_grad():  # forget-gate bias 1: remember by default (Gers et al. 2000)
            self.gates.bias[hidden : 2 * hidden].fill_(1.0)

    def forward(self, x: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor] | None) -> tuple[torch.Tensor, torch.Tensor]:
        if state is None:
            zeros = x.new_zeros(x.shape[0], self.hidden, *x.shape[-2:])
            state = (zeros, zeros)
        h, c = state
        i, f, o, g = self.gates(torch.cat((x, h), dim=1)).chunk(4, dim=1)
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        return torch.sigmoid(o) * torch.tanh(c), c


def _stage(in_ch: int, out_ch: int, blocks: int, kernel: int, stride: int) -> nn.Sequential:
    conv = nn.Conv2d(in_ch, out_ch, kernel, stride=stride, padding=kernel // 2)
    return nn.Sequential(conv, nn.ReLU(inplace=True), *(ResBlock(out_ch, kernel=kernel) for _ in range(blocks)))


def _up(in_ch: int, out_ch: int) -> nn.Sequential:
    return nn.Sequential(nn.ConvTranspose2d(in_ch, out_ch, 4, stride=2, padding=1), nn.ReLU(inplace=True))


def _half(x: torch.Tensor) -> torch.Tensor:
    return F.avg_pool2d(x, 2)


def _double(x: torch.Tensor) -> torch.Tensor:
    return F.interpolate(x, scale_factor=2.0, mode="bilinear", align_corners=False)


class SRN(CoarseToFine):
    def __init__(
        self,
        *,
        scale: int = 1,
        levels: int = 3,
        blocks: int = 3,
        features: int = 32,
        kernel: int = 5,
        residual: bool = False,
    ) -> None:
        super().__init__(scale=scale, levels=levels, kernel=kernel)
        self.residual = residual
        f1, f2, f3 = features, 2 * features, 4 * features
        self.enc1 = _stage(6, f1, blocks, kernel, 1)
        self.enc2 = _stage(f1, f2, blocks, kernel, 2)
        self.enc3 = _stage(f2, f3, blocks, kernel, 2)
        self.lstm = ConvLSTM(f3, f3, 3)
        self.dec3 = nn.Sequential(*(ResBlock(f3, kernel=kernel) for _ in range(blocks)))
        self.up2 = _up(f3, f2)
        self.dec2 = nn.Sequential(*(ResBlock(f2, kernel=kernel) for _ in range(blocks)))
        self.up1 = _up(f2, f1)
        self.dec1 = nn.Sequential(*(ResBlock(f1, kernel=kernel) for _ in range(blocks)))
        self.out = nn.Conv2d(f1, 3, kernel, padding=kernel // 2)
        if residual:
            # The correction starts tiny: an untrained network returns its input.
            nn.init.normal_(self.out.weight, std=1e-3)
            nn.init.zeros_(self.out.bias)

    @property
    def multiple(self) -> int:
        return 4 * 2 ** (self.levels - 1)

    def _pyramid(self, x: torch.Tensor) -> list[torch.Tensor]:
        """[coarsest, ..., full size]."""
        pyramid = [x]
        for _ in range(self.levels - 1):
            pyramid.append(_half(pyramid[-1]))
        return pyramid[::-1]

    def targets(self, sharp: torch.Tensor) -> list[torch.Tensor]:
        """The sharp frame at every scale, coarse to fine: what `forward(all_scales=True)` is compared with."""
        return self._pyramid(sharp)

    def _step(self, blurry: torch.Tensor, previous: torch.Tensor,
              state: tuple[torch.Tensor, torch.Tensor] | None) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        e1 = self.enc1(torch.cat((blurry, previous), dim=1) - 0.5)  # centred on 0, as ReLU networks train best
        e2 = self.enc2(e1)
        h, c = self.lstm(self.enc3(e2), state)
        d2 = self.dec2(self.up2(self.dec3(h)) + e2)
        d1 = self.dec1(self.up1(d2) + e1)
        out = self.out(d1)
        return (out + blurry if self.residual else out), (h, c)

    def _scales(self, x: torch.Tensor) -> list[torch.Tensor]:
        outputs: list[torch.Tensor] = []
        state: tuple[torch.Tensor, torch.Tensor] | None = None
        for i, blurry in enumerate(self._pyramid(x)):
            if i == 0:
                previous = blurry
            else:
                previous = _double(outputs[-1].detach())
                state = (_double(state[0]), _double(state[1]))  # type: ignore[index]
            out, state = self._step(blurry, previous, state)
            outputs.append(out)
        return outputs
