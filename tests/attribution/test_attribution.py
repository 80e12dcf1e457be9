"""Attribution maps against slow per-sample references (autograd Jacobians on the edge-padded window, numpy's
pseudo-inverse, loops over integration steps and neurons), completeness of integrated gradients, batch-size
invariance, sessions, custom encoders, HDF5 input, bounded memory on a long recording, and bad input."""

from __future__ import annotations

import ast
import tracemalloc
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch
from sklearn.exceptions import NotFittedError
from torch import nn

import neuroembed as ne
from neuroembed import Estimator
from neuroembed.attribution import (
    METHODS,
    Attribution,
    attribution_map,
    feature_ablation,
    integrated_gradients,
    inverted_jacobian,
    jacobian,
)

pytestmark = pytest.mark.timeout(180)

RTOL = 1e-5


def _data(n=120, neurons=5, seed=0):
    return np.random.default_rng(seed).poisson(2.0, (n, neurons)).astype(np.float32)


def _fit(model="offset10", X=None, **kw):
    params = dict(
        model=model,
        conditional="time",
        time_offset=2,
        output_dimension=4,
        num_hidden_units=16,
        max_iterations=5,
        batch_size=32,
        device="cpu",
        random_state=0,
    )
    params.update(kw)
    return Estimator(**params).fit(_data() if X is None else X)


@pytest.fixture(scope="module")
def fitted():
    return {model: _fit(model) for model in ("offset1", "offset10")}


# ------------------------------------------------------------------------------------------------------------------
# slow references: one sample at a time, on the window cut from an explicitly edge-padded recording
# ------------------------------------------------------------------------------------------------------------------
def ref_windows(X, receptive_field):
    """Each sample's window ``(n_neurons, R)``, cut from the recording padded with np.pad(mode="edge")."""
    left = receptive_field // 2
    right = receptive_field - left
    padded = np.pad(X, ((left, right - 1), (0, 0)), mode="edge")
    return [padded[t : t + receptive_field].T.copy() for t in range(X.shape[0])]


def ref_forward(est, session=0):
    def f(window):  # (n_neurons, R) -> (output_dim,)
        return est.encoder_(window[None], session=session)[0, :, 0]

    return f


def ref_jacobian(est, X, reduce_window="mean", session=0):
    f = ref_forward(est, session)
    out = []
    for w in ref_windows(X, est.receptive_field_):
        J = torch.autograd.functional.jacobian(f, torch.from_numpy(w)).numpy()  # (D, C, R)
        out.append(J.mean(-1) if reduce_window == "mean" else np.abs(J).mean(-1))
    return np.stack(out)


def ref_inverted(est, X, rtol, reduce_window="mean"):
    J = ref_jacobian(est, X, reduce_window).astype(np.float64)
    return np.stack([np.linalg.pinv(j, rcond=rtol).T for j in J])


def ref_integrated_gradients(est, X, n_steps, baseline):
    f = ref_forward(est)
    out = []
    for w in ref_windows(X, est.receptive_field_):
        b = np.broadcast_to(np.asarray(baseline, np.float32)[:, None], w.shape)
        total = 0.0
        for k in range(n_steps):
            point = torch.from_numpy(b + (k + 0.5) / n_steps * (w - b))
            J = torch.autograd.functional.jacobian(f, point).numpy()  # (D, C, R)
            total = total + (J * (w - b)).sum(-1)
        out.append(total / n_steps)
    return np.stack(out)


def ref_ablation(est, X, baseline):
    f = ref_forward(est)
    out = []
    with torch.no_grad():
        for w in ref_windows(X, est.receptive_field_):
            full = f(torch.from_numpy(w)).numpy()
            rows = []
            for c in range(w.shape[0]):
                ablated = w.copy()
                ablated[c, :] = baseline[c]
                rows.append(full - f(torch.from_numpy(ablated)).numpy())
            out.append(np.stack(rows, axis=1))  # (D, C)
    return np.stack(out)


