import pytest
import torch

from neuroembed.models import MODELS, MultiSessionEncoder, make_encoder, window_offsets


@pytest.mark.parametrize(
    "name,rf",
    [
        ("offset1", 1),
        ("offset5", 5),
        ("offset10", 10),
        ("offset15", 15),
        ("offset20", 20),
        ("offset36", 36),
        ("offset40", 40),
        ("offset50", 50),
        ("dilated18", 18),
        ("dilated34", 34),
    ],
)
def test_receptive_field_is_what_the_output_depends_on(name, rf):
    torch.manual_seed(0)
    model = MODELS[name](6, n_hidden=8, output_dimension=4)
    assert model.receptive_field == rf
    x = torch.randn(1, 6, rf + 7, requires_grad=True)
    out = model(x)
    assert out.shape == (1, 4, 8)
    out[0, :, 3].sum().backward()
    touched = (x.grad[0].abs().sum(0) > 0).nonzero().flatten()
    assert touched.min().item() == 3 and touched.max().item() == 3 + rf - 1


@pytest.mark.parametrize("name", list(MODELS))
def test_output_is_unit_norm_for_cosine(name):
    model = MODELS[name](5)
    x = torch.randn(3, 5, model.receptive_field)
    z = model(x)[..., 0]
    torch.testing.assert_close(z.norm(dim=1), torch.ones(3))
    raw = MODELS[name](5, normalize=False)(x)[..., 0]
    assert not torch.allclose(raw.norm(dim=1), torch.ones(3))


def test_window_offsets_cover_the_receptive_field():
    for rf in (1, 5, 10, 36):
        left, right = window_offsets(rf)
        assert left + right == rf


def test_unknown_model_lists_choices():
    with pytest.raises(ValueError, match="offset10"):
        make_encoder("offset7", 3, 8, 2, normalize=True)


def test_multisession_shares_trunk_and_has_one_stem_per_session():
    encoders = [make_encoder("offset10", n, 16, 3, normalize=True) for n in (4, 9)]
    model = MultiSessionEncoder(encoders)
    assert model.n_sessions == 2
    assert model.stems[0].in_channels == 4 and model.stems[1].in_channels == 9
    trunk_params = {id(p) for p in model.trunk.parameters()}
    assert trunk_params == {id(p) for p in encoders[0].trunk.parameters()}
    assert model(torch.randn(2, 9, 10), session=1).shape == (2, 3, 1)


@pytest.mark.parametrize("hidden", [32, 17, 1])
def test_offset1_layer_widths_are_cebras(hidden):
    # CEBRA's offset1-model: Linear(n, h), Linear(h, h), Linear(h, h // 2), Linear(h // 2, out), GELUs between
    n, out, half = 30, 8, max(1, hidden // 2)
    expected = (n + 1) * hidden + (hidden + 1) * hidden + (hidden + 1) * half + (half + 1) * out
    model = MODELS["offset1"](n, hidden, out)
    assert sum(p.numel() for p in model.parameters()) == expected
    assert model(torch.randn(5, n, 1)).shape == (5, out, 1)


@pytest.mark.parametrize("name", list(MODELS))
def test_channels_last_forward_equals_the_module_forward(name):
    torch.manual_seed(4)
    model = MODELS[name](6, n_hidden=8, output_dimension=4).double()
    x = torch.randn(3, 6, model.receptive_field + 5, dtype=torch.float64)
    want = model(x)
    got = model.forward_channels_last(x.transpose(1, 2)).transpose(1, 2)
    torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("name", ["dilated18", "dilated34"])
def test_dilated_encoders_double_the_dilation_per_block(name):
    model = MODELS[name](6)
    dilations = [block.conv.dilation[0] for block in model.trunk.blocks]
    assert dilations == [2**i for i in range(len(dilations))]
    assert model.receptive_field == 2 + 2 * sum(dilations) + 2


def test_dilations_must_be_positive_integers():
    from neuroembed.models import ConvEncoder

    with pytest.raises(ValueError, match=r"dilations must be positive integers; got \(1, 0\)"):
        ConvEncoder(4, dilations=(1, 0))
