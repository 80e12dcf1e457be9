import warnings

import h5py
import numpy as np
import pytest
import torch

from neuroembed.models import Offset5, Offset10
from neuroembed.solver import (
    TrainingDivergedError,
    embed,
    make_generators,
    resolve_device,
    train_loop,
)


def test_resolve_device():
    assert resolve_device("cpu").type == "cpu"
    assert resolve_device("auto").type in ("cpu", "cuda")
    with pytest.raises(ValueError, match="choose one of"):
        resolve_device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA is not available"):
            resolve_device("cuda")
    with pytest.raises(TypeError):
        resolve_device(3)


def test_generators_are_seeded():
    a = make_generators(5, torch.device("cpu"))[1]
    b = make_generators(5, torch.device("cpu"))[1]
    assert torch.equal(torch.rand(3, generator=a), torch.rand(3, generator=b))
    with pytest.raises(TypeError, match="random_state"):
        make_generators("x", torch.device("cpu"))


def _quadratic():
    w = torch.nn.Parameter(torch.tensor([3.0]))
    opt = torch.optim.SGD([w], lr=0.1)
    return w, opt


def test_train_loop_records_losses_and_calls_after_step():
    w, opt = _quadratic()
    seen = []
    result = train_loop(lambda i: (w**2).sum(), opt, 20, after_step=seen.append)
    assert result.n_iterations == 20 and len(result.loss_history) == 20
    assert seen == list(range(20))
    assert result.loss_history[-1] < result.loss_history[0]


def test_train_loop_nan_names_iteration():
    w, opt = _quadratic()
    with pytest.raises(TrainingDivergedError, match="iteration 4"):
        train_loop(lambda i: (w**2).sum() * (float("nan") if i == 4 else 1.0), opt, 10)


def test_train_loop_nan_before_any_update_does_not_blame_the_learning_rate():
    w, opt = _quadratic()
    with pytest.raises(
        TrainingDivergedError, match="at the first iteration, before any weight"
    ) as info:
        train_loop(lambda i: (w**2).sum() * float("nan"), opt, 10)
    assert "Lower the learning rate" not in str(info.value)


def test_train_loop_keyboard_interrupt_keeps_progress():
    w, opt = _quadratic()

    def step(i):
        if i == 3:
            raise KeyboardInterrupt
        return (w**2).sum()

    with pytest.warns(RuntimeWarning, match="interrupted after 3"):
        result = train_loop(step, opt, 10)
    assert result.interrupted and result.n_iterations == 3
    assert float(w.detach()) < 3.0


def test_train_loop_time_budget():
    w, opt = _quadratic()
    result = train_loop(lambda i: (w**2).sum(), opt, 10**6, max_seconds=0.2)
    assert 0 < result.n_iterations < 10**6
    assert result.stop_reason == "max_seconds" and len(result.loss_history) == result.n_iterations
    # a budget that runs out at the last iteration: all iterations ran
    result = train_loop(lambda i: (w**2).sum(), opt, 1, max_seconds=1e-9)
    assert result.n_iterations == 1 and result.stop_reason == "max_iterations"


def test_train_loop_says_why_it_stopped():
    w, opt = _quadratic()
    assert train_loop(lambda i: (w**2).sum(), opt, 5).stop_reason == "max_iterations"
    # after_step asks to stop by returning a reason; the iteration it was called after counts
    result = train_loop(
        lambda i: (w**2).sum(), opt, 100, after_step=lambda i: "early_stopping" if i == 6 else None
    )
    assert result.n_iterations == 7 and result.stop_reason == "early_stopping"
    assert len(result.loss_history) == 7 and not result.interrupted

    def step(i):
        if i == 2:
            raise KeyboardInterrupt
        return (w**2).sum()

    with pytest.warns(RuntimeWarning, match="interrupted"):
        assert train_loop(step, opt, 10).stop_reason == "interrupted"


def test_train_loop_history_grows_past_its_first_buffer(monkeypatch):
    from neuroembed import solver

    monkeypatch.setattr(solver, "_INITIAL_BUFFER", 3)
    w, opt = _quadratic()
    losses = []

    def step(i):
        loss = (w**2).sum()
        losses.append(float(loss.detach()))
        return loss

    result = train_loop(step, opt, 10)
    np.testing.assert_array_equal(result.loss_history, np.asarray(losses, dtype=np.float32))


def test_solver_loss_counts_only_the_rows_asked_for(device):
    from neuroembed.estimator import Estimator

    X = np.random.default_rng(0).poisson(1.0, (300, 6)).astype(np.float32)
    est = Estimator(
        model="offset5", conditional="time", batch_size=8, device=device, random_state=0
    )
    est._check_params()
    run = est._prepare(X, None)
    batch = run.solver.sampler.sample()
    rows = torch.tensor([0, 3, 5], device=device)
    with torch.no_grad():
        got = run.solver.loss(batch, rows=rows)
        ref, pos, neg = run.solver.encode(
            [[batch.reference[0][rows], batch.positive[0][rows], batch.negative[0]]]
        )
        torch.testing.assert_close(got, run.criterion(ref, pos, neg))
        assert not torch.equal(got, run.solver.loss(batch))


def _reference_embed(model, X):
    """Slow reference: pad by repeating edge rows, embed every window separately."""
    rf = model.receptive_field
    left = rf // 2
    right = rf - left
    padded = np.concatenate([np.repeat(X[:1], left, 0), X, np.repeat(X[-1:], right - 1, 0)])
    out = []
    with torch.no_grad():
        for t in range(len(X)):
            w = torch.from_numpy(padded[t : t + rf].T.copy())[None]
            out.append(model(w)[0, :, 0].numpy())
    return np.stack(out)