def close(actual, expected, rtol=RTOL):
    """Equal to ``rtol`` of each entry, or of the largest entry for entries near zero."""
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=rtol * np.abs(expected).max())


# ------------------------------------------------------------------------------------------------------------------
def test_the_reference_windows_are_those_transform_embeds(fitted):
    X = _data(40)
    for est in fitted.values():
        f = ref_forward(est)
        with torch.no_grad():
            rows = np.stack(
                [f(torch.from_numpy(w)).numpy() for w in ref_windows(X, est.receptive_field_)]
            )
        np.testing.assert_allclose(rows, est.transform(X), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("model", ["offset1", "offset10"])
@pytest.mark.parametrize("reduce_window", ["mean", "mean_abs"])
def test_jacobian_matches_the_per_sample_reference(fitted, model, reduce_window):
    est, X = fitted[model], _data(60)
    result = attribution_map(
        est, X, "jacobian", per_sample=True, reduce_window=reduce_window, batch_size=16
    )
    assert isinstance(result, Attribution)
    expected = ref_jacobian(est, X, reduce_window)
    assert result.per_sample.shape == (60, 4, 5) and result.per_sample.dtype == np.float32
    close(result.per_sample, expected)
    close(result.summary, np.abs(expected).mean(0))


@pytest.mark.parametrize("model", ["offset1", "offset10"])
def test_inverted_jacobian_matches_numpy_pinv(fitted, model):
    est, X = fitted[model], _data(60)
    # the default method, and its default rtol (0.2): numpy's pinv with the same relative cut-off
    summary, maps = attribution_map(est, X, per_sample=True, batch_size=16)
    singular = np.linalg.svd(ref_jacobian(est, X).astype(np.float64), compute_uv=False)
    # samples with a singular value at the cut-off, where rounding decides whether it is kept, are left out
    clear = (np.abs(singular / singular[:, :1] - 0.2) > 1e-4).all(1)
    assert clear.sum() >= 50
    expected = ref_inverted(est, X, 0.2)
    close(maps[clear], expected[clear])
    if clear.all():
        close(summary, np.abs(expected).mean(0))
    # and with a cut-off that keeps every direction of the embedding but the cosine's rounding noise
    maps = attribution_map(est, X, per_sample=True, batch_size=16, rtol=1e-4).per_sample
    close(maps, ref_inverted(est, X, 1e-4))
    # rank output_dim - 1 for the cosine distance: rtol drops the one direction of rounding noise
    J = ref_jacobian(est, X[:5])
    singular = np.linalg.svd(J.astype(np.float64), compute_uv=False)
    assert (singular[:, -1] < 1e-5 * singular[:, 0]).all()
    assert (singular[:, -2] > 1e-3 * singular[:, 0]).all()


def test_inverted_jacobian_of_a_euclidean_embedding_and_rtol():
    est, X = _fit("offset10", distance="euclidean"), _data(40)
    close(attribution_map(est, X, per_sample=True, rtol=0.0).per_sample, ref_inverted(est, X, 0.0))
    # the Jacobian (4 x 5) of a Euclidean embedding has full rank: its pinv is a right inverse
    J = ref_jacobian(est, X)
    inverse = attribution_map(est, X, per_sample=True, rtol=0.0).per_sample.transpose(0, 2, 1)
    np.testing.assert_allclose(J @ inverse, np.broadcast_to(np.eye(4), (40, 4, 4)), atol=1e-4)


@pytest.mark.parametrize("model", ["offset1", "offset10"])
def test_integrated_gradients_match_the_loop_reference(fitted, model):
    est, X = fitted[model], _data(25)
    baseline = np.linspace(0.0, 1.0, 5)
    maps = attribution_map(
        est, X, "integrated-gradients", per_sample=True, n_steps=6, baseline=baseline, batch_size=10
    ).per_sample
    close(maps, ref_integrated_gradients(est, X, 6, baseline), rtol=1e-4)


@pytest.mark.parametrize("model", ["offset1", "offset10"])
def test_integrated_gradients_are_complete(fitted, model):
    """Summed over neurons (and window), they add up to z(x) - z(baseline)."""
    est, X = fitted[model], _data(50)
    for baseline in (0.0, X.mean(0)):
        maps = attribution_map(
            est, X, "integrated-gradients", per_sample=True, n_steps=64, baseline=baseline
        ).per_sample
        constant = np.broadcast_to(np.asarray(baseline, np.float32), X.shape)
        change = est.transform(X) - est.transform(np.ascontiguousarray(constant))
        np.testing.assert_allclose(maps.sum(-1), change, atol=2e-3 * np.abs(change).max())
        assert np.abs(change).max() > 0.05  # not vacuous


@pytest.mark.parametrize("model", ["offset1", "offset10"])
def test_ablation_matches_the_loop_reference(fitted, model, monkeypatch):
    est, X = fitted[model], _data(30)
    baseline = np.array([0.0, 1.0, 2.0, 0.5, 3.0])
    expected = ref_ablation(est, X, baseline)
    maps = attribution_map(est, X, "ablation", per_sample=True, baseline=baseline).per_sample
    close(maps, expected)
    # neurons ablated one at a time instead of all together: the same maps
    monkeypatch.setattr("neuroembed.attribution.ablation.MAX_ABLATED_ENTRIES", 1)
    again = attribution_map(est, X, "ablation", per_sample=True, baseline=baseline).per_sample
    close(again, expected)


@pytest.mark.parametrize("method", list(METHODS))
def test_batch_size_does_not_change_the_maps(fitted, method):
    est, X = fitted["offset10"], _data(50)
    kw = {"n_steps": 5} if method == "integrated-gradients" else {}
    one = attribution_map(est, X, method, per_sample=True, batch_size=1, **kw)
    some = attribution_map(est, X, method, per_sample=True, batch_size=7, **kw)
    whole = attribution_map(est, X, method, per_sample=True, batch_size=1000, **kw)
    for other in (some, whole):
        close(other.per_sample, one.per_sample)
        close(other.summary, one.summary)
    # the summary alone is the summary that comes with the maps
    close(attribution_map(est, X, method, batch_size=7, **kw), whole.summary)


@pytest.mark.parametrize("method", list(METHODS))
def test_the_summary_is_the_mean_absolute_per_sample_map(fitted, method):
    est, X = fitted["offset1"], _data(33)
    kw = {"n_steps": 4} if method == "integrated-gradients" else {}
    summary, maps = attribution_map(est, X, method, per_sample=True, batch_size=8, **kw)
    assert summary.shape == (4, 5) and summary.dtype == np.float64
    np.testing.assert_allclose(summary, np.abs(maps).mean(0), rtol=1e-6)


def test_the_estimator_is_left_as_it_was(fitted):
    est = fitted["offset10"]
    state = {k: v.clone() for k, v in est.encoder_.state_dict().items()}
    est.encoder_.train()
    est.encoder_.trunk.eval()  # mixed modes come back as they were
    modes = [m.training for m in est.encoder_.modules()]
    grads = [None if p.grad is None else p.grad.clone() for p in est.encoder_.parameters()]
    for method in METHODS:
        attribution_map(est, _data(20), method, n_steps=2)
    assert [m.training for m in est.encoder_.modules()] == modes
    for p, g in zip(est.encoder_.parameters(), grads):  # no gradient reaches the parameters
        assert (p.grad is None and g is None) or torch.equal(p.grad, g)
    for k, v in est.encoder_.state_dict().items():
        assert torch.equal(v, state[k]), k
    assert torch.is_grad_enabled()
    est.encoder_.eval()


def test_several_sessions():
    rng = np.random.default_rng(1)
    X1, X2 = (
        rng.poisson(2.0, (100, 5)).astype(np.float32),
        rng.poisson(2.0, (90, 7)).astype(np.float32),
    )
    est = _fit("offset10", X=[X1, X2])
    maps = attribution_map(est, X2, "jacobian", session=1, per_sample=True).per_sample
    assert maps.shape == (90, 4, 7)
    close(maps, ref_jacobian(est, X2, session=1))
    np.testing.assert_array_equal(
        attribution_map(est, X2, "jacobian", session=-1),
        attribution_map(est, X2, "jacobian", session=1),
    )
    with pytest.raises(ValueError, match="fitted on 2 sessions; pass session=0..1"):
        attribution_map(est, X1)
    with pytest.raises(ValueError, match="out of range"):
        attribution_map(est, X1, session=2)
    with pytest.raises(TypeError, match="session must be an int"):
        attribution_map(est, X1, session="0")
    with pytest.raises(ValueError, match="X has 7 features, but .* expecting 5 .* for session 0"):
        attribution_map(est, X2, session=0)


class TwoLayer(nn.Module):
    """A user's own encoder (no stem/trunk split): kernel-3 then kernel-4 convolutions."""

    receptive_field = 6

    def __init__(self, n_inputs, n_hidden, output_dimension, *, normalize=True):
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv1d(n_inputs, n_hidden, 3), nn.GELU(), nn.Conv1d(n_hidden, output_dimension, 4)
        )

    def forward(self, x):
        return self.net(x)


