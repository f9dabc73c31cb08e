import torch

from vidrestore.ops.color import rgb_to_y, rgb_to_y_matlab, rgb_to_ycbcr, ycbcr_to_rgb


def test_round_trip_for_every_matrix():
    rgb = torch.rand(2, 3, 5, 7)
    for matrix in ("bt601", "bt709", "bt2020"):
        torch.testing.assert_close(ycbcr_to_rgb(rgb_to_ycbcr(rgb, matrix), matrix), rgb, atol=1e-5, rtol=0)


def test_grey_has_neutral_chroma_and_luma_equal_to_level():
    grey = torch.full((1, 3, 2, 2), 0.4)
    ycc = rgb_to_ycbcr(grey, "bt709")
    torch.testing.assert_close(ycc[:, 0], torch.full((1, 2, 2), 0.4))
    torch.testing.assert_close(ycc[:, 1:], torch.full((1, 2, 2, 2), 0.5))


def test_matlab_luma_is_limited_range_and_affine_in_full_range_luma():
    white, black = torch.ones(1, 3, 1, 1), torch.zeros(1, 3, 1, 1)
    assert abs(float(rgb_to_y_matlab(white)) * 255 - 235.0) < 0.01
    assert abs(float(rgb_to_y_matlab(black)) * 255 - 16.0) < 1e-6
    rgb = torch.rand(1, 3, 4, 4)
    torch.testing.assert_close(rgb_to_y_matlab(rgb), (16 + 219 * rgb_to_y(rgb, "bt601")) / 255, atol=2e-4, rtol=0)
