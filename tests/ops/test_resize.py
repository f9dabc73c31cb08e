import math
import subprocess
import sys

import numpy as np
import pytest
import torch

from vidrestore.ops.resize import _contributions, chroma_shift, imresize, prepare_for_compile


def test_constant_image_stays_constant_for_every_kernel_and_scale():
    x = torch.full((1, 1, 7, 9), 0.3)
    for kernel in ("bicubic", "lanczos"):
        for scale in (2, 3, 4, 0.5, 1 / 3):
            out = imresize(x, scale=scale, kernel=kernel)
            assert out.shape[-2:] == (math.ceil(7 * scale), math.ceil(9 * scale))
            torch.testing.assert_close(out, torch.full_like(out, 0.3))


def test_upscale_x2_weights_match_keys_cubic_by_hand():
    # Output sample 4 (0-based) of a x2 upscale sits at input position 1.75:
    # distances to inputs 0..3 are 1.75, 0.75, 0.25, 1.25 and the Keys (a=-0.5)
    # weights are -0.0234375, 0.2265625, 0.8671875, -0.0703125.
    idx, w = _contributions(8, 16, 2.0, "bicubic", True, 0.0)
    expect = {0: -0.0234375, 1: 0.2265625, 2: 0.8671875, 3: -0.0703125}
    got = dict(zip(idx[4].tolist(), w[4].tolist()))
    for i, value in expect.items():
        assert got[i] == pytest.approx(value, abs=1e-6)
    assert sum(w[4]) == pytest.approx(1.0)


def test_linear_ramp_is_reproduced_inside_the_image():
    # Cubic interpolation is exact for linear signals away from the borders.
    ramp = torch.arange(20, dtype=torch.float32).reshape(1, 1, 1, 20).expand(1, 1, 4, 20)
    out = imresize(ramp, scale=3)
    centres = (torch.arange(60, dtype=torch.float32) + 0.5) / 3 - 0.5
    torch.testing.assert_close(out[0, 0, 1, 6:-6], centres[6:-6], atol=1e-4, rtol=0)


def test_antialiased_downscale_averages_fine_stripes_away():
    stripes = torch.zeros(1, 1, 32, 32)
    stripes[..., ::2] = 1.0
    out = imresize(stripes, scale=0.25)
    assert out.shape[-2:] == (8, 8)
    assert float(out[..., 2:-2, 2:-2].std()) < 0.01
    assert float(out.mean()) == pytest.approx(0.5, abs=0.02)


def test_chroma_shift_keeps_left_sited_samples_in_place():
    # A left-sited chroma edge between samples 3 and 4 sits at luma columns 6..8;
    # after x3 the output chroma sample k sits at luma column 2k of the output,
    # i.e. input luma column 2k/3: samples with 2k/3 <= 6 must be near 0.
    chroma = torch.zeros(1, 1, 1, 8)
    chroma[..., 4:] = 1.0
    shift = chroma_shift(3, True)
    out = imresize(chroma, scale=3, shift=(0.0, shift))[0, 0, 0]
    # Output chroma sample k reads input chroma position k / 3: k = 9 is chroma 3 exactly.
    assert float(out[9]) == pytest.approx(0.0, abs=1e-6)
    assert float(out[12]) == pytest.approx(1.0, abs=1e-6)
    unshifted = imresize(chroma, scale=3)[0, 0, 0]
    assert float(unshifted[12]) != pytest.approx(1.0, abs=1e-3)


def test_rejects_integer_tensors_and_unknown_kernels():
    with pytest.raises(TypeError):
        imresize(torch.zeros(1, 1, 4, 4, dtype=torch.uint8), scale=2)
    with pytest.raises(ValueError, match="unknown kernel"):
        imresize(torch.zeros(1, 1, 4, 4), scale=2, kernel="nearest")  # type: ignore[arg-type]


def test_matches_scikit_image_style_reference_on_random_data():
    # Upscaling by an integer with the fast polyphase path equals the general
    # gather path (both implement the same MATLAB contributions).
    rng = np.random.default_rng(0)
    x = torch.from_numpy(rng.random((2, 1, 9, 13), dtype=np.float32))
    fast = imresize(x, scale=3)
    general = imresize(x, size=(27, 39))  # same ratio, general path via size
    torch.testing.assert_close(fast, general, atol=1e-5, rtol=0)


def test_the_pipeline_imports_without_torch_dynamo():
    """torch.compile's machinery (about 60 MB and a second or two) loads only for the torch-compile backend."""
    code = ("import sys, vidrestore.ops.resize, vidrestore.pipeline.runner, vidrestore.pipeline.processor; "
            "print('torch._dynamo' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


def test_prepared_for_compile_the_resampler_answers_the_same():
    x = torch.rand(2, 1, 9, 13, generator=torch.Generator().manual_seed(4))
    before = imresize(x, scale=3, shift=(0.0, 1 / 3))
    prepare_for_compile()
    prepare_for_compile()  # once is enough; twice changes nothing
    assert torch.equal(imresize(x, scale=3, shift=(0.0, 1 / 3)), before)


@pytest.mark.slow
def test_a_compiled_resampler_answers_as_the_eager_one():
    x = torch.rand(2, 1, 9, 13, generator=torch.Generator().manual_seed(4))
    prepare_for_compile()
    compiled = torch.compile(lambda t: imresize(t, scale=3), dynamic=False)
    assert float((compiled(x) - imresize(x, scale=3)).abs().max()) < 1e-5
