"""Training steps replayed from a CUDA graph (neuroembed._graphs).

On the CPU, where CUDA graphs do not exist, the bookkeeping around the capture is checked with a stand-in capture
that runs the step again at each replay: the warm-up, the loss history, the generators put back, early stopping.
Where a GPU is present (``benchmarks/device_check.sh``), the ``[cuda]`` cases fit through a real graph and compare it
with the eager path.
"""

import os
import types
from unittest import mock

import numpy as np
import pytest
import torch

import neuroembed as ne
from neuroembed import _graphs

pytestmark = pytest.mark.timeout(300)


def _track(n=3000, neurons=30):
    rec = ne.datasets.linear_track(n_samples=n, n_neurons=neurons, random_state=0)
    return rec.neural.astype(np.float32), rec.behaviour[:, :1].astype(np.float32)


def _estimator(device, conditional="time_delta", **kwargs):
    settings = dict(
        model="offset10",
        batch_size=128,
        output_dimension=4,
        num_hidden_units=16,
        max_iterations=120,
        learning_rate=3e-3,
        conditional=conditional,
        device=device,
        random_state=0,
    )
    settings.update(kwargs)
    return ne.Estimator(**settings)


def _fit(est, X, y):
    return est.fit(X, None if est.conditional == "time" else y)


# ---------------------------------------------------------------------------------------------------------------------
# the environment variable and the reasons to train eagerly
# ---------------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("value", ["yes", "2", "true"])
def test_unknown_setting_names_the_variable_and_the_choices(value):
    with mock.patch.dict(os.environ, {_graphs.ENVIRONMENT_VARIABLE: value}):
        with pytest.raises(ValueError, match=r"NEUROEMBED_CUDA_GRAPHS='.*'.*'1'.*'0'.*'force'"):
            _graphs.graphs_setting()


def _training(**changes):
    """A stand-in for a Training whose step a graph can replay (on a CUDA device), with ``changes`` applied."""
    from neuroembed.sampling import ContrastiveSampler

    sampler = ContrastiveSampler.__new__(ContrastiveSampler)
    optimizer = torch.optim.Adam([torch.nn.Parameter(torch.zeros(2))], lr=1e-3, fused=True)
    optimizer.param_groups[0]["capturable"] = True
    t = types.SimpleNamespace(
        device=torch.device("cuda"),
        multi=False,
        conditional="time_delta",
        solver=types.SimpleNamespace(sampler=sampler),
        optimizer=optimizer,
    )
    for key, value in changes.items():
        setattr(t, key, value)
    return t


def _settings(**changes):
    est = types.SimpleNamespace(
        hybrid=False, precision="float32", jacobian_weight=0.0, jacobian_ramp=None
    )
    for key, value in changes.items():
        setattr(est, key, value)
    return est


def test_graph_reason_none_for_a_step_a_graph_can_replay():
    with mock.patch.dict(os.environ, {_graphs.ENVIRONMENT_VARIABLE: ""}):
        assert _graphs.graph_reason(_settings(), _training()) is None


@pytest.mark.parametrize(
    ("est", "t", "reason"),
    [
        (_settings(), _training(device=torch.device("cpu")), "runs on cpu"),
        (_settings(), _training(conditional="mixed"), "'mixed'"),
        (_settings(hybrid=True), _training(conditional="mixed"), "'mixed' with hybrid"),
        (_settings(precision="bfloat16"), _training(), "bfloat16"),
        (_settings(jacobian_weight=0.01), _training(), "Jacobian"),
        (_settings(), _training(solver=types.SimpleNamespace(sampler=object())), "sampler"),
        (
            _settings(),
            _training(optimizer=torch.optim.Adam([torch.nn.Parameter(torch.zeros(2))])),
            "capturable Adam",
        ),
    ],
)
def test_graph_reason_names_what_keeps_a_fit_eager(est, t, reason):
    with mock.patch.dict(os.environ, {_graphs.ENVIRONMENT_VARIABLE: ""}):
        assert reason in _graphs.graph_reason(est, t)


def test_graph_reason_respects_the_switch():
    with mock.patch.dict(os.environ, {_graphs.ENVIRONMENT_VARIABLE: "0"}):
        assert _graphs.graph_reason(_settings(), _training()) == "NEUROEMBED_CUDA_GRAPHS=0"


# ---------------------------------------------------------------------------------------------------------------------
# the bookkeeping, on the CPU, with a capture that runs the step again at each replay
# ---------------------------------------------------------------------------------------------------------------------
class _Replayer:
    """Stands in for ``_graphs.capture``: counts captures and replays, and runs the step at each replay with the
    gradients set to None first (what the real graph's gradients, allocated inside the capture, amount to)."""

    def __init__(self):
        self.captures = 0
        self.replays = 0

    def __call__(self, step, device):
        self.captures += 1
        loss = torch.zeros(())
        params = [p for p in _Replayer.model.parameters()]

        def replay():
            self.replays += 1
            for p in params:
                p.grad = None
            loss.copy_(step().detach())

        return replay, loss


