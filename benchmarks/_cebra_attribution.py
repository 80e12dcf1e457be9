"""xCEBRA baseline for ``benchmarks/attribution.py``: CEBRA 0.6.1's regularised multi-objective model and its maps.

This module is imported lazily, only where CEBRA 0.6.1 is installed with its attribution extras (``captum`` and
``cvxpy``, which ``cebra.attribution`` imports at import time: ``pip install "cebra[integrations]==0.6.1"`` or
``pip install captum cvxpy``). It only *calls* CEBRA's API; the training loop, the sampling, the losses, the
regulariser, the schedule, the padding and the attribution maps are all CEBRA's own code.

What :func:`fit_xcebra` does, and with which CEBRA objects
-----------------------------------------------------------
Data
    ``cebra.data.DatasetxCEBRA(neural, behaviour=...)``: the recording (float32) and the continuous behaviour
    (float32, ``(n, d)``) as the label named ``"behaviour"``. ``dataset.configure_for(model)`` gives it the
    offset10 receptive field (``Offset(5, 5)``).
Sampling
    ``cebra.data.ContrastiveMultiObjectiveLoader(dataset, num_steps=iterations, batch_size=batch_size)``, whose only
    mode, ``sampling_mode_contrastive="refneg_shared"``, draws ``2 * batch_size`` indices uniformly from the whole
    recording (``cebra.distributions.Prior``): the first half are the references and the second half the negatives,
    both shared by every objective; each objective then draws its own positives for the same references.
Objectives
    ``cebra.solver.MultiObjectiveConfig(loader)`` with two pushes:

    1. ``set_slice(0, behaviour_dims)``, ``set_loss("FixedCosineInfoNCE", temperature=1.0)``,
       ``set_distribution("time_delta", time_delta=time_delta, label_name="behaviour")``
       (``cebra.distributions.TimedeltaDistribution``: the positive is the sample whose behaviour is nearest to the
       reference's behaviour plus a behaviour change seen ``time_delta`` steps apart somewhere in the recording);
    2. ``set_slice(behaviour_dims, behaviour_dims + time_dims)``, the same loss,
       ``set_distribution("time", time_offset=time_offset)`` (``cebra.distributions.TimeContrastive``: the positive
       is the reference ``time_offset`` samples later).

    ``config.finalize()`` builds ``cebra.models.MultiCriterions`` (one ``FixedCosineInfoNCE`` per slice, summed).
    The temperature is 1.0, fixed: it is ``FixedCosineInfoNCE``'s default and the value of CEBRA's xCEBRA
    examples. ``FixedCosineInfoNCE`` is a plain dot product over the temperature; the cosine comes from the model
    re-normalising each slice to its own unit sphere (``renormalize=True`` below).
Encoder
    ``cebra.models.init("offset10-model", num_neurons, num_units, num_output=behaviour_dims + time_dims)``
    (its own output normalisation left on, as in CEBRA's examples; ``num_units=32`` by default, the hidden width of
    CEBRA's own scikit-learn default and of neuroembed's estimator, so both systems train the same-sized network;
    CEBRA's xCEBRA demo and test use 256, pass ``num_units=256`` for that), wrapped by the solver in
    ``cebra.models.multiobjective.SubspaceMultiobjectiveConvolutionalModel`` (``feature_ranges`` from the config,
    ``renormalize=True``): each slice is L2-normalised on its own and returned as its own output.
Solver
    ``cebra.solver.init("multiobjective-solver", ...)`` =
    ``cebra.solver.multiobjective.ContrastiveMultiobjectiveSolverxCEBRA`` with ``torch.optim.Adam`` (``lr``,
    ``weight_decay=0``) over the encoder's and the criterion's parameters, ``use_sam=False``, and
    ``regularizer=cebra.models.jacobian_regularizer.JacobianReg()`` (its default ``n=1``: one random projection
    per sample, as in CEBRA's xCEBRA test and demo). With ``regularized=True``, ``solver.fit`` gets
    ``scheduler_regularizer=cebra.solver.schedulers.LinearRampUp(n_splits=2, ...)``: the penalty weight rises
    linearly from 0 at step ``ramp[0]`` to ``jacobian_weight`` at step ``ramp[1]`` and stays there; before
    ``ramp[0]`` the scheduler returns ``None`` and the penalty is not computed at all. With ``ramp=None`` the same
    class is used with ``start_weight = end_weight = jacobian_weight`` from step 0 (``LinearRampUp`` asserts
    ``stop > start``, so the window is ``(0, 1)``): the full weight from the first step. CEBRA applies the penalty
    once per objective: the Jacobian of each (re-normalised) slice with respect to the reference windows, each
    with the same weight, and adds both. With ``regularized=False`` the scheduler is ``None`` and the solver never
    calls the regulariser (it is still passed, because the solver's ``parameters()`` iterates over it).
Embedding
    ``solver.model.set_split_outputs(False)`` then ``solver.transform(neural)`` (``pad_before_transform=True``):
    CEBRA pads the recording by repeating its first sample 5 times and its last sample 4 times
    (``F.pad(..., "replicate")``), so the embedding has one row per sample. ``transform_batch_size`` is passed on
    as ``batch_size`` (CEBRA only batches when the recording is longer than twice that; the result is the same).
Maps
    ``cebra.attribution.init("jacobian-based-batched", model=solver.model, input_data=neural,
    output_dimension=behaviour_dims + time_dims)`` then ``compute_attribution_map(batch_size=...)``, on CPU, with
    the model returning the concatenated, per-slice-normalised embedding (``split_outputs=False``). CEBRA cuts the
    recording into every window the model sees without padding (``TensorDataset(...)[arange(5, n - 4)]``: ``n - 9``
    windows of 10 samples, the same windows as neuroembed's at samples 5 .. n - 5: ``reference_values_attribution.py``
    checks them), computes
    the per-window Jacobian ``(n - 9, out, neurons, 10)`` with ``torch.autograd`` in batches, and names:

    ``jf``                  the Jacobian averaged over the 10 taps of the window (signed mean),
    ``jf-convabs``          the mean of its absolute value over the taps,
    ``jf-inv-lsq``          per window, ``scipy.linalg.lstsq(J, I).T``, the least-squares (pseudo-)inverse of
                            ``jf`` transposed back to ``(out, neurons)``: xCEBRA's "inverted neuron gradient" (the
                            one CEBRA's own xCEBRA test scores; CEBRA's source notes it chose lstsq because
                            ``np.linalg.pinv`` was numerically unstable on these matrices),
    ``jf-inv-svd``          the same with ``scipy.linalg.pinv``,
    ``jf-convabs-inv-lsq``  / ``-svd``: the inverses of ``jf-convabs``.

    Each map returned here is CEBRA's per-window map summarised as the mean over windows of its absolute value
    (``np.abs(m).mean(0)``, as in CEBRA's test and demo), ``(out, neurons)``:

    ``"jacobian"`` = ``jf``; ``"inverted-jacobian"`` = ``jf-inv-lsq``; ``"jacobian-convabs"`` = ``jf-convabs``;
    ``"inverted-jacobian-convabs"`` = ``jf-convabs-inv-lsq``; ``"inverted-jacobian-svd"`` = ``jf-inv-svd``.

    ``extra_methods`` adds Captum-backed maps through the batched CEBRA classes, summarised the same way:
    ``"neuron-gradient"`` (``"neuron-gradient-batched"``: the same gradient through Captum's ``NeuronGradient``,
    key ``neuron-gradient``; on by default, it costs about what the Jacobian costs), ``"integrated-gradients"``
    (``"integrated-gradients-batched"``, CEBRA's defaults: 50 Gauss-Legendre steps from a zero baseline, so about
    50 times the Jacobian) and ``"feature-ablation"`` (``"feature-ablation-batched"``, CEBRA's defaults: every
    (neuron, tap) input replaced by 0 on its own, one forward pass each per output dimension, so
    ``10 * neurons * out`` forward passes). The last two are off by default because they are not cheap.

    ``map_seconds[m]`` is the wall time to obtain map ``m`` from the trained model: CEBRA computes the Jacobian
    once and every inverse from it in one call, so the call is split by timing CEBRA's own ``_inverse`` calls
    (the instance's method is wrapped by a timer, which calls it unchanged): ``"jacobian"`` and
    ``"jacobian-convabs"`` get the Jacobian pass (the call less all inversions), each inverted map the Jacobian pass
    plus its own inversion. ``map_seconds_detail`` has the pieces.

Deviations from xCEBRA's published recipe, and other choices
-------------------------------------------------------------
* Layout of the subspaces. CEBRA's xCEBRA demo (RatInABox) and test put the time-contrastive loss on the *whole*
  embedding (slice ``0:B+T``) and the behaviour loss on a part of it (``0:B``); CEBRA then normalises ``0:B`` and
  ``B:B+T`` separately and the time loss sees their concatenation. The benchmark asks for two disjoint parts, the
  behaviour part first and the time part last, each on its own sphere, so that is the default
  (``layout="disjoint"``); ``layout="overlap"`` gives the demo's layout (behaviour ``0:B``, time ``0:B+T``) with the
  same dimension counts.
* Loss: cosine (``FixedCosineInfoNCE``, temperature 1, per-slice re-normalisation), as in the RatInABox demo; the
  synthetic-data test uses ``FixedEuclideanInfoNCE`` with an un-normalised ``offset1-model-mse-clip-5-5`` instead.
  The encoder here is offset10 with 32 hidden units by default (CEBRA's xCEBRA examples use 256).
* Seeding. ``torch.manual_seed(seed)`` and ``np.random.seed(seed)`` come first. CEBRA 0.6.1's samplers
  (``cebra.distributions.base.HasGenerator``) seed their own ``torch.Generator`` with ``Generator.seed()``, a fresh
  non-deterministic seed, whatever the global seed, so CEBRA's sampling is not reproducible by itself. To make runs
  repeatable, the generators of the loader's prior and of each objective's distribution are re-seeded with
  ``manual_seed(seed * 1000 + k)`` after they are built (``reseed_samplers=True``; pass ``False`` for CEBRA's
  unseeded behaviour). ``JacobianReg``'s random projections use the global torch generator.
* Ends of the recording (CEBRA's own behaviour, not changed): references and negatives are drawn from all ``n``
  samples and time positives are ``reference + time_offset``; CEBRA clamps every window centre to ``[5, n - 5]``,
  so the last ``time_offset`` references get a positive clamped towards the end, and windows near either end are
  the edge windows. Maps are averaged over the ``n - 9`` unpadded windows (not ``n``), while the embedding has
  ``n`` rows (replicate padding).
* ``batch_size`` must not exceed the number of samples (CEBRA's loader raises).

The numbers returned are CEBRA's; only the summaries (mean absolute value over windows), the timings and the
re-seeding are this file's.
"""