def test_a_custom_encoder():
    est, X = _fit(TwoLayer), _data(40)
    assert isinstance(est.encoder_, ne.models.ModuleEncoder)
    close(attribution_map(est, X, "jacobian", per_sample=True).per_sample, ref_jacobian(est, X))
    close(
        attribution_map(est, X, per_sample=True, rtol=1e-4).per_sample, ref_inverted(est, X, 1e-4)
    )


def test_hdf5_input_is_read_batch_by_batch(fitted, tmp_path):
    est, X = fitted["offset10"], _data(70)
    path = tmp_path / "rec.h5"
    with h5py.File(path, "w") as f:
        f["neural"] = X
    with h5py.File(path, "r") as f:
        from_file = attribution_map(est, f["neural"], "jacobian", batch_size=16)
    np.testing.assert_array_equal(from_file, attribution_map(est, X, "jacobian", batch_size=16))


def test_a_progress_bar_when_verbose(fitted, capsys):
    est = fitted["offset1"]
    attribution_map(est, _data(30), batch_size=10)
    assert "attribution" not in capsys.readouterr().err
    est.verbose = True
    try:
        attribution_map(est, _data(30), batch_size=10)
    finally:
        est.verbose = False
    assert "attribution (inverted-jacobian)" in capsys.readouterr().err


