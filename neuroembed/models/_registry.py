"""The one table mapping model names to encoder classes."""

from __future__ import annotations

from neuroembed.models.conv import (
    ConvEncoder,
    Dilated18,
    Dilated34,
    Offset1,
    Offset5,
    Offset10,
    Offset15,
    Offset20,
    Offset36,
    Offset40,
    Offset50,
)

MODELS: dict[str, type[ConvEncoder]] = {
    "offset1": Offset1,
    "offset5": Offset5,
    "offset10": Offset10,
    "offset15": Offset15,
    "offset20": Offset20,
    "offset36": Offset36,
    "offset40": Offset40,
    "offset50": Offset50,
    "dilated18": Dilated18,
    "dilated34": Dilated34,
}
"""Neural encoders by name, as accepted by ``Estimator(model=...)``."""


def make_encoder(
    name: str, n_inputs: int, n_hidden: int, output_dimension: int, *, normalize: bool
) -> ConvEncoder:
    """Build the encoder called ``name``; ``ValueError`` lists the valid names for an unknown one."""
    try:
        cls = MODELS[name]
    except (KeyError, TypeError):
        raise ValueError(
            f"model={name!r} is not a known model; choose one of {sorted(MODELS)}."
        ) from None
    return cls(n_inputs, n_hidden, output_dimension, normalize=normalize)