@pytest.fixture
def graphs_on_the_cpu(monkeypatch):
    """Graph mode on the CPU: no reason to train eagerly, and the stand-in capture."""
    replayer = _Replayer()
    real_training = _graphs.graphed_training

    def training(est, t, forward):
        _Replayer.model = t.encoder
        return real_training(est, t, forward)

    monkeypatch.setattr(_graphs, "graph_reason", lambda est, t: None)
    monkeypatch.setattr(_graphs, "capture", replayer)
    monkeypatch.setattr("neuroembed._training.graphed_training", training)
    return replayer


@pytest.mark.parametrize("conditional", ["time", "time_delta"])
def test_graph_mode_runs_every_iteration_once(graphs_on_the_cpu, conditional):
    X, y = _track()
    before = torch.default_generator.get_state()
    est = _fit(_estimator("cpu", conditional, max_iterations=40), X, y)
    assert est._training_path_ == "cuda-graph"
    assert graphs_on_the_cpu.captures == 1
    # the warm-up steps run eagerly; the capture's own iteration and every later one are replays
    assert graphs_on_the_cpu.replays == 40 - _graphs.WARMUP_STEPS
    assert est.loss_history_.shape == (40,) and np.isfinite(est.loss_history_).all()
    assert (
        len(np.unique(est.loss_history_)) > 30
    )  # one loss per iteration, not the last one repeated
    assert est.loss_history_[-10:].mean() < est.loss_history_[:10].mean()
    # the process-wide generator that the batches were drawn from is put back
    assert torch.equal(torch.default_generator.get_state(), before)
    assert np.isfinite(est.transform(X)).all()


def test_graph_mode_is_reproducible_and_leaves_the_sampler_its_generator(graphs_on_the_cpu):
    X, y = _track()
    a = _fit(_estimator("cpu", max_iterations=30), X, y)
    b = _fit(_estimator("cpu", max_iterations=30), X, y)
    np.testing.assert_array_equal(a.loss_history_, b.loss_history_)
    # the batches come from another generator than on the eager path, seeded from the fit's own
    with mock.patch.object(_graphs, "graph_reason", lambda est, t: "eager"):
        c = _fit(_estimator("cpu", max_iterations=30), X, y)
    assert c._training_path_ == "eager (eager)"
    assert not np.array_equal(a.loss_history_, c.loss_history_)


def test_graph_mode_with_early_stopping_restores_the_best_weights(graphs_on_the_cpu):
    X, y = _track()
    est = _fit(
        _estimator(
            "cpu", max_iterations=60, early_stopping=True, validation_every=10, n_iter_no_change=100
        ),
        X,
        y,
    )
    assert est._training_path_ == "cuda-graph"
    assert len(est.validation_scores_) == 6
    assert est.best_validation_score_ == pytest.approx(max(est.validation_scores_))


# ---------------------------------------------------------------------------------------------------------------------
# on each device: a real graph on CUDA, the eager path elsewhere
# ---------------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("conditional", ["time", "time_delta", "delta"])
def test_fit_trains_from_a_graph_on_cuda_as_well_as_eagerly(device, conditional):
    X, y = _track()
    extra = {"delta": 0.05} if conditional == "delta" else {}
    graphed = _fit(_estimator(device, conditional, **extra), X, y)
    with mock.patch.dict(os.environ, {_graphs.ENVIRONMENT_VARIABLE: "0"}):
        eager = _fit(_estimator(device, conditional, **extra), X, y)
    if device == "cuda":
        assert graphed._training_path_ == "cuda-graph"
    else:
        assert graphed._training_path_.startswith("eager")
    assert eager._training_path_.startswith("eager")
    g, e = graphed.loss_history_, eager.loss_history_
    assert g.shape == e.shape == (120,) and np.isfinite(g).all()
    # other batches (a graph draws from another generator), the same descent: at least half the eager one's
    drop = e[:10].mean() - e[-20:].mean()
    assert drop > 0.1
    assert g[:10].mean() - g[-20:].mean() > 0.5 * drop
    assert np.isfinite(graphed.transform(X)).all()


