"""Heads: projection / prediction MLPs, the DINO head, the decoder."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from neuroembed.models.heads import (
    DINOHead,
    ImageDecoder,
    PredictionMLP,
    ProjectionMLP,
    WeightNormLinear,
)


def test_projection_mlp_layers_and_shapes():
    torch.manual_seed(0)
    head = ProjectionMLP(8, 16, 4, n_layers=3)
    linears = [m for m in head.modules() if isinstance(m, torch.nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linears] == [(8, 16), (16, 16), (16, 4)]
    assert head(torch.randn(5, 8)).shape == (5, 4)
    plain = ProjectionMLP(8, 16, 4, n_layers=1)
    assert [type(m) for m in plain.net] == [torch.nn.Linear]
    with pytest.raises(ValueError, match="n_layers"):
        ProjectionMLP(8, 16, 4, n_layers=0)


def test_projection_mlp_last_batch_norm_standardises_outputs():
    torch.manual_seed(0)
    head = ProjectionMLP(8, 16, 4, n_layers=3, last_batch_norm=True).train()
    out = head(torch.randn(64, 8) * 5 + 3)
    assert torch.allclose(out.mean(0), torch.zeros(4), atol=1e-5)
    assert torch.allclose(out.var(0, unbiased=False), torch.ones(4), atol=1e-3)


def test_prediction_mlp_bottleneck():
    head = PredictionMLP(6, 3)
    assert head.net[0].out_features == 3
    assert head(torch.randn(4, 6)).shape == (4, 6)
    assert PredictionMLP(6, 3, out_dimension=2)(torch.randn(4, 6)).shape == (4, 2)


def test_weight_norm_linear_matches_formula():
    torch.manual_seed(0)
    layer = WeightNormLinear(5, 3, learnable_gain=True)
    with torch.no_grad():
        layer.weight_g.copy_(torch.tensor([[2.0], [0.5], [1.0]]))
    x = torch.randn(4, 5)
    v = layer.weight_v.detach()
    expected = x @ (layer.weight_g.detach() * v / v.norm(dim=1, keepdim=True)).T
    assert torch.allclose(layer(x), expected, atol=1e-6)
    assert not WeightNormLinear(5, 3).weight_g.requires_grad
    # rescaling the direction does not change the output
    with torch.no_grad():
        layer.weight_v.mul_(7.0)
    assert torch.allclose(layer(x), expected, atol=1e-5)


@pytest.mark.parametrize("batch_norm", [False, True])
def test_dino_head_outputs_bounded_scores_for_cls_and_patches(batch_norm):
    torch.manual_seed(0)
    head = DINOHead(
        16, 32, hidden_dimension=24, bottleneck_dimension=8, batch_norm=batch_norm
    ).eval()
    x = torch.randn(6, 16)
    out = head(x)
    assert out.shape == (6, 32)
    assert out.abs().max() <= 1 + 1e-5  # unit bottleneck times unit prototypes: cosines
    tokens = torch.randn(2, 5, 16)
    per_token = head(tokens)
    assert per_token.shape == (2, 5, 32)
    assert torch.allclose(per_token, head(tokens.reshape(10, 16)).reshape(2, 5, 32), atol=1e-6)
    expected = F.linear(
        F.normalize(head.mlp(x), dim=1), F.normalize(head.last_layer.weight_v, dim=1)
    )
    assert torch.allclose(out, expected, atol=1e-6)


@pytest.mark.parametrize("shape", [(1, 8, 8), (3, 7, 9), (2, 32, 32)])
def test_image_decoder_shape_and_range(shape):
    torch.manual_seed(0)
    dec = ImageDecoder(10, shape, width=4)
    out = dec(torch.randn(3, 10))
    assert out.shape == (3, *shape)
    assert ((out >= 0) & (out <= 1)).all()
    logits = ImageDecoder(10, shape, width=4, sigmoid=False)
    logits.load_state_dict(dec.state_dict())
    assert torch.allclose(
        torch.sigmoid(logits(torch.ones(2, 10))), dec(torch.ones(2, 10)), atol=1e-6
    )
