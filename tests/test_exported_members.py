"""Pin the public surface: adding or removing a public name is a deliberate change to this list."""

import importlib

import neuroembed as ne

EXPECTED = {
    "Ensemble",
    "Estimator",
    "Recording",
    "TrainingDivergedError",
    "__version__",
    "attribution",
    "batch",
    "datasets",
    "io",
    "losses",
    "metrics",
    "models",
    "plotting",
    "sampling",
    "ssl",
}


def test_all_is_pinned():
    assert set(ne.__all__) == EXPECTED


def test_every_exported_name_resolves():
    for name in ne.__all__:
        assert getattr(ne, name) is not None, name


def test_subpackages_have_explicit_all():
    for sub in ("losses", "models", "sampling", "metrics", "datasets", "io", "ssl", "attribution"):
        module = importlib.import_module(f"neuroembed.{sub}")
        assert isinstance(module.__all__, list) and module.__all__, sub
        for name in module.__all__:
            assert hasattr(module, name), f"neuroembed.{sub}.{name}"


def test_unknown_attribute():
    import pytest

    with pytest.raises(AttributeError):
        ne.does_not_exist  # noqa: B018


def test_dir_lists_the_public_names_not_the_helpers_imported_to_build_them():
    public = [name for name in dir(ne) if not name.startswith("__")]
    assert set(public) == EXPECTED - {"__version__"}
