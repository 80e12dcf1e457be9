"""Batched augmentations: shapes, ranges, seeding, per-sample parameters, and that each does its job."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from neuroembed.ssl.augment import (
    Augment,
    MultiCrop,
    color_jitter,
    default_blur_kernel,
    gaussian_blur,
    random_grayscale,
    random_horizontal_flip,
    random_resized_crop,
    random_solarize,
)


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def images(n: int = 8, c: int = 3, h: int = 12, w: int = 10, seed: int = 0) -> torch.Tensor:
    return torch.rand(n, c, h, w, generator=gen(seed))


def ramp(n: int, h: int, w: int) -> torch.Tensor:
    """Images whose channel 0 holds the column index and channel 1 the row index (scaled to [0, 1])."""
    cols = torch.linspace(0, 1, w).expand(h, w)
    rows = torch.linspace(0, 1, h)[:, None].expand(h, w)
    return torch.stack([cols, rows]).expand(n, 2, h, w).clone()


ALL = [
    lambda x, g: random_resized_crop(x, 6, generator=g),
    lambda x, g: random_horizontal_flip(x, generator=g),
    lambda x, g: color_jitter(x, generator=g),
    lambda x, g: random_grayscale(x, p=0.5, generator=g),
    lambda x, g: gaussian_blur(x, generator=g),
    lambda x, g: random_solarize(x, p=0.5, generator=g),
    lambda x, g: Augment()(x, g),
]


@pytest.mark.parametrize("fn", ALL)
def test_seeded_reproducible_in_range_and_random(fn):
    x = images()
    a, b = fn(x, gen(1)), fn(x, gen(1))
    assert torch.equal(a, b)
    assert a.min() >= 0 and a.max() <= 1
    assert a.dtype == x.dtype
    assert not torch.equal(fn(x, gen(2)), a)
    assert torch.equal(x, images())  # input untouched


def test_random_resized_crop_shapes_and_identity():
    x = images(4, 1, 8, 8)
    assert random_resized_crop(x, (5, 7), generator=gen()).shape == (4, 1, 5, 7)
    full = random_resized_crop(x, 8, scale=(1.0, 1.0), ratio=(1.0, 1.0), generator=gen())
    assert torch.allclose(full, x, atol=1e-5)


def test_random_resized_crop_really_crops_a_box_of_the_requested_area():
    n, h, w = 64, 32, 32
    x = ramp(n, h, w)
    out = random_resized_crop(x, 16, scale=(0.25, 0.25), ratio=(1.0, 1.0), generator=gen())
    cols, rows = out[:, 0], out[:, 1]
    col_span = cols.amax(dim=(1, 2)) - cols.amin(dim=(1, 2))
    row_span = rows.amax(dim=(1, 2)) - rows.amin(dim=(1, 2))
    # a quarter of the area, square: half of each side (ramp spans about (w / 2 - 1) / (w - 1))
    assert torch.allclose(col_span, torch.full((n,), 0.5), atol=0.06)
    assert torch.allclose(row_span, torch.full((n,), 0.5), atol=0.06)
    # every sample draws its own box position
    starts = cols.amin(dim=(1, 2))
    assert starts.unique().numel() > n // 2
    assert starts.min() >= 0 and cols.amax() <= 1


def test_random_resized_crop_aspect_ratio():
    x = ramp(32, 32, 32)
    out = random_resized_crop(x, 16, scale=(0.25, 0.25), ratio=(4.0, 4.0), generator=gen())
    col_span = out[:, 0].amax(dim=(1, 2)) - out[:, 0].amin(dim=(1, 2))
    row_span = out[:, 1].amax(dim=(1, 2)) - out[:, 1].amin(dim=(1, 2))
    # width / height = 4 with area 1/4: width 1 (the whole image), height 1/4
    assert torch.allclose(col_span, torch.ones(32), atol=0.05)
    assert torch.allclose(row_span, torch.full((32,), 0.25), atol=0.06)


def test_flip_really_flips_per_sample():
    x = images(64, 1, 4, 5)
    assert torch.equal(random_horizontal_flip(x, p=1.0, generator=gen()), x.flip(-1))
    assert torch.equal(random_horizontal_flip(x, p=0.0, generator=gen()), x)
    out = random_horizontal_flip(x, p=0.5, generator=gen())
    flipped = (out == x.flip(-1)).flatten(1).all(1)
    same = (out == x).flatten(1).all(1)
    assert torch.all(flipped ^ same)
    assert 16 < int(flipped.sum()) < 48


def test_color_jitter_probability_zero_is_identity():
    x = images()
    assert torch.equal(color_jitter(x, p=0.0, generator=gen()), x)


def test_color_jitter_brightness_is_a_per_sample_factor():
    x = images(16, 3, 6, 6) * 0.5  # no clipping for factors up to 2
    out = color_jitter(
        x, brightness=0.5, contrast=0.0, saturation=0.0, hue=0.0, p=1.0, generator=gen()
    )
    # each sample's factor, read where its pixel is largest (a ratio of two tiny values carries their rounding)
    flat_x, flat_out = x.flatten(1), out.flatten(1)
    brightest = flat_x.argmax(1, keepdim=True)
    factors = (flat_out.gather(1, brightest) / flat_x.gather(1, brightest)).squeeze(1)
    torch.testing.assert_close(flat_out, flat_x * factors[:, None], rtol=1e-5, atol=1e-6)
    assert factors.min() >= 0.5 - 1e-5 and factors.max() <= 1.5 + 1e-5
    assert factors.unique().numel() == 16


def test_color_jitter_contrast_and_saturation_blend_towards_gray():
    x = images(4, 3, 6, 6)
    out = color_jitter(
        x, brightness=0.0, contrast=0.0, saturation=1.0, hue=0.0, p=1.0, generator=gen(3)
    )
    gray = (x * torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)).sum(1, keepdim=True)
    # out = clamp(s * x + (1 - s) * gray): solve s from one pixel and check all others
    s = ((out - gray) / (x - gray))[:, :, 0, 0].mean(1).view(-1, 1, 1, 1)
    expected = (s * x + (1 - s) * gray).clamp(0, 1)
    assert torch.allclose(out, expected, atol=1e-4)


def test_color_jitter_hue_preserves_gray_and_luma():
    gray = torch.rand(4, 1, 5, 5, generator=gen()).expand(4, 3, 5, 5).contiguous()
    out = color_jitter(
        gray, brightness=0.0, contrast=0.0, saturation=0.0, hue=0.5, p=1.0, generator=gen()
    )
    assert torch.allclose(out, gray, atol=1e-5)  # no chroma to rotate
    x = images(4, 3, 5, 5) * 0.6 + 0.2
    out = color_jitter(
        x, brightness=0.0, contrast=0.0, saturation=0.0, hue=0.1, p=1.0, generator=gen()
    )
    luma = torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)
    assert torch.allclose((out * luma).sum(1), (x * luma).sum(1), atol=1e-3)
    assert not torch.allclose(out, x, atol=1e-3)


def test_color_jitter_single_channel():
    x = images(4, 1, 5, 5)
    out = color_jitter(x, p=1.0, generator=gen())
    assert out.shape == x.shape and not torch.equal(out, x)


def test_grayscale():
    x = images(32, 3, 4, 4)
    out = random_grayscale(x, p=1.0, generator=gen())
    luma = (x * torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)).sum(1)
    for c in range(3):
        assert torch.allclose(out[:, c], luma, atol=1e-6)
    mixed = random_grayscale(x, p=0.5, generator=gen())
    is_gray = (mixed[:, 0] == mixed[:, 1]).flatten(1).all(1)
    assert torch.equal(mixed[~is_gray], x[~is_gray])
    single = images(4, 1, 4, 4)
    assert torch.equal(random_grayscale(single, p=1.0, generator=gen()), single)


def _reference_blur(img: np.ndarray, sigma: float, k: int) -> np.ndarray:
    """Slow 2-D Gaussian blur of one (H, W) image with edge replication, by explicit sums."""
    offsets = np.arange(k) - k // 2
    kern = np.exp(-(offsets**2) / (2 * sigma**2))
    kern /= kern.sum()
    h, w = img.shape
    out = np.zeros_like(img)
    for i in range(h):
        for j in range(w):
            total = 0.0
            for a, da in enumerate(offsets):
                for b, db in enumerate(offsets):
                    ii, jj = min(max(i + da, 0), h - 1), min(max(j + db, 0), w - 1)
                    total += kern[a] * kern[b] * img[ii, jj]
            out[i, j] = total
    return out


def test_gaussian_blur_matches_slow_reference():
    x = images(3, 2, 7, 6, seed=4)
    out = gaussian_blur(x, sigma=(1.3, 1.3), p=1.0, kernel_size=5, generator=gen())
    for n in range(3):
        for c in range(2):
            ref = _reference_blur(x[n, c].double().numpy(), 1.3, 5)
            assert np.allclose(out[n, c].numpy(), ref, atol=1e-5)


def test_gaussian_blur_per_sample_sigma_and_probability():
    x = torch.zeros(64, 1, 9, 9)
    x[:, :, 4, 4] = 1.0
    out = gaussian_blur(x, sigma=(0.3, 2.0), p=0.5, kernel_size=7, generator=gen())
    centre = out[:, 0, 4, 4]
    untouched = centre == 1.0
    assert 16 < int(untouched.sum()) < 48
    assert torch.equal(out[untouched], x[untouched])
    assert torch.allclose(out.sum(dim=(1, 2, 3)), torch.ones(64), atol=1e-5)  # mass kept
    assert centre[~untouched].unique().numel() == int((~untouched).sum())  # own sigma each
    assert torch.equal(gaussian_blur(x, p=0.0, generator=gen()), x)
    with pytest.raises(ValueError, match="odd"):
        gaussian_blur(x, kernel_size=4)
    assert default_blur_kernel(8, 8) == 3 and default_blur_kernel(224, 224) == 23


def test_solarize():
    x = torch.tensor([0.1, 0.5, 0.9]).view(1, 1, 1, 3)
    assert torch.allclose(random_solarize(x, p=1.0), torch.tensor([0.1, 0.5, 0.1]).view(1, 1, 1, 3))
    assert torch.equal(random_solarize(x, p=0.0), x)


def test_augment_pipeline_sizes_and_validation():
    x = images(4, 3, 12, 12)
    assert Augment()(x, gen()).shape == x.shape
    assert Augment(crop_size=(6, 5))(x, gen()).shape == (4, 3, 6, 5)
    off = Augment(
        crop_scale=(1.0, 1.0), crop_ratio=(1.0, 1.0), flip_p=0, jitter_p=0, grayscale_p=0, blur_p=0
    )
    assert torch.allclose(off(x, gen()), x, atol=1e-5)
    assert torch.equal(Augment(solarize_p=1.0)(x, gen(5)), Augment(solarize_p=1.0)(x, gen(5)))
    for bad in [
        {"crop_scale": (0.5, 0.2)},
        {"crop_scale": (0.0, 1.0)},
        {"flip_p": 1.5},
        {"brightness": -1},
        {"hue": 0.7},
        {"crop_size": 0},
        {"blur_sigma": (2.0, 1.0)},
    ]:
        with pytest.raises(ValueError):
            Augment(**bad)


def test_sizes_take_numpy_integers_and_refuse_other_types_clearly():
    x = images(2, 1, 8, 8)
    assert Augment(crop_size=np.int64(6))(x, gen()).shape == (2, 1, 6, 6)
    assert Augment(crop_size=[4, 6])(x, gen()).shape == (2, 1, 4, 6)
    assert len(MultiCrop(n_local=np.int64(1), local_size=np.int32(3))(x, gen())[1]) == 1
    with pytest.raises(TypeError, match=r"crop_size must be an int or a pair of ints .*got 7.5"):
        Augment(crop_size=7.5)
    with pytest.raises(ValueError, match=r"flip_p must be a probability in \[0, 1\]; got 'a'"):
        Augment(flip_p="a")
    with pytest.raises(ValueError, match="local_size must be positive; got 0"):
        MultiCrop(local_size=0)
    with pytest.raises(TypeError, match=r"global_size must be .* got \(4,\)"):
        MultiCrop(global_size=(4,))
    with pytest.raises(TypeError, match="n_global and n_local must be integers; got 1.5"):
        MultiCrop(n_global=1.5)


def test_augments_reject_bad_input_and_generator_device():
    with pytest.raises(ValueError, match="floating-point tensor"):
        random_horizontal_flip(torch.zeros(2, 3, 4, 4, dtype=torch.uint8))
    with pytest.raises(ValueError, match="floating-point tensor"):
        Augment()(torch.zeros(3, 4, 4), gen())
    elsewhere = torch.zeros(2, 1, 4, 4, device="meta")  # any device other than the generator's
    with pytest.raises(ValueError, match="generator lives on cpu but the images on meta"):
        random_horizontal_flip(elsewhere, generator=gen())


def test_multi_crop_views():
    x = images(5, 1, 14, 14)
    mc = MultiCrop(n_global=2, n_local=3)
    globals_, locals_ = mc(x, gen())
    assert [tuple(v.shape) for v in globals_] == [(5, 1, 14, 14)] * 2
    assert [tuple(v.shape) for v in locals_] == [(5, 1, 6, 6)] * 3
    assert not torch.equal(globals_[0], globals_[1])
    g2, l2 = mc(x, gen())
    assert all(torch.equal(a, b) for a, b in zip(globals_ + locals_, g2 + l2))
    sized = MultiCrop(n_local=1, global_size=10, local_size=(4, 3))
    g, loc = sized(x, gen())
    assert g[0].shape == (5, 1, 10, 10) and loc[0].shape == (5, 1, 4, 3)
    assert MultiCrop(n_local=0)(x, gen())[1] == []
    with pytest.raises(ValueError, match="n_global"):
        MultiCrop(n_global=0)
    with pytest.raises(TypeError, match="view must be an Augment"):
        MultiCrop(view="strong")


def test_local_crops_cover_small_areas():
    x = ramp(32, 28, 28)
    mc = MultiCrop(
        n_local=1,
        local_scale=(0.05, 0.1),
        global_scale=(0.9, 1.0),
        view=Augment(flip_p=0, jitter_p=0, grayscale_p=0, blur_p=0),
    )
    globals_, locals_ = mc(x, gen())
    span = lambda v: v[:, 0].amax(dim=(1, 2)) - v[:, 0].amin(dim=(1, 2))  # noqa: E731
    assert span(locals_[0]).max() < 0.5 < span(globals_[0]).min()
    assert F.mse_loss(globals_[0], x) < F.mse_loss(locals_[0], F.interpolate(x, 12))