from __future__ import annotations

import contextlib
import io
import time
from typing import Any

import cebra
import cebra.attribution
import cebra.data
import cebra.models
import cebra.models.jacobian_regularizer
import cebra.solver
import cebra.solver.schedulers
import numpy as np
import torch

#: Map name -> CEBRA's key in the result of its "jacobian-based" method.
JACOBIAN_MAPS = {
    "jacobian": "jf",
    "inverted-jacobian": "jf-inv-lsq",
    "jacobian-convabs": "jf-convabs",
    "inverted-jacobian-convabs": "jf-convabs-inv-lsq",
    "inverted-jacobian-svd": "jf-inv-svd",
}

#: Extra map name -> (CEBRA registry name, CEBRA's key in its result).
CAPTUM_MAPS = {
    "neuron-gradient": ("neuron-gradient-batched", "neuron-gradient"),
    "integrated-gradients": ("integrated-gradients-batched", "integrated-gradients"),
    "feature-ablation": ("feature-ablation-batched", "feature-ablation"),
}


def _summary(per_window: Any) -> np.ndarray:
    """CEBRA's per-window map ``(windows, out, neurons)`` -> the mean absolute value ``(out, neurons)``."""
    return np.abs(np.asarray(per_window, dtype=np.float64)).mean(axis=0)