@pytest.mark.parametrize("cls", [Offset5, Offset10])
@pytest.mark.parametrize("chunk", [7, 1000])
def test_embed_edge_padding_and_chunks(cls, chunk):
    torch.manual_seed(0)
    model = cls(4).eval()
    X = np.random.default_rng(0).normal(size=(53, 4)).astype(np.float32)
    got = embed(
        model.stem, model.trunk, X, model.receptive_field, torch.device("cpu"), chunk_size=chunk
    )
    np.testing.assert_allclose(got, _reference_embed(model, X), atol=1e-5)


def test_embed_streams_hdf5(tmp_path):
    torch.manual_seed(0)
    model = Offset10(3).eval()
    X = np.random.default_rng(1).normal(size=(100, 3)).astype(np.float32)
    with h5py.File(tmp_path / "x.h5", "w") as f:
        f["x"] = X
    with h5py.File(tmp_path / "x.h5", "r") as f:
        got = embed(model.stem, model.trunk, f["x"], 10, torch.device("cpu"), chunk_size=16)
    np.testing.assert_allclose(got, _reference_embed(model, X), atol=1e-5)


def test_no_warnings_from_a_clean_loop():
    w, opt = _quadratic()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        train_loop(lambda i: (w**2).sum(), opt, 3)


@pytest.mark.parametrize("model", ["offset1", "offset5", "offset10", "offset36", "dilated34"])
@pytest.mark.parametrize("n_sessions", [1, 2])
def test_every_training_forward_path_gives_the_same_embeddings_and_gradients(
    model, n_sessions, monkeypatch, device
):
    # the modules' own channels-last forward (autograd; the path where the custom paths are off) is the reference
    # for the stem as products per kernel tap, the time-major trunk with its hand-written backward, window by
    # window, over the whole recording (stem, GELU and first block there; the stem as dense or as sparse products,
    # sparse on the CPU only), and with one session of each kind
    from neuroembed.estimator import Estimator
    from neuroembed.solver import ContrastiveSolver

    rng = np.random.default_rng(0)
    X = [
        rng.poisson(1.0, (n, 12 - 3 * i)).astype(np.float32)
        for i, n in enumerate([600, 3000][:n_sessions])
    ]
    est = Estimator(model=model, conditional="time", batch_size=64, device=device, random_state=0)
    est._check_params()
    run = est._prepare(X if n_sessions > 1 else X[0], None)
    assert run.solver._custom_paths == (device == "cpu")
    batch = run.solver.sampler.sample()
    groups = [[r, p, n] for r, p, n in zip(batch.reference, batch.positive, batch.negative)]
    results = []
    # (whole-recording fraction, time-major, largest density for sparse products): the modules (custom paths off);
    # the stem's products per tap then the module; window by window; whole recording, dense and sparse; the
    # default (mixed with 2 sessions)
    for fraction, time_major, density in (
        (None, False, -1.0),
        (0.0, False, -1.0),
        (0.0, True, -1.0),
        (1e9, True, -1.0),
        (1e9, True, 1.0),
        (0.8, True, 1.0),
        # the stem and only the first blocks over the whole of a 600-sample recording
        (0.1, True, 1.0),
    ):
        run.solver._custom_paths = fraction is not None
        monkeypatch.setattr(ContrastiveSolver, "whole_recording_fraction", fraction or 0.0)
        monkeypatch.setattr(ContrastiveSolver, "max_sparse_density", density)
        run.solver._sparse.clear()
        run.solver._time_major = time_major and model != "offset1"
        run.encoder.zero_grad()
        embedded = run.solver.encode(groups)
        assert [e.shape for e in embedded] == [(64 * n_sessions, 8)] * 3
        # every session's first layer ran over its whole recording, sparse or dense as asked
        if fraction == 1e9:
            if model != "offset1":
                assert run.solver._blocks_on_whole(192) == len(run.encoder.trunk.blocks)
            assert len(run.solver._sparse) == n_sessions
            sparse = density > 0 and device == "cpu"
            assert all((r is not None) == sparse for r in run.solver._sparse.values())
        weights = [torch.linspace(-1, 1, e.numel(), device=e.device).view_as(e) for e in embedded]
        sum((e * w).sum() for e, w in zip(embedded, weights)).backward()
        grads = [p.grad.clone() for p in run.encoder.parameters()]
        results.append(([e.detach() for e in embedded], grads))
    reference = results[0]
    for emb, grads in results[1:]:
        for a, b in zip(emb, reference[0]):
            torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)
        for a, b in zip(grads, reference[1]):
            torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize(
    "model,fraction,expected", [("dilated34", 0.1, 1), ("offset36", 0.1, 2), ("offset10", 0.8, 3)]
)
def test_blocks_run_over_the_whole_recording_while_the_windows_rows_outnumber_it(
    model, fraction, expected, monkeypatch
):
    # 600 samples, 192 windows: block j runs whole while 600 < fraction * 192 * (its input length per window)
    from neuroembed.estimator import Estimator
    from neuroembed.solver import ContrastiveSolver

    X = np.random.default_rng(0).poisson(1.0, (600, 5)).astype(np.float32)
    est = Estimator(model=model, conditional="time", batch_size=64, device="cpu", random_state=0)
    est._check_params()
    solver = est._prepare(X, None).solver
    monkeypatch.setattr(ContrastiveSolver, "whole_recording_fraction", fraction)
    assert solver._blocks_on_whole(192) == expected
