"""VGG19 features for perceptual losses, in torchvision's `vgg19().features` layout.

The network is VGG19 (Simonyan and Zisserman, "Very Deep Convolutional
Networks for Large-Scale Image Recognition", ICLR 2015), convolutional part
only: sixteen 3x3 convolutions with a ReLU after each and a 2x2 max-pool
after each block. Modules sit at torchvision's indices (convolutions at
0, 2, 5, 7, 10, 12, 14, 16, 19, 21, 23, 25, 28, 30, 32, 34, pools at 4, 9,
18, 27, 36), so its state dict keys are ``features.{i}.weight/bias`` and
torchvision's ImageNet weights load as they are. Nothing from torchvision is
imported; the user supplies the weights file.

Layer names: ``conv{b}_{j}`` is the j-th convolution of block b before its
ReLU, ``relu{b}_{j}`` the same feature map after it, ``pool{b}`` the block's
max-pool. SRGAN's phi_{5,4} (Ledig et al., "Photo-Realistic Single Image
Super-Resolution Using a Generative Adversarial Network", CVPR 2017) is "the
feature map obtained by the 4th convolution (after activation) before the 5th
max-pooling layer", i.e. ``relu5_4``, the default. ESRGAN (Wang et al. 2018)
takes features before the activation instead: ``conv5_4``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from vidrestore.errors import WeightsError

_BLOCKS = (2, 2, 4, 4, 4)  # convolutions per block
_WIDTHS = (64, 128, 256, 512, 512)
# ImageNet statistics that torchvision's VGG weights were trained with.
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def _layout() -> tuple[tuple[str, str, int, int], ...]:
    """(name, kind, in channels, out channels) of every module of `features`, in order."""
    layers = []
    channels = 3
    for block, (convs, width) in enumerate(zip(_BLOCKS, _WIDTHS, strict=True), start=1):
        for j in range(1, convs + 1):
            layers.append((f"conv{block}_{j}", "conv", channels, width))
            layers.append((f"relu{block}_{j}", "relu", width, width))
            channels = width
        layers.append((f"pool{block}", "pool", width, width))
    return tuple(layers)


_LAYOUT = _layout()
LAYER_NAMES = tuple(name for name, *_ in _LAYOUT)
CONV_INDICES = tuple(i for i, (_, kind, *_) in enumerate(_LAYOUT) if kind == "conv")


class VGG19Features(nn.Module):
    """VGG19's convolutional layers up to and including `upto`; returns that layer's output.

    Takes ImageNet-normalised RGB (see `PerceptualLoss`), any size; each pool
    halves it (rounding down).
    """

    def __init__(self, *, upto: str = "relu5_4") -> None:
        super().__init__()
        if upto not in LAYER_NAMES:
            raise ValueError(f"unknown VGG19 layer {upto!r}; expected one of {', '.join(LAYER_NAMES)}")
        self.upto = upto
        modules: list[nn.Module] = []
        for _, kind, cin, cout in _LAYOUT[: LAYER_NAMES.index(upto) + 1]:
            if kind == "conv":
                modules.append(nn.Conv2d(cin, cout, kernel_size=3, padding=1))
            elif kind == "relu":
                modules.append(nn.ReLU(inplace=True))
            else:
                modules.append(nn.MaxPool2d(kernel_size=2, stride=2))
        self.features = nn.Sequential(*modules)
        self.out_channels = _LAYOUT[LAYER_NAMES.index(upto)][3]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x)


def load_vgg19(path: Path, upto: str = "relu5_4") -> VGG19Features:
    """Frozen VGG19Features in eval mode with weights from `path`.

    `path` is .safetensors, or .pth/.pt read with ``torch.load(weights_only=True)``
    (tensors only, nothing else is unpickled). It holds a whole vgg19 state
    dict (``features.*``; ``classifier.*`` is ignored) or the bare state dict of
    `features` (``0.weight``, ...). Convolutions past `upto` are not used.
    """
    with torch.device("meta"):  # no random init: every tensor comes from the file
        model = VGG19Features(upto=upto)
    path = Path(path)
    tensors = _read_state_dict(path)
    if tensors and not any(k.startswith(("features.", "classifier.")) for k in tensors):
        tensors = {f"features.{k}": v for k, v in tensors.items()}
    full = {f"features.{i}.{p}" for i in CONV_INDICES for p in ("weight", "bias")}
    tensors = {k: v for k, v in tensors.items() if not k.startswith("classifier.")}
    unexpected = sorted(set(tensors) - full, key=_key_order)
    if unexpected:
        hint = " (batch-norm keys: vgg19_bn weights do not fit plain vgg19)" if any("running_" in k for k in unexpected) else ""
        raise WeightsError(f"{path} is not a vgg19 state dict: unexpected keys {unexpected[:4]}{hint}")
    expected = model.state_dict()
    missing = sorted(set(expected) - set(tensors), key=_key_order)
    if missing:
        raise WeightsError(f"{path} lacks {len(missing)} vgg19 tensors up to {upto}: {missing[:4]}")
    for key, value in expected.items():
        if tensors[key].shape != value.shape:
            raise WeightsError(f"{path}: {key} has shape {tuple(tensors[key].shape)}, vgg19 needs {tuple(value.shape)}")
    model.load_state_dict({k: tensors[k].float().contiguous() for k in expected}, assign=True)
    return model.requires_grad_(False).eval()


def _read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    from vidrestore.models.convert import read_checkpoint

    if not path.is_file():
        raise WeightsError(f"VGG19 weights file not found: {path}")
    if path.suffix.lower() not in (".safetensors", ".pth", ".pt"):
        raise WeightsError(f"{path}: VGG19 weights must be .safetensors, .pth or .pt")
    state = read_checkpoint(path)
    if not isinstance(state, dict) or not all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in state.items()):
        raise WeightsError(f"{path} does not hold a state dict (a mapping of names to tensors)")
    return state


def _key_order(key: str) -> tuple[int, str]:
    parts = key.split(".")
    return (int(parts[1]), key) if len(parts) > 2 and parts[1].isdigit() else (-1, key)


Criterion = Literal["l1", "mse"]
_CRITERIA = {"l1": F.l1_loss, "mse": F.mse_loss}


class PerceptualLoss(nn.Module):
    """Distance between VGG19 feature maps of two RGB batches (N, 3, H, W) in [0, 1].

    Inputs are normalised with the ImageNet mean and std that torchvision's
    weights expect. Feature maps are multiplied by `rescale` before the
    criterion: SRGAN (Ledig et al. 2017, section 3.2 and training details)
    rescales them by 1/12.75 so that the VGG loss is comparable to the pixel
    MSE. Their VGG took Caffe-style 0-255 inputs, so with our normalisation
    the factor is a starting point rather than an equivalence. The target's
    features are computed without gradient; the VGG's parameters are frozen.
    """

    def __init__(self, features: VGG19Features, *, criterion: Criterion = "mse", rescale: float = 1 / 12.75) -> None:
        super().__init__()
        if criterion not in _CRITERIA:
            raise ValueError(f"unknown criterion {criterion!r}; expected one of {', '.join(_CRITERIA)}")
        self.features = features.requires_grad_(False).eval()
        self.criterion = criterion
        self.rescale = rescale
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)

    def train(self, mode: bool = True) -> PerceptualLoss:
        # The VGG stays in eval mode whatever the model being trained does.
        super().train(mode)
        self.features.eval()
        return self

    def forward(self, input: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        if input.dim() != 4 or input.shape[1] != 3 or input.shape != target.shape:
            raise ValueError(f"input and target must both be (N, 3, H, W); got {tuple(input.shape)} and {tuple(target.shape)}")
        with torch.no_grad():
            target_features = self._features(target)
        return _CRITERIA[self.criterion](self._features(input), target_features)

    def _features(self, x: torch.Tensor) -> torch.Tensor:
        return self.features((x - self.mean) / self.std) * self.rescale
