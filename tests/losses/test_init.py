import torch

import neuroembed.losses as losses

EXPECTED = {
    "BYOLLoss",
    "CLIPLoss",
    "DINOLoss",
    "GramLoss",
    "HardNegativeMiner",
    "IBOTPatchLoss",
    "InfoNCE",
    "NTXent",
    "NegativeCosine",
    "ReconstructionLoss",
    "SupCon",
    "TripletMargin",
    "byol_loss",
    "clip_loss",
    "dino_cross_entropy",
    "gram_loss",
    "ibot_patch_cross_entropy",
    "info_nce",
    "info_nce_parts",
    "negative_cosine",
    "normalized_distances",
    "nt_xent",
    "pairwise_similarity",
    "reconstruction_loss",
    "similarity",
    "supcon",
    "symmetric",
    "teacher_temperature_at",
    "triplet_margin",
    "jacobian_penalty",
    "ramp_weight",
    "JACOBIAN_ESTIMATES",
    "MINING_STRATEGIES",
    "RECONSTRUCTION_KINDS",
}


def test_all_is_pinned_and_importable():
    assert set(losses.__all__) == EXPECTED
    assert len(losses.__all__) == len(EXPECTED)
    for name in losses.__all__:
        obj = getattr(losses, name)
        assert name.isupper() or obj.__module__.startswith("neuroembed.losses."), name


def test_every_loss_module_is_an_nn_module_with_docstring():
    for name in losses.__all__:
        obj = getattr(losses, name)
        if isinstance(obj, type) and name != "HardNegativeMiner":
            assert issubclass(obj, torch.nn.Module), name
        if callable(obj):
            assert obj.__doc__ and "Examples" in obj.__doc__, name