def fit_xcebra(
    neural: np.ndarray,
    behaviour: np.ndarray,
    *,
    behaviour_dims: int,
    time_dims: int,
    iterations: int,
    regularized: bool,
    seed: int,
    batch_size: int = 512,
    learning_rate: float = 3e-4,
    time_offset: int = 10,
    jacobian_weight: float = 0.01,
    ramp: tuple[int, int] | None = None,
    device: str = "cpu",
    time_delta: int = 1,
    num_units: int = 32,
    layout: str = "disjoint",
    extra_methods: tuple[str, ...] = ("neuron-gradient",),
    map_batch_size: int = 1024,
    transform_batch_size: int | None = 10_000,
    reseed_samplers: bool = True,
    quiet: bool = True,
) -> dict:
    """Train CEBRA 0.6.1's xCEBRA (multi-objective solver, optional Jacobian regulariser) and compute its maps.

    Args:
        neural: ``(n_samples, n_neurons)`` recording.
        behaviour: ``(n_samples,)`` or ``(n_samples, d)`` continuous behaviour (the behaviour part's positives).
        behaviour_dims, time_dims: sizes of the behaviour part (first rows) and the time part (last rows).
        iterations: training steps (batches).
        regularized: add CEBRA's Jacobian regulariser (``JacobianReg``) with weight ``jacobian_weight``.
        seed: global torch / numpy seed, and the seed of CEBRA's samplers (see ``reseed_samplers``).
        batch_size: references per step (the same number of shared negatives).
        learning_rate: Adam's learning rate.
        time_offset: the time part's positive is the reference ``time_offset`` samples later.
        jacobian_weight: final weight of the penalty.
        ramp: ``(start, stop)``: the weight rises linearly from 0 at ``start`` to ``jacobian_weight`` at ``stop``
            (CEBRA's ``LinearRampUp``), no penalty before ``start``; ``None``: full weight from step 0.
        device: training device (maps are always computed on CPU).
        time_delta: ``TimedeltaDistribution``'s ``time_delta`` for the behaviour positives (CEBRA's default, 1).
        num_units: hidden width of the offset10 encoder (32: CEBRA's scikit-learn default; xCEBRA's demo: 256).
        layout: ``"disjoint"`` (behaviour ``0:B``, time ``B:B+T``) or ``"overlap"`` (CEBRA's demo: behaviour
            ``0:B``, time on the whole ``0:B+T``).
        extra_methods: Captum-backed CEBRA maps to add: any of ``"neuron-gradient"``, ``"integrated-gradients"``,
            ``"feature-ablation"``.
        map_batch_size: windows per batch for CEBRA's batched attribution methods.
        transform_batch_size: passed to ``solver.transform`` as ``batch_size`` (``None``: one pass).
        reseed_samplers: re-seed CEBRA's sampler generators from ``seed`` (CEBRA itself seeds them randomly).
        quiet: swallow CEBRA's ``print`` output during set-up and attribution.

    Returns:
        ``embedding`` ``(n_samples, B+T)``; ``fit_seconds``; ``maps`` ``{name: (B+T, n_neurons)}``;
        ``map_seconds`` ``{name: seconds}``; plus ``map_keys`` (name -> CEBRA's key), ``map_seconds_detail``,
        ``n_windows`` (windows the maps average over), ``final_losses`` (last step's loss per objective),
        ``penalty`` (from CEBRA's solver log: steps on which the penalty was computed, its first and final
        weight, its final value per objective), ``seconds_per_step``, ``config`` (the settings used).
    """
    if layout not in ("disjoint", "overlap"):
        raise ValueError(f"layout must be 'disjoint' or 'overlap', got {layout!r}")
    unknown = set(extra_methods) - set(CAPTUM_MAPS)
    if unknown:
        raise ValueError(
            f"unknown extra_methods {sorted(unknown)}; choose from {sorted(CAPTUM_MAPS)}"
        )
    if ramp is not None and not (0 <= int(ramp[0]) < int(ramp[1])):
        raise ValueError(f"ramp must be (start, stop) with 0 <= start < stop, got {ramp}")
    out_dims = int(behaviour_dims) + int(time_dims)
    silence = (
        (lambda: contextlib.redirect_stdout(io.StringIO())) if quiet else contextlib.nullcontext
    )

    start = time.perf_counter()
    torch.manual_seed(seed)
    np.random.seed(seed)  # noqa: NPY002  (asked for: the global numpy seed)

    neural_t = torch.as_tensor(np.asarray(neural, dtype=np.float32), device=device)
    behaviour_np = np.asarray(behaviour, dtype=np.float32)
    if behaviour_np.ndim == 1:
        behaviour_np = behaviour_np[:, None]
    behaviour_t = torch.as_tensor(behaviour_np, device=device)
    if len(behaviour_t) != len(neural_t):
        raise ValueError(f"neural has {len(neural_t)} samples, behaviour {len(behaviour_t)}")

    with silence():
        dataset = cebra.data.DatasetxCEBRA(neural_t, device=device, behaviour=behaviour_t)
        loader = cebra.data.ContrastiveMultiObjectiveLoader(
            dataset=dataset, num_steps=int(iterations), batch_size=int(batch_size)
        ).to(device)

        config = cebra.solver.MultiObjectiveConfig(loader)
        config.set_slice(0, int(behaviour_dims))
        config.set_loss("FixedCosineInfoNCE", temperature=1.0)
        config.set_distribution("time_delta", time_delta=int(time_delta), label_name="behaviour")
        config.push()
        config.set_slice(int(behaviour_dims) if layout == "disjoint" else 0, out_dims)
        config.set_loss("FixedCosineInfoNCE", temperature=1.0)
        config.set_distribution("time", time_offset=int(time_offset))
        config.push()
        config.finalize()

        if reseed_samplers:
            samplers = [loader.prior, *loader.distributions]
            for k, sampler in enumerate(samplers):
                sampler.generator.manual_seed(int(seed) * 1000 + k)

        encoder = cebra.models.init(
            "offset10-model",
            num_neurons=neural_t.shape[1],
            num_units=int(num_units),
            num_output=out_dims,
        ).to(device)
        dataset.configure_for(encoder)

        optimizer = torch.optim.Adam(
            list(encoder.parameters()) + list(config.criterion.parameters()),
            lr=learning_rate,
            weight_decay=0.0,
        )
        solver = cebra.solver.init(
            name="multiobjective-solver",
            model=encoder,
            feature_ranges=config.feature_ranges,
            regularizer=cebra.models.jacobian_regularizer.JacobianReg(),
            renormalize=True,
            use_sam=False,
            criterion=config.criterion,
            optimizer=optimizer,
            tqdm_on=False,
        ).to(device)

        scheduler = None
        if regularized:
            on, off = (0, 1) if ramp is None else (int(ramp[0]), int(ramp[1]))
            first = float(jacobian_weight) if ramp is None else 0.0
            scheduler = cebra.solver.schedulers.LinearRampUp(
                n_splits=2,
                step_to_switch_on_reg=on,
                step_to_switch_off_reg=off,
                start_weight=first,
                end_weight=float(jacobian_weight),
            )

    train_start = time.perf_counter()
    solver.fit(
        loader=loader,
        valid_loader=None,
        log_frequency=None,
        scheduler_regularizer=scheduler,
        scheduler_loss=None,
    )
    if device != "cpu" and torch.cuda.is_available():
        torch.cuda.synchronize()
    end = time.perf_counter()
    fit_seconds = end - start
    seconds_per_step = (end - train_start) / max(1, int(iterations))

    # The whole recording through CEBRA's transform (replicate padding at both ends).
    solver.model.set_split_outputs(False)
    embedding = (
        solver.transform(neural_t, pad_before_transform=True, batch_size=transform_batch_size)
        .detach()
        .cpu()
        .numpy()
    )

    # Maps on CPU.
    model = solver.model.to("cpu").eval()
    maps: dict[str, np.ndarray] = {}
    map_seconds: dict[str, float] = {}
    detail: dict[str, float] = {}
    map_keys: dict[str, str] = dict(JACOBIAN_MAPS)

    def attribution_input() -> torch.Tensor:
        x = torch.as_tensor(np.asarray(neural, dtype=np.float32)).clone()
        return x.requires_grad_(True)

    with silence():
        t0 = time.perf_counter()
        jacobian_method = cebra.attribution.init(
            name="jacobian-based-batched",
            model=model,
            input_data=attribution_input(),
            output_dimension=out_dims,
        )
        n_windows = int(jacobian_method.input_data.shape[0])
        inversions: list[tuple[int, str, float]] = []
        cebra_inverse = (
            jacobian_method._inverse
        )  # CEBRA's bound method, called unchanged; only timed

        def timed_inverse(jacobian, method="lsq"):  # noqa: ANN001, ANN202
            t = time.perf_counter()
            inverse = cebra_inverse(jacobian, method=method)
            inversions.append((id(jacobian), method, time.perf_counter() - t))
            return inverse

        jacobian_method._inverse = timed_inverse
        result = jacobian_method.compute_attribution_map(
            batch_size=min(int(map_batch_size), n_windows)
        )
        total = time.perf_counter() - t0

    inversion_seconds: dict[tuple[str, str], float] = {}
    for ident, how, seconds in inversions:
        for key in ("jf", "jf-convabs"):
            if ident == id(result[key]):
                inversion_seconds[(key, how)] = inversion_seconds.get((key, how), 0.0) + seconds
    jacobian_pass = total - sum(s for _, _, s in inversions)
    detail["jacobian-pass (init + autograd, all windows)"] = jacobian_pass
    for (key, how), seconds in inversion_seconds.items():
        detail[f"inversion {key} {how}"] = seconds

    inverse_of = {
        "jf-inv-lsq": ("jf", "lsq"),
        "jf-inv-svd": ("jf", "svd"),
        "jf-convabs-inv-lsq": ("jf-convabs", "lsq"),
    }
    for name, key in JACOBIAN_MAPS.items():
        t = time.perf_counter()
        maps[name] = _summary(result[key])
        summary_seconds = time.perf_counter() - t
        extra = inversion_seconds.get(inverse_of[key], 0.0) if key in inverse_of else 0.0
        map_seconds[name] = jacobian_pass + extra + summary_seconds
    del result

    for name in extra_methods:
        registry_name, key = CAPTUM_MAPS[name]
        with silence():
            t = time.perf_counter()
            captum_method = cebra.attribution.init(
                name=registry_name,
                model=model,
                input_data=attribution_input(),
                output_dimension=out_dims,
            )
            captum_result = captum_method.compute_attribution_map(
                batch_size=min(int(map_batch_size), n_windows)
            )
            maps[name] = _summary(captum_result[key])
            map_seconds[name] = time.perf_counter() - t
        map_keys[name] = key
        del captum_result

    final_losses = [
        float(solver.log[("loss_train", i)][-1])
        for i in range(2)
        if ("loss_train", i) in solver.log
    ]
    weights = solver.log.get(("regularizer_weight", 0), [])
    penalty = {
        "steps_with_penalty": len(weights),
        "first_weight": float(weights[0]) if weights else None,
        "final_weight": float(weights[-1]) if weights else None,
        "final_value": [
            float(solver.log[("regularizer", i)][-1])
            for i in range(2)
            if ("regularizer", i) in solver.log
        ],
    }
    return {
        "embedding": embedding,
        "fit_seconds": float(fit_seconds),
        "maps": maps,
        "map_seconds": {k: float(v) for k, v in map_seconds.items()},
        "map_keys": map_keys,
        "map_seconds_detail": {k: float(v) for k, v in detail.items()},
        "n_windows": n_windows,
        "final_losses": final_losses,
        "penalty": penalty,
        "seconds_per_step": float(seconds_per_step),
        "config": {
            "cebra_version": cebra.__version__,
            "feature_ranges": [(s.start, s.stop) for s in config.feature_ranges],
            "loss": "FixedCosineInfoNCE(temperature=1.0)",
            "model": f"offset10-model(num_units={num_units})",
            "layout": layout,
            "regularized": bool(regularized),
            "jacobian_weight": float(jacobian_weight) if regularized else 0.0,
            "ramp": None if ramp is None else (int(ramp[0]), int(ramp[1])),
            "reseed_samplers": bool(reseed_samplers),
        },
    }


