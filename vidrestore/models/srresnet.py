"""SRResNet and the SRGAN discriminator: Ledig et al., "Photo-Realistic Single
Image Super-Resolution Using a Generative Adversarial Network", CVPR 2017.

The generator (SRResNet; called SRGAN once fine-tuned adversarially): a 9x9
head convolution with PReLU, 16 residual blocks (conv, batch norm, PReLU,
conv, batch norm), a conv + batch norm closing the body with a long skip, two
x2 upsampling stages (conv to 4x features, pixel shuffle, PReLU) and a 9x9
convolution to RGB. It works on 0-1 RGB.

``residual`` (off in the paper, on in the shipped weights) adds a bicubic
upscale of the input to the output, as VDSR does and our ESPCN does, so the
network starts at the bicubic answer and learns only the missing detail. From
scratch on a 2-core CPU the plain network was still 2.4 dB below bicubic on
held-out crops after 1000 steps (8 minutes); with the skip it starts at 0 dB.

The discriminator is the paper's VGG-style classifier: eight 3x3 convolutions
(64, 64, 128, 128, 256, 256, 512, 512 features, stride 2 on every second one,
batch norm from the second on, LeakyReLU 0.2), then dense 1024, LeakyReLU and
dense 1. The paper feeds it 96x96 crops; an adaptive pool before the dense
layers lets other patch sizes through. It returns logits (no sigmoid): the
loss applies one, which is the numerically stable form.
"""

from __future__ import annotations

import torch
from torch import nn

from vidrestore.ops.resize import imresize


class ResBlockBN(nn.Module):
    def __init__(self, features: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(features, features, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(features)
        self.act = nn.PReLU(features)
        self.conv2 = nn.Conv2d(features, features, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.bn2(self.conv2(self.act(self.bn1(self.conv1(x)))))


class SRResNet(nn.Module):
    def __init__(self, *, scale: int = 4, blocks: int = 16, features: int = 64, residual: bool = False) -> None:
        super().__init__()
        if scale not in (2, 4):
            raise ValueError(f"SRResNet upsamples in x2 stages: scale must be 2 or 4, got {scale}")
        self.scale = scale
        self.head = nn.Sequential(nn.Conv2d(3, features, 9, padding=4), nn.PReLU(features))
        self.body = nn.Sequential(*(ResBlockBN(features) for _ in range(blocks)))
        self.body_end = nn.Sequential(nn.Conv2d(features, features, 3, padding=1, bias=False), nn.BatchNorm2d(features))
        stages: list[nn.Module] = []
        for _ in range(scale // 2):
            stages += [nn.Conv2d(features, features * 4, 3, padding=1), nn.PixelShuffle(2), nn.PReLU(features)]
        self.upsample = nn.Sequential(*stages)
        self.tail = nn.Conv2d(features, 3, 9, padding=4)
        self.residual = residual
        if residual:
            # The detail branch starts tiny: the output starts as bicubic.
            nn.init.normal_(self.tail.weight, std=1e-3)
            nn.init.zeros_(self.tail.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.head(x)
        y = y + self.body_end(self.body(y))
        y = self.tail(self.upsample(y))
        if self.residual:
            y = y + imresize(x, scale=self.scale, kernel="bicubic")
        return y


class Discriminator(nn.Module):
    def __init__(self, *, features: int = 64, pooled: int = 6) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        channels = 3
        for i in range(8):
            out = features * 2 ** (i // 2)
            stride = 2 if i % 2 else 1
            layers.append(nn.Conv2d(channels, out, 3, stride=stride, padding=1, bias=i == 0))
            if i:
                layers.append(nn.BatchNorm2d(out))
            layers.append(nn.LeakyReLU(0.2, inplace=True))
            channels = out
        self.features = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(pooled)
        self.classifier = nn.Sequential(
            nn.Flatten(),
            nn.Linear(channels * pooled * pooled, 1024),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Linear(1024, 1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.pool(self.features(x))).squeeze(1)