def _resident_bytes(field):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field):
                return int(line.split()[1]) * 1024
    raise LookupError(field)


def _reset_peak():
    """Reset the process's peak resident memory (Linux >= 4.0); False where that is not possible."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def _extra_memory(est, X):
    """Peak memory above the start (resident, and numpy's through tracemalloc) of one summary-only map."""
    reset = _reset_peak()
    before = _resident_bytes("VmRSS") if reset else 0
    tracemalloc.start()
    try:
        summary = attribution_map(est, X, "jacobian", batch_size=1024)
        _, traced = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert summary.shape == (8, 20)
    return (_resident_bytes("VmHWM") - before if reset else None), traced


def test_memory_does_not_grow_with_the_recording():
    """200,000 x 20 with offset10: per-sample maps would take 200,000 * 8 * 20 * 4 B = 128 MB; the summary alone
    takes the memory of one batch, the same for 20,000 samples as for 200,000."""
    X = np.random.default_rng(0).random((200_000, 20), dtype=np.float32)
    est = _fit("offset10", X=X[:2000], output_dimension=8, num_hidden_units=8)
    _extra_memory(est, X[:5000])  # warm up the allocators
    short_rss, short_traced = _extra_memory(est, X[:20_000])
    long_rss, long_traced = _extra_memory(est, X)
    # numpy holds at most the validation's finite-mask of the input (4 MB), never the maps
    assert long_traced < 8 * 2**20, long_traced
    if long_rss is None:
        pytest.skip("peak resident memory cannot be reset on this system (needs Linux /proc)")
    assert long_rss < short_rss + 32 * 2**20, (short_rss, long_rss)


# ------------------------------------------------------------------------------------------------------------------
# the per-batch functions on their own
# ------------------------------------------------------------------------------------------------------------------
def test_the_batch_functions_on_a_linear_encoder():
    weight = torch.tensor([[1.0, 2.0, -1.0], [0.5, 0.0, 1.0]])
    forward = lambda w: w.sum(-1) @ weight.T  # noqa: E731
    windows = torch.randn(6, 3, 4)
    torch.testing.assert_close(jacobian(forward, windows), weight.expand(6, 2, 3))
    torch.testing.assert_close(
        jacobian(forward, windows, reduce_window="mean_abs"), weight.abs().expand(6, 2, 3)
    )
    inverse = inverted_jacobian(forward, windows)
    torch.testing.assert_close(inverse, torch.linalg.pinv(weight.double()).T.expand(6, 2, 3))
    expected = weight[None] * windows.sum(-1)[:, None, :]  # exact for a linear map
    torch.testing.assert_close(integrated_gradients(forward, windows, n_steps=3), expected)
    torch.testing.assert_close(feature_ablation(forward, windows), expected)
    baseline = torch.tensor([[1.0], [0.0], [2.0]])
    shifted = weight[None] * (windows - baseline).sum(-1)[:, None, :]
    torch.testing.assert_close(integrated_gradients(forward, windows, baseline=baseline), shifted)
    torch.testing.assert_close(feature_ablation(forward, windows, baseline=baseline), shifted)


def test_the_batch_functions_refuse_bad_options():
    forward = lambda w: w.sum(-1)  # noqa: E731
    windows = torch.randn(2, 3, 4)
    with pytest.raises(ValueError, match="reduce_window='max' is not supported"):
        jacobian(forward, windows, reduce_window="max")
    with pytest.raises(ValueError, match="rtol"):
        inverted_jacobian(forward, windows, rtol=2.0)
    with pytest.raises(ValueError, match="n_steps"):
        integrated_gradients(forward, windows, n_steps=0)
    with pytest.raises(ValueError, match=r"baseline must be .* shape \(3, 1\)"):
        feature_ablation(forward, windows, baseline=torch.zeros(2, 1))
    with pytest.raises(ValueError, match=r"\(n_windows, output_dim\)"):
        jacobian(lambda w: w, windows)


# ------------------------------------------------------------------------------------------------------------------
def test_bad_input(fitted):
    est, X = fitted["offset10"], _data(30)
    with pytest.raises(
        ValueError,
        match=r"method='gradients' is not supported.*'jacobian', 'inverted-jacobian', "
        r"'integrated-gradients', 'ablation'",
    ):
        attribution_map(est, X, "gradients")
    with pytest.raises(ValueError, match="reduce_window"):
        attribution_map(est, X, reduce_window="sum")
    with pytest.raises(ValueError, match="2-D"):
        attribution_map(est, X[:, 0])
    bad = X.copy()
    bad[3, 1] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        attribution_map(est, bad)
    with pytest.raises(ValueError, match="X has 4 features, but Estimator is expecting 5"):
        attribution_map(est, X[:, :4])
    with pytest.raises(ValueError, match="batch_size must be an integer >= 1"):
        attribution_map(est, X, batch_size=0)
    with pytest.raises(TypeError, match="batch_size"):
        attribution_map(est, X, batch_size=2.5)
    with pytest.raises(ValueError, match="n_steps"):
        attribution_map(est, X, "integrated-gradients", n_steps=0)
    with pytest.raises(
        ValueError, match=r"baseline must be a number or one value per neuron, shape \(5,\)"
    ):
        attribution_map(est, X, "ablation", baseline=np.zeros(4))
    with pytest.raises(ValueError, match="baseline contains NaN"):
        attribution_map(est, X, "ablation", baseline=np.full(5, np.inf))
    with pytest.raises(TypeError, match="per_sample must be True or False"):
        attribution_map(est, X, per_sample="yes")
    with pytest.raises(ValueError, match="rtol must be below 1"):
        attribution_map(est, X, rtol=1.0)
    with pytest.raises(NotFittedError, match="Call fit first"):
        attribution_map(Estimator(), X)
    with pytest.raises(TypeError, match="needs a fitted neuroembed.Estimator"):
        attribution_map(object(), X)
    ensemble = ne.Ensemble()
    ensemble.estimators_ = [est]  # as after fit: members, but no encoder of its own
    with pytest.raises(NotFittedError, match=r"attribute a member, e.g. ensemble.estimators_\[0\]"):
        attribution_map(ensemble, X)


def test_attribution_does_not_import_the_estimator():
    """The package takes a fitted estimator by its attributes (DESIGN.md: beside losses/ and models/)."""
    package = Path(ne.attribution.__file__).parent
    for source in package.glob("*.py"):
        tree = ast.parse(source.read_text())
        imported = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
        imported |= {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
        upward = (
            "neuroembed.estimator",
            "neuroembed.ensemble",
            "neuroembed.solver",
            "neuroembed._training",
        )
        assert not any(m and m.startswith(upward) for m in imported), source.name


@pytest.mark.parametrize("mode", [torch.no_grad, torch.inference_mode])
@pytest.mark.parametrize("method", list(METHODS))
def test_attribution_inside_no_grad_and_inference_mode(fitted, method, mode):
    """Analysis scripts often embed under torch.no_grad(); the gradient methods take their gradients anyway."""
    est, X = fitted["offset10"], _data(20)
    kw = {"n_steps": 3} if method == "integrated-gradients" else {}
    expected = attribution_map(est, X, method, **kw)
    with mode():
        np.testing.assert_array_equal(attribution_map(est, X, method, **kw), expected)
    forward = lambda w: torch.tanh(w.sum(-1))  # noqa: E731
    windows = torch.randn(3, 2, 4)
    with mode():
        torch.testing.assert_close(jacobian(forward, windows), jacobian(forward, windows.clone()))


def test_the_batch_functions_check_the_baseline_shape_and_take_no_windows():
    forward = lambda w: torch.tanh(w.sum(-1))  # noqa: E731
    windows = torch.randn(2, 3, 4)
    with pytest.raises(
        ValueError, match=r"baseline must be .* \(n_neurons, R\) = \(3, 4\).*got shape \(3,\)"
    ):
        integrated_gradients(forward, windows, baseline=torch.zeros(3))
    with pytest.raises(ValueError, match=r"got shape \(2, 1\)"):
        integrated_gradients(forward, windows, baseline=torch.zeros(2, 1))
    with pytest.raises(ValueError, match=r"baseline must be .* shape \(3, 1\); got shape \(3,\)"):
        feature_ablation(forward, windows, baseline=torch.zeros(3))
    # one value per lag, or per neuron, broadcasts
    per_lag = integrated_gradients(forward, windows, baseline=torch.zeros(4), n_steps=2)
    torch.testing.assert_close(per_lag, integrated_gradients(forward, windows, n_steps=2))
    torch.testing.assert_close(
        feature_ablation(forward, windows, baseline=torch.zeros(1)),
        feature_ablation(forward, windows),
    )
    for method in METHODS.values():
        assert method(forward, windows[:0]).shape == (0, 3, 3)
