"""Image backbones: shapes on any reasonable size, ViT tokens and masking, the lookup table."""

from __future__ import annotations

import pytest
import torch

from neuroembed.models.image import BACKBONES, ImageCNN, ImageResNet, TinyViT, make_backbone


@pytest.mark.parametrize("cls", [ImageCNN, ImageResNet, TinyViT])
@pytest.mark.parametrize("channels,height,width", [(1, 8, 8), (3, 16, 12), (3, 32, 32), (1, 5, 7)])
def test_backbones_embed_any_size(cls, channels, height, width):
    torch.manual_seed(0)
    net = cls(in_channels=channels, output_dimension=12)
    out = net(torch.rand(3, channels, height, width))
    assert out.shape == (3, 12)
    assert torch.isfinite(out).all()


@pytest.mark.parametrize("cls", [ImageCNN, ImageResNet, TinyViT])
def test_backbones_reject_wrong_channels(cls):
    net = cls(in_channels=3, output_dimension=8)
    with pytest.raises(ValueError, match=r"\(n_samples, 3, height, width\)"):
        net(torch.rand(2, 1, 8, 8))


@pytest.mark.parametrize("cls", [ImageCNN, ImageResNet, TinyViT])
def test_backbones_pass_gradients_to_every_parameter(cls):
    torch.manual_seed(0)
    net = cls(in_channels=1, output_dimension=8)
    net(torch.rand(4, 1, 8, 8)).pow(2).sum().backward()
    unused = {"mask_token"}  # only used when a mask is given
    for name, p in net.named_parameters():
        if name not in unused:
            assert p.grad is not None and p.grad.abs().sum() > 0, name


def test_cnn_stride_shrinks_resolution():
    net = ImageCNN(1, 4, width=4, n_stages=3)
    feats = net.features(torch.rand(2, 1, 16, 16))
    assert feats.shape == (2, 16, 4, 4)  # 16 -> 8 -> 4, channels 4 -> 8 -> 16


def test_vit_tokens_shapes_and_padding():
    vit = TinyViT(1, 16, image_size=8, patch_size=2, depth=1, num_heads=2)
    cls, patches = vit.forward_tokens(torch.rand(2, 1, 8, 8))
    assert cls.shape == (2, 16) and patches.shape == (2, 16, 16)
    # 7x5 is padded to 8x6: a 4x3 grid
    assert vit.grid_shape(7, 5) == (4, 3)
    _, patches = vit.forward_tokens(torch.rand(2, 1, 7, 5))
    assert patches.shape == (2, 12, 16)
    assert torch.equal(vit(torch.ones(1, 1, 8, 8)), vit.forward_tokens(torch.ones(1, 1, 8, 8))[0])


def test_vit_interpolates_position_embeddings_for_other_grids():
    torch.manual_seed(0)
    vit = TinyViT(1, 8, image_size=8, patch_size=2, depth=1, num_heads=2)
    same = vit._pos_embed(4, 4)
    assert same is vit.pos_embed
    other = vit._pos_embed(2, 3)
    assert other.shape == (1, 1 + 6, 8)
    assert torch.equal(other[:, 0], vit.pos_embed[:, 0])  # CLS position untouched
    # a constant grid of position embeddings stays constant when resized
    with torch.no_grad():
        vit.pos_embed[:, 1:] = 0.5
    assert torch.allclose(vit._pos_embed(3, 5)[:, 1:], torch.full((1, 15, 8), 0.5))


def test_vit_mask_replaces_exactly_the_masked_patches():
    torch.manual_seed(0)
    vit = TinyViT(1, 8, image_size=4, patch_size=2, depth=1, num_heads=2)
    with torch.no_grad():
        vit.mask_token.fill_(3.0)
    x = torch.rand(2, 1, 4, 4)
    none = torch.zeros(2, 4, dtype=torch.bool)
    assert torch.allclose(vit.forward_tokens(x, none)[0], vit.forward_tokens(x)[0])
    mask = torch.tensor([[True, False, False, False], [False, False, False, False]])
    cls, _ = vit.forward_tokens(x, mask)
    ref, _ = vit.forward_tokens(x)
    assert not torch.allclose(cls[0], ref[0])  # the masked image changes
    assert torch.allclose(cls[1], ref[1], atol=1e-6)  # the other one does not
    # a masked patch's content no longer matters
    x2 = x.clone()
    x2[0, :, :2, :2] = torch.rand(1, 2, 2)
    assert torch.allclose(vit.forward_tokens(x2, mask)[0], cls, atol=1e-6)


def test_vit_rejects_bad_mask_and_heads():
    vit = TinyViT(1, 8, image_size=4, patch_size=2, depth=1, num_heads=2)
    with pytest.raises(ValueError, match="mask must have shape"):
        vit.forward_tokens(torch.rand(2, 1, 4, 4), torch.zeros(2, 3, dtype=torch.bool))
    with pytest.raises(ValueError, match="divisible by num_heads"):
        TinyViT(1, 10, num_heads=4)


def test_make_backbone_table():
    assert set(BACKBONES) == {"cnn", "resnet", "vit"}
    for name, cls in BACKBONES.items():
        net = make_backbone(name, in_channels=3, output_dimension=12, image_size=8)
        assert isinstance(net, cls)
        assert net(torch.rand(2, 3, 8, 8)).shape == (2, 12)
    assert make_backbone("vit", 1, 12, image_size=8).patch_size == 2
    assert make_backbone("vit", 1, 12, image_size=32).patch_size == 4
    assert make_backbone("vit", 1, 6, image_size=8).blocks[0].attn.num_heads == 2
    with pytest.raises(ValueError, match=r"backbone='mlp' is not supported; choose one of"):
        make_backbone("mlp", 1, 4)