if __name__ == "__main__":
    # A few-second smoke test: 500 x 20 Poisson counts, 20 steps. Run with OMP_NUM_THREADS=1.
    torch.set_num_threads(1)
    rng = np.random.default_rng(0)
    T, N = 500, 20
    phase = np.linspace(0, 8 * np.pi, T)
    behaviour = np.stack([np.sin(phase), np.cos(phase)], axis=1).astype(np.float32)
    rates = np.exp(0.5 + 0.8 * behaviour @ rng.normal(size=(2, N)))
    neural = rng.poisson(rates).astype(np.float32)
    for regularized, ramp in ((True, (5, 15)), (False, None)):
        out = fit_xcebra(
            neural,
            behaviour,
            behaviour_dims=3,
            time_dims=3,
            iterations=20,
            regularized=regularized,
            seed=0,
            batch_size=128,
            num_units=32,
            ramp=ramp,
        )
        print(
            f"regularized={regularized} ramp={ramp}: embedding {out['embedding'].shape}, fit "
            f"{out['fit_seconds']:.2f} s ({1e3 * out['seconds_per_step']:.1f} ms/step), windows {out['n_windows']}, "
            f"final losses {[round(v, 3) for v in out['final_losses']]}, penalty {out['penalty']}"
        )
        for name, m in out["maps"].items():
            print(
                f"  {name:27s} {m.shape} {out['map_seconds'][name]:.3f} s  (CEBRA key {out['map_keys'][name]})"
            )
        print("  detail:", {k: round(v, 4) for k, v in out["map_seconds_detail"].items()})
        print("  config:", out["config"])
