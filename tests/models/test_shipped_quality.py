"""Every shipped RGB model must beat bicubic on photos it never saw, and
SRGAN must come out sharper than the SRResNet it started from.

The photos are centre crops of scikit-image samples that are not among the
training or held-out images (training/README.md lists those): the cameraman,
the retina and the coins. Scored with `evaluate`, the papers' protocol (MATLAB
bicubic LR, MATLAB Y, border crop).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from vidrestore.backends import open_backend
from vidrestore.eval.photos import make_lr
from vidrestore.eval.sr import EvalImage, evaluate, evaluate_bicubic
from vidrestore.models import get_spec, load

skdata = pytest.importorskip("skimage.data")

# (model, scale, least gain in dB): well below what the shipped files measure
# on the held-out photos, so that only a broken or missing file fails.
SHIPPED = [("edsr", 2, 0.8), ("edsr", 3, 0.6), ("edsr", 4, 0.5), ("srresnet", 4, 0.5)]


def _rgb(image: np.ndarray, side: int = 192) -> torch.Tensor:
    if image.ndim == 2:
        image = np.repeat(image[..., None], 3, axis=2)
    h, w = image.shape[:2]
    y, x = (h - side) // 2, (w - side) // 2
    crop = image[y : y + side, x : x + side, :3]
    return torch.from_numpy(np.ascontiguousarray(crop)).permute(2, 0, 1).float() / 255


@pytest.fixture(scope="module")
def unseen() -> list[torch.Tensor]:
    return [_rgb(skdata.camera()), _rgb(skdata.retina(), 240), _rgb(skdata.coins())]


def _images(photos: list[torch.Tensor], scale: int) -> list[EvalImage]:
    return [EvalImage(f"photo{i}", make_lr(hr, scale), hr) for i, hr in enumerate(photos)]


@pytest.mark.parametrize("name, scale, least", SHIPPED)
def test_shipped_model_beats_bicubic_on_unseen_photos(unseen, name: str, scale: int, least: float) -> None:
    spec = get_spec(name)
    assert spec.weights_path(scale).is_file(), f"shipped weights missing: {spec.weights_path(scale)}"
    images = _images(unseen, scale)
    model = open_backend("torch", load(name, scale=scale), "cpu")
    gain = evaluate(model, spec.color, images, scale, metrics=("psnr",)).mean("psnr") - \
        evaluate_bicubic(images, scale, metrics=("psnr",)).mean("psnr")
    assert gain > least, f"{name} x{scale} gains only {gain:.2f} dB over bicubic"


def test_srgan_is_sharper_than_srresnet(unseen) -> None:
    images = _images(unseen, 4)
    scores = {name: evaluate(open_backend("torch", load(name, scale=4), "cpu"), "rgb", images, 4, metrics=("psnr", "grad_energy"))
              for name in ("srresnet", "srgan")}
    sharper = scores["srgan"].mean("grad_energy") / scores["srresnet"].mean("grad_energy")
    assert sharper > 1.05, f"SRGAN's gradient energy is only {sharper:.2f}x SRResNet's"
    # Adversarial training trades PSNR for texture, but must not wreck the image.
    assert scores["srgan"].mean("psnr") > scores["srresnet"].mean("psnr") - 3.0


def test_all_shipped_weights_stay_small() -> None:
    from vidrestore.models.registry import WEIGHTS_DIR

    total = sum(p.stat().st_size for p in WEIGHTS_DIR.glob("*.safetensors"))
    assert total < 40 * 2**20, f"shipped weights total {total / 2**20:.1f} MiB"