def test_graphed_fit_is_reproducible_on_each_device(device):
    X, y = _track()
    a = _fit(_estimator(device, max_iterations=60), X, y)
    b = _fit(_estimator(device, max_iterations=60), X, y)
    np.testing.assert_allclose(a.loss_history_, b.loss_history_, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(a.transform(X), b.transform(X), rtol=1e-3, atol=1e-4)


def test_graphed_fit_with_early_stopping_and_max_seconds_on_each_device(device):
    X, y = _track()
    est = _fit(
        _estimator(
            device,
            max_iterations=80,
            early_stopping=True,
            validation_every=20,
            n_iter_no_change=100,
        ),
        X,
        y,
    )
    assert len(est.validation_scores_) == 4
    assert est.best_validation_score_ == pytest.approx(max(est.validation_scores_))
    timed = _fit(_estimator(device, max_iterations=10**6, max_seconds=2.0), X, y)
    assert timed.stop_reason_ == "max_seconds" and 0 < timed.n_iter_ < 10**6
    if device == "cuda":
        assert est._training_path_ == timed._training_path_ == "cuda-graph"


@pytest.mark.parametrize("case", ["discrete", "two sessions", "hybrid"])
def test_more_fits_train_from_a_graph_on_cuda(device, case):
    X, y = _track()
    if case == "discrete":
        est, target = (
            _estimator(device, "discrete"),
            (np.arange(len(X)) // 300 % 3).astype(np.int64),
        )
    elif case == "two sessions":
        est, X, target = _estimator(device), [X, X[::-1].copy()], [y, y[::-1].copy()]
    else:
        est, target = _estimator(device, hybrid=True), y
    est.fit(X, target)
    h = est.loss_history_
    assert est._training_path_ == (
        "cuda-graph" if device == "cuda" else "eager (the fit runs on cpu, not CUDA)"
    )
    assert h.shape == (120,) and np.isfinite(h).all() and h[-20:].mean() < h[:10].mean()


def test_eager_reasons_on_cuda(device):
    """Fits whose step has not been captured on a GPU say why they train eagerly."""
    if device != "cuda":
        pytest.skip("the reasons below are checked on CUDA; elsewhere every fit is eager")
    X, y = _track()
    est = _estimator(device, max_iterations=20, objectives=[("time_delta", 2), ("time", 2)]).fit(
        X, y
    )
    assert est._training_path_ == "eager (a sampler other than ContrastiveSampler)"
    est = _estimator(device, "time_delta", max_iterations=20, precision="bfloat16").fit(X, y)
    assert est._training_path_ == "eager (precision 'bfloat16')"


def test_force_skips_the_list_of_captured_steps_but_not_the_optimiser_or_a_ramp():
    with mock.patch.dict(os.environ, {_graphs.ENVIRONMENT_VARIABLE: "force"}):
        assert _graphs.graph_reason(_settings(precision="bfloat16"), _training(multi=True)) is None
        assert _graphs.graph_reason(_settings(jacobian_weight=0.01), _training()) is None
        plain = torch.optim.Adam([torch.nn.Parameter(torch.zeros(2))])
        assert "capturable" in _graphs.graph_reason(_settings(), _training(optimizer=plain))
        ramped = _settings(jacobian_weight=0.01, jacobian_ramp=(10, 20))
        assert (
            _graphs.graph_reason(ramped, _training())
            == "a Jacobian penalty ramped over the iterations"
        )


def test_eager_steps_of_a_graphed_fit_see_their_iteration(graphs_on_the_cpu, monkeypatch):
    """The warm-up steps and a failed capture's eager steps get their own iteration (a ramp needs it)."""
    seen = []
    real = _graphs.GraphedStep._update

    def spy(self, i):
        seen.append(i)
        return real(self, i)

    def refuse(step, device):
        raise RuntimeError("no")

    monkeypatch.setattr(_graphs.GraphedStep, "_update", spy)
    monkeypatch.setattr(_graphs, "capture", refuse)
    X, y = _track()
    with pytest.warns(RuntimeWarning, match="could not be captured"):
        _fit(_estimator("cpu", max_iterations=8), X, y)
    assert seen == list(range(8))


def test_a_failed_capture_warns_and_trains_on_eagerly(graphs_on_the_cpu, monkeypatch):
    def refuse(step, device):
        raise RuntimeError("operation not permitted when stream is capturing\nmore detail")

    monkeypatch.setattr(_graphs, "capture", refuse)
    X, y = _track()
    with pytest.warns(RuntimeWarning, match="could not be captured.*not permitted when stream"):
        est = _fit(_estimator("cpu", max_iterations=30), X, y)
    assert est._training_path_ == (
        "eager (the capture failed: RuntimeError: operation not permitted when stream is capturing)"
    )
    assert est.loss_history_.shape == (30,) and np.isfinite(est.loss_history_).all()
    assert est.loss_history_[-5:].mean() < est.loss_history_[:5].mean()
