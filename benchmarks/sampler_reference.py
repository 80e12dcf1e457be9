"""Which indices neuroembed's and CEBRA's samplers draw, conditional by conditional, and whether they agree.

A cross-check beside ``reference_values.py`` (losses, metrics, models) and ``ring_study.py`` (``time_delta``
positives on a ring): for every conditional that both systems have, many training batches are drawn from each
system's sampler, configured as its scikit-learn face configures it for a fit, on the same synthetic recordings,
and the distributions of what they draw are compared with a test suited to each quantity:

* neuroembed: :class:`neuroembed.Estimator` (``model="offset10"``, ``time_offset=10``, ``batch_size=512``, the
  default ``delta=0.1``, ``num_negatives`` and prior) turned into its sampler by ``neuroembed._training.prepare``,
  exactly as ``fit`` builds it (``build_solver``), seeded by ``random_state``;
* CEBRA 0.6.1: :class:`cebra.CEBRA` (``model_architecture="offset10-model"``, ``time_offsets=10``,
  ``batch_size=512``, its defaults otherwise, ``delta=0.1`` where the conditional needs it: the default ``None``
  fails) turned into its loader by ``CEBRA._prepare_fit``, which chooses ``ContinuousDataLoader`` /
  ``DiscreteDataLoader`` (prior ``"empirical"``) / ``MixedDataLoader`` / the multi-session loaders from the data as
  ``fit`` does. CEBRA's distributions ignore their ``seed`` argument and partly draw from numpy's and torch's global
  generators, so both globals and every distribution's own generator are seeded; the loader's indices are mapped
  through the dataset's clamp to the window centres (``Dataset.expand_index``), which is what its model is fed.

Quantities compared (pooled over all batches): the reference index (chi-square over every window centre; mass on
the first and last centre), the positive index, the negatives' index, the offset positive - reference (chi-square
over its values for ``time``, KS otherwise), how often the positive is the reference itself, the behaviour distance
between reference and positive (KS), the class of references and of negatives (chi-square), the positives' label
agreement, and with several sessions the share of positives in another session than their reference's.

The verdicts (``same`` / ``differs`` at p < 0.001) and what the differences are come out of the draws; which side
each difference is on, and why, is argued in ``results/sampler_reference.md`` from the two code bases::

    python benchmarks/sampler_reference.py                # writes results/sampler_reference.md and prints it
    python benchmarks/sampler_reference.py --quick --output -   # 20 batches: a smoke test
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import sys
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import scipy
import scipy.signal
import scipy.stats
import torch

import neuroembed as ne
from neuroembed import _training

sys.path.insert(0, str(Path(__file__).resolve().parent))
from quality import cpu_model, git_revision  # noqa: E402

DEFAULT_OUTPUT = Path(__file__).resolve().parent / "results" / "sampler_reference.md"
SETTINGS = {"time_offset": 10, "batch_size": 512, "delta": 0.1}
NE_MODEL, CEBRA_MODEL = "offset10", "offset10-model"
ALPHA = 1e-3  # per test; about 100 tests per run


# Why the two systems differ, from their code (``CEBRA`` paths relative to site-packages/cebra/). (a) a documented
# choice of neuroembed, (b) a bug of neuroembed, (c) a quirk of CEBRA. The figures are in the tables above.
NOTES = [
    "**Edges: (c), and (a) on neuroembed's side.** CEBRA draws references and negatives over every sample, "
    "`[0, n)` (`distributions/continuous.py:77` `Prior.sample_prior` without an offset, `distributions/discrete.py:107,121`, "
    "`distributions/multisession.py:203,328`), and its dataset clamps each index to the nearest window centre "
    "(`data/base.py:146`): the first and the last centre are fed six times as often as any other (rows 'on the first or "
    "last centre', 'raw reference index outside the window centres'), and the behaviour searched for is the raw "
    "sample's, not the centre's. neuroembed draws only window centres (`neuroembed/sampling/sampler.py:262-277,310`; "
    "documented: docs/guides/conditionals.md, 'Valid samples').",
    "**`time` offsets and negatives: (c).** CEBRA's `TimeContrastive` draws references in `[0, n - time_offset)` regardless of the "
    "receptive field (`distributions/continuous.py:150-155`; an offset raises `NotImplementedError`); after the clamp, "
    "(5 + 4) / (n - 10) of the pairs lie 5-9 samples apart instead of 10, and the negatives, drawn from the "
    "same prior (`data/single_session.py:265-267`), never come from the last `time_offset` samples. neuroembed draws references in "
    "`[lo, hi - time_offset)` and positives at exactly `+time_offset` (`neuroembed/sampling/sampler.py:277,317`; "
    "docs/guides/time.md).",
    "**The reference as its own positive: (a).** neuroembed excludes it: behaviour searches get the reference as "
    "`exclude` (`neuroembed/sampling/sampler.py:355`), discrete positives skip it (`neuroembed/sampling/discrete.py:46-50`); "
    "documented in docs/guides/behaviour.md ('the reference itself is excluded'), discrete.md ('a uniformly random "
    "*other* sample') and multisession.md. CEBRA's searches take the argmin over every sample "
    "(`distributions/index.py:148,258`) and its discrete positive is uniform over the whole class "
    "(`distributions/discrete.py:137-142`), the reference included; `TimedeltaDistribution` also draws a zero change "
    "for time_offset/n of its targets (the first `time_offset` rows of `time_difference` stay 0, "
    "`distributions/continuous.py:230-231`). This is the row 'positive is the reference'. Where the exact nearest is "
    "the reference (6 % of the targets in 3-D, 1 % on the ring: last section), CEBRA answers the reference at "
    "distance 0 and neuroembed the second nearest, so the KS distance D of the behaviour distances equals CEBRA's "
    "self rate, and leaving the self pairs out (rows 'the same, positive not the reference') removes CEBRA's closest "
    "targets while neuroembed keeps them with their second nearest: in 3-D the difference then changes sign but "
    "stays. The search check (last section) shows that apart from this and the rounding of note 4 both answer the "
    "exact nearest.",
    "**CEBRA's float32 search favours early samples: (c).** `DistanceMatrix` computes `|x|^2 + |q|^2 - 2 x.q` in "
    "float32 (`distributions/index.py:74,99`) and `torch.argmin` returns the first of the values that round alike "
    "(`distributions/index.py:148,258`): where several samples lie within rounding of the target, CEBRA answers the "
    "earliest, not the nearest (section 'The behaviour searches on their own': the misses' index lies hundreds of "
    "samples before the exact answer's, the mean positive index is lower). This is why CEBRA's positive index, and "
    "its offsets positive - reference, differ from neuroembed's on the 1-D track while the behaviour distances agree "
    "(the misses are within rounding); `mixed` searches the same way (`ConditionalIndex`). neuroembed's searches are exact (`neuroembed/sampling/neighbours.py`; "
    "docs/guides/conditionals.md: 'Both are exact'); `benchmarks/results/ring_study.md` saw the same on the ring.",
    "**`mixed` references and negatives: (c) on CEBRA's side; neuroembed's choice is (a) for negatives.** CEBRA's "
    "`MixedTimeDeltaDistribution` draws references *and negatives* from `DiscreteUniform`, uniform over classes "
    "(`distributions/mixed.py:116`, `data/single_session.py:331-334`), with no setting to change it "
    "(`data/single_session.py:326-328`, a Todo), while its `discrete` loader defaults to the empirical prior "
    "(`data/single_session.py:107`). neuroembed draws both uniformly over the window centres in every conditional "
    "(`neuroembed/sampling/sampler.py:262-270,310`; docs/guides/conditionals.md: 'Negatives are always drawn uniformly "
    "from the recording'; docs/guides/mixed.md: 'References and negatives are drawn uniformly over the samples'), "
    "and has no class-balanced option. With classes 60:30:10, CEBRA's references and negatives are a third of each "
    "class.",
    "**Labels with a gap: a CEBRA bug (c).** `Discrete._init_transform` counts classes with `np.bincount` "
    "(`distributions/discrete.py:81-83`), so a label value absent from the data is a class of size 0; its share of "
    "`sample_uniform`'s draws is interpolated onto one sorted sample (`distributions/discrete.py:88-89,107-109`): with "
    "labels {0, 2, 3}, a quarter of CEBRA's `mixed` references and negatives are a single sample (row 'most frequent "
    "single reference sample'). neuroembed is unaffected (its classes are `torch.unique` of the labels, "
    "`neuroembed/sampling/discrete.py:35`).",
    "**Multi-session `delta` is `time_delta` in CEBRA: (c).** `_init_loader` passes `conditional` "
    "(`integrations/sklearn/cebra.py:183`) to `ContinuousMultiSessionDataLoader`, whose `MultisessionSampler` never "
    "reads it (`data/multi_session.py:156,178-181`, `distributions/multisession.py:161-167,243`): the targets are "
    "reference + an observed change whatever the conditional. neuroembed adds N(0, delta^2) noise in every session "
    "(`neuroembed/sampling/sampler.py:280-287`).",
    "**Multi-session behaviour changes: pooled in CEBRA, per session in neuroembed; neuroembed's choice (a).** "
    "CEBRA draws the change added to a reference from all "
    "sessions' changes pooled (`distributions/multisession.py:161-167,242-243`); neuroembed from the reference's own "
    "session's (`neuroembed/sampling/sampler.py:211,229,288`). Sessions moving at different speeds then get different "
    "neighbourhoods: rows 'the same, references of session 0/1' (the slow session's references get wider targets "
    "in CEBRA, the fast session's narrower). docs/guides/multisession.md: 'The change `d` of `\"time_delta\"` and "
    "`\"mixed\"` is one observed in the reference's own session'.",
    "**Multi-session `discrete`: (a).** CEBRA searches a same-label positive in a randomly assigned session "
    "(`distributions/multisession.py:368-378`), neuroembed in the reference's own session "
    '(`neuroembed/sampling/sampler.py:318-326`), as docs/guides/multisession.md says (\'With "time" and '
    "\"discrete\", positives are drawn within the reference's own session').",
    "**Seeds: (c).** CEBRA's `HasGenerator` ignores its `seed` argument (`distributions/base.py:59`: "
    "`self._seed = self.generator.seed()`), and `Discrete`, `DeltaNormalDistribution`, `MixedTimeDeltaDistribution` "
    "and the multi-session samplers draw from numpy's and torch's global generators (`distributions/discrete.py:107,121,137`, "
    "`distributions/continuous.py:292`, `distributions/mixed.py:151`, `distributions/multisession.py:203,246`); this "
    "script seeds both globals and every distribution's generator, which makes CEBRA's draws repeatable here "
    "(summary, last column) but not in a plain `cebra.CEBRA.fit`. neuroembed draws everything from one "
    "`torch.Generator` seeded by `random_state` (docs/guides/conditionals.md, 'Seeds').",
    "**`conditional='delta'` needs `delta` in CEBRA: (c).** The scikit-learn default `delta=None` "
    "(`integrations/sklearn/cebra.py:573`) reaches `DeltaNormalDistribution`'s `Normal(scale=ones * None)` "
    "(`distributions/continuous.py:292-295`) and `fit` fails at the first batch (header); `'delta'` is also deprecated "
    "for `'delta_normal'` there. neuroembed's default is `delta=0.1` (`neuroembed/estimator.py:238`), passed to CEBRA "
    "here.",
]


# ---------------------------------------------------------------------------------------------------------------------
# recordings
# ---------------------------------------------------------------------------------------------------------------------
def _fold(x: np.ndarray) -> np.ndarray:
    """Reflect a walk into [0, 1]."""
    return 1.0 - np.abs(np.mod(x, 2.0) - 1.0)


def _ar1_walk(rng: np.random.Generator, n: int, dims: int, step: float) -> np.ndarray:
    """A walk whose velocity is AR(1) (persistence 0.98): smooth like tracked movement."""
    noise = rng.normal(0.0, step * np.sqrt(1 - 0.98**2), size=(n, dims))
    v = scipy.signal.lfilter([1.0], [1.0, -0.98], noise, axis=0)
    return rng.random(dims) + np.cumsum(v, axis=0)


def _blocks(rng: np.random.Generator, n: int, p: list[float], values: list[int]) -> np.ndarray:
    """Trial-like labels: blocks of 20-80 samples, each of a class drawn with probabilities ``p``."""
    out = np.empty(n, dtype=np.int64)
    i = 0
    while i < n:
        k = int(rng.integers(20, 81))
        out[i : i + k] = values[rng.choice(len(p), p=p)]
        i += k
    return out


def track(rng: np.random.Generator, n: int, speed: float = 1.0) -> np.ndarray:
    """1-D position on a track of length 1 (about 0.025 per 10 samples at speed 1)."""
    return _fold(_ar1_walk(rng, n, 1, 0.0025 * speed)).astype(np.float32)


def ring(rng: np.random.Generator, n: int) -> np.ndarray:
    """An angle's (cos, sin): behaviour on a ring (neuroembed's "circle" search)."""
    a = _ar1_walk(rng, n, 1, 0.02)[:, 0]
    return np.stack([np.cos(a), np.sin(a)], 1).astype(np.float32)


def cube(rng: np.random.Generator, n: int) -> np.ndarray:
    """3-D position in the unit cube (neuroembed's k-d tree search)."""
    return _fold(_ar1_walk(rng, n, 3, 0.0025)).astype(np.float32)


@dataclass
class Session:
    neural: np.ndarray
    behaviour: np.ndarray | None = None  # continuous, (n, d)
    labels: np.ndarray | None = None  # (n,) int


@dataclass
class Case:
    name: str
    conditional: str  # neuroembed's
    cebra_conditional: str | None  # passed to cebra.CEBRA (None: its default, chosen from the data)
    sessions: list[Session]
    note: str = ""

    @property
    def multi(self) -> bool:
        return len(self.sessions) > 1


def make_cases(seed: int, n: int) -> list[Case]:
    rng = np.random.default_rng(seed)

    def neural(m: int) -> np.ndarray:
        return rng.normal(size=(m, 16)).astype(np.float32)

    pos1, pos2, pos3 = track(rng, n), ring(rng, n), cube(rng, n)
    labels = _blocks(rng, n, [0.6, 0.3, 0.1], [0, 1, 2])
    gap_labels = np.where(labels == 0, 0, labels + 1)  # classes {0, 2, 3}: no sample of class 1
    m = (3 * n) // 4
    ms_track = [Session(neural(n), track(rng, n, 1.0)), Session(neural(m), track(rng, m, 2.0))]
    ms_labels = [
        Session(neural(n), labels=_blocks(rng, n, [0.6, 0.3, 0.1], [0, 1, 2])),
        Session(neural(m), labels=_blocks(rng, m, [0.6, 0.3, 0.1], [0, 1, 2])),
    ]
    X = neural(n)
    return [
        Case("time", "time", "time", [Session(X)], "no behaviour"),
        Case("time_delta / 1-D track", "time_delta", "time_delta", [Session(X, pos1)]),
        Case("time_delta / 2-D ring", "time_delta", "time_delta", [Session(X, pos2)]),
        Case("time_delta / 3-D cube", "time_delta", "time_delta", [Session(X, pos3)]),
        Case("delta / 1-D track", "delta", "delta", [Session(X, pos1)]),
        Case("delta / 2-D ring", "delta", "delta", [Session(X, pos2)]),
        Case("delta / 3-D cube", "delta", "delta", [Session(X, pos3)]),
        Case("discrete / labels 60:30:10", "discrete", None, [Session(X, labels=labels)]),
        Case("mixed / track + labels 60:30:10", "mixed", None, [Session(X, pos1, labels)]),
        Case(
            "mixed / track + labels {0, 2, 3}",
            "mixed",
            None,
            [Session(X, pos1, gap_labels)],
            "the labels 60:30:10 renamed 0, 2, 3: no sample has label 1",
        ),
        Case(
            "multi-session time_delta / tracks",
            "time_delta",
            "time_delta",
            ms_track,
            f"{n} and {m} samples, the second session moving twice as fast",
        ),
        Case(
            "multi-session delta / tracks",
            "delta",
            "delta",
            ms_track,
            "as above; CEBRA's multi-session loader ignores conditional='delta'",
        ),
        Case(
            "multi-session discrete / labels",
            "discrete",
            None,
            ms_labels,
            f"{n} and {m} samples, labels 60:30:10 in each",
        ),
    ]


# ---------------------------------------------------------------------------------------------------------------------
# drawing
# ---------------------------------------------------------------------------------------------------------------------
@dataclass
class Draws:
    """Indices drawn over all batches, flat: references with their session, the positives aligned with the
    references (their session too), and the negatives; all window centres (what the encoder is fed)."""

    ref: np.ndarray
    ref_sess: np.ndarray
    pos: np.ndarray
    pos_sess: np.ndarray
    neg: np.ndarray
    neg_sess: np.ndarray
    extra: dict[str, Any] = field(default_factory=dict)


def _targets(case: Case) -> Any:
    """``y`` for neuroembed's fit."""

    def one(s: Session) -> Any:
        if case.conditional == "mixed":
            return (s.behaviour, s.labels)
        if case.conditional == "discrete":
            return s.labels
        return s.behaviour

    if case.conditional == "time":
        return None
    return [one(s) for s in case.sessions] if case.multi else one(case.sessions[0])


def neuroembed_sampler(case: Case, seed: int) -> Any:
    est = ne.Estimator(
        model=NE_MODEL,
        conditional=case.conditional,
        time_offset=SETTINGS["time_offset"],
        batch_size=SETTINGS["batch_size"],
        device="cpu",
        random_state=seed,
    )
    assert est.delta == SETTINGS["delta"]
    X = [s.neural for s in case.sessions] if case.multi else case.sessions[0].neural
    return _training.prepare(est, X, _targets(case)).solver.sampler


def neuroembed_batch(sampler: Any) -> tuple[np.ndarray, ...]:
    ib = sampler.sample()
    n = len(ib.reference)
    ref = torch.cat(ib.reference)
    ref_sess = torch.arange(n).repeat_interleave(torch.tensor([len(r) for r in ib.reference]))
    pos = torch.cat(ib.positive)
    pos_sess = torch.arange(n).repeat_interleave(torch.tensor([len(p) for p in ib.positive]))
    if ib.positive_order is not None:
        pos, pos_sess = pos[ib.positive_order], pos_sess[ib.positive_order]
    neg = torch.cat(ib.negative)
    neg_sess = torch.arange(n).repeat_interleave(torch.tensor([len(x) for x in ib.negative]))
    return tuple(t.numpy() for t in (ref, ref_sess, pos, pos_sess, neg, neg_sess))


def cebra_loader(case: Case) -> Any:
    import cebra

    c = cebra.CEBRA(
        model_architecture=CEBRA_MODEL,
        device="cpu",
        conditional=case.cebra_conditional,
        time_offsets=SETTINGS["time_offset"],
        batch_size=SETTINGS["batch_size"],
        delta=SETTINGS["delta"] if case.cebra_conditional == "delta" else None,
        max_iterations=1,
    )

    def ys(s: Session) -> tuple:
        if case.conditional == "time":
            return ()
        return tuple(a for a in (s.behaviour, s.labels) if a is not None)

    if case.multi:
        per = [ys(s) for s in case.sessions]
        y = tuple([p[k] for p in per] for k in range(len(per[0])))
        X = [s.neural for s in case.sessions]
    else:
        y, X = ys(case.sessions[0]), case.sessions[0].neural
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _, _, loader, _ = c._prepare_fit(X, *y)
    return loader


def seed_cebra(loader: Any, seed: int) -> None:
    """Seed everything CEBRA's loaders draw from: numpy's and torch's global generators (``Discrete``, the
    multi-session samplers, ``DeltaNormalDistribution``, ``MixedTimeDeltaDistribution`` use them) and each
    distribution's own generator (which its ``seed`` argument does not set)."""
    from cebra.distributions.base import HasGenerator

    np.random.seed(seed)  # noqa: NPY002 - CEBRA draws from numpy's global generator
    torch.manual_seed(seed)
    root = getattr(loader, "distribution", None) or getattr(loader, "sampler", None)
    todo, seen, k = [root], set(), 0
    while todo:
        obj = todo.pop()
        if obj is None or id(obj) in seen:
            continue
        seen.add(id(obj))
        if isinstance(obj, HasGenerator):
            obj.generator.manual_seed(seed + k)
            k += 1
        for name in ("prior", "index", "conditional"):
            todo.append(getattr(obj, name, None))


def cebra_batch(loader: Any) -> tuple[np.ndarray, ...]:
    B = SETTINGS["batch_size"]
    with warnings.catch_warnings():
        warnings.simplefilter(
            "ignore"
        )  # conditional="delta" is deprecated in favour of "delta_normal"
        bi = loader.get_indices(B)
    ds = loader.dataset
    if hasattr(ds, "iter_sessions"):
        sessions = list(ds.iter_sessions())
        n = len(sessions)

        def centres(idx: Any) -> np.ndarray:
            idx = torch.as_tensor(idx).reshape(n, -1)
            return torch.stack(
                [
                    torch.clamp(idx[i], s.offset.left, len(s) - s.offset.right)
                    for i, s in enumerate(sessions)
                ]
            ).numpy()

        ref, pos, neg = centres(bi.reference), centres(bi.positive), centres(bi.negative)
        sess = np.repeat(np.arange(n), B)
        rev = np.asarray(bi.index_reversed)
        return ref.ravel(), sess, pos.ravel()[rev], sess[rev], neg.ravel(), sess

    def centre(idx: Any) -> np.ndarray:
        return torch.clamp(torch.as_tensor(idx), ds.offset.left, len(ds) - ds.offset.right).numpy()

    z = np.zeros(B, dtype=np.int64)
    raw = np.asarray(torch.as_tensor(bi.reference))
    out = (centre(bi.reference), z, centre(bi.positive), z, centre(bi.negative), z)
    return (*out, raw)


def draw(batch_of: Any, n_batches: int) -> Draws:
    parts = [batch_of() for _ in range(n_batches)]
    cols = [np.concatenate([p[k] for p in parts]) for k in range(6)]
    d = Draws(*[c.astype(np.int64) for c in cols])
    if len(parts[0]) > 6:
        d.extra["raw_ref"] = np.concatenate([p[6] for p in parts])
    return d


def reproducible(make: Any, batch_of: Any) -> bool:
    """Whether two samplers built and seeded alike draw the same first three batches."""
    a = make()
    first = [batch_of(a) for _ in range(3)]
    b = make()  # built and seeded after a's draws: CEBRA draws partly from global generators
    return all(all(np.array_equal(x, y) for x, y in zip(batch, batch_of(b))) for batch in first)


# ---------------------------------------------------------------------------------------------------------------------
# tests
# ---------------------------------------------------------------------------------------------------------------------
@dataclass
class Row:
    quantity: str
    ne: str
    cebra: str
    test: str
    p: float
    effect: str

    @property
    def same(self) -> bool:
        return not (self.p < ALPHA)


def _chi2(ca: np.ndarray, cb: np.ndarray) -> float:
    keep = (ca + cb) > 0
    table = np.stack([ca[keep], cb[keep]])
    if table.shape[1] < 2:
        return 1.0
    return float(scipy.stats.chi2_contingency(table, correction=False)[1])


def _tv(ca: np.ndarray, cb: np.ndarray) -> float:
    return 0.5 * float(np.abs(ca / ca.sum() - cb / cb.sum()).sum())


def index_row(name: str, a: np.ndarray, b: np.ndarray, lo: int, hi: int) -> Row:
    """Chi-square over every window centre in [lo, hi] but the first and the last (their mass has a row of its own);
    total variation over 40 equal bins; the edge centres' mass."""
    ca = np.bincount(a - lo, minlength=hi - lo + 1).astype(float)
    cb = np.bincount(b - lo, minlength=hi - lo + 1).astype(float)
    p = _chi2(ca[1:-1], cb[1:-1])
    edges = np.linspace(lo, hi + 1, 41)
    ha, hb = np.histogram(a, edges)[0].astype(float), np.histogram(b, edges)[0].astype(float)

    def desc(c: np.ndarray, x: np.ndarray) -> str:
        return (
            f"{x.min()}-{x.max()}; ends {c[0] / c.sum():.4f} / {c[-1] / c.sum():.4f}; "
            f"centres drawn {np.mean(c > 0):.3f}"
        )

    return Row(
        name, desc(ca, a), desc(cb, b), "chi2, inner centres", p, f"TV(40 bins) {_tv(ha, hb):.4f}"
    )


def categorical_row(name: str, a: np.ndarray, b: np.ndarray, show: int = 4) -> Row:
    values = np.union1d(a, b)
    ca = np.array([(a == v).sum() for v in values], float)
    cb = np.array([(b == v).sum() for v in values], float)
    order = np.argsort(-(ca + cb))[:show]

    def desc(c: np.ndarray) -> str:
        return ", ".join(f"{values[i]}: {c[i] / c.sum():.3f}" for i in sorted(order))

    return Row(name, desc(ca), desc(cb), "chi2", _chi2(ca, cb), f"TV {_tv(ca, cb):.4f}")


def rate_row(name: str, a: np.ndarray, b: np.ndarray) -> Row:
    """Two proportions (boolean arrays): chi-square on the 2x2 table; difference of rates."""
    ca = np.array([a.sum(), (~a).sum()], float)
    cb = np.array([b.sum(), (~b).sum()], float)
    p = _chi2(ca, cb) if (ca[0] + cb[0]) > 0 and (ca[1] + cb[1]) > 0 else 1.0
    return Row(
        name,
        f"{a.mean():.4f}",
        f"{b.mean():.4f}",
        "chi2 2x2",
        p,
        f"diff {a.mean() - b.mean():+.4f}",
    )


def ks_row(name: str, a: np.ndarray, b: np.ndarray, unit: str = "") -> Row:
    res = scipy.stats.ks_2samp(a, b, method="asymp")

    def desc(x: np.ndarray) -> str:
        q = np.quantile(x, [0.1, 0.5, 0.9])
        return f"{q[0]:.4g} / {q[1]:.4g} / {q[2]:.4g}{unit}"

    return Row(name, desc(a), desc(b), "KS", float(res.pvalue), f"D {res.statistic:.4f}")


def compare(case: Case, a: Draws, b: Draws) -> list[Row]:
    """``a``: neuroembed's draws, ``b``: CEBRA's."""
    rows = []
    sessions = case.sessions
    lo = 5  # both systems' first window centre for a 10-sample receptive field ([t - 5, t + 5))
    cond = case.conditional
    for s, sess in enumerate(sessions):
        hi = len(sess.neural) - 5
        tag = f" (session {s})" if case.multi else ""
        ra, rb = a.ref[a.ref_sess == s], b.ref[b.ref_sess == s]
        rows.append(index_row(f"reference index{tag}", ra, rb, lo, hi))
        rows.append(
            index_row(
                f"negative index{tag}", a.neg[a.neg_sess == s], b.neg[b.neg_sess == s], lo, hi
            )
        )
        rows.append(
            index_row(
                f"positive index{tag}", a.pos[a.pos_sess == s], b.pos[b.pos_sess == s], lo, hi
            )
        )
        for which in ("ref", "neg"):
            xa = getattr(a, which)[getattr(a, which + "_sess") == s]
            xb = getattr(b, which)[getattr(b, which + "_sess") == s]
            rows.append(
                rate_row(
                    f"{'reference' if which == 'ref' else 'negative'} on the first or last centre{tag}",
                    (xa == lo) | (xa == hi),
                    (xb == lo) | (xb == hi),
                )
            )
    same_a, same_b = a.pos_sess == a.ref_sess, b.pos_sess == b.ref_sess
    if case.multi:
        rows.append(rate_row("positive in another session", ~same_a, ~same_b))
    off_a, off_b = (a.pos - a.ref)[same_a], (b.pos - b.ref)[same_b]
    if cond == "time":
        rows.append(categorical_row("offset positive - reference", off_a, off_b))
    else:
        rows.append(ks_row("offset positive - reference (own session)", off_a, off_b))
        rows.append(
            ks_row("the same, positive not the reference", off_a[off_a != 0], off_b[off_b != 0])
        )
    rows.append(
        rate_row("positive is the reference", same_a & (a.pos == a.ref), same_b & (b.pos == b.ref))
    )
    if sessions[0].behaviour is not None and cond != "time":

        def dist(d: Draws) -> np.ndarray:
            beh = [s.behaviour for s in sessions]
            x = np.stack([beh[s][i] for s, i in zip(d.ref_sess, d.ref)])
            y = np.stack([beh[s][i] for s, i in zip(d.pos_sess, d.pos)])
            return np.linalg.norm(x - y, axis=1)

        da, db = dist(a), dist(b)
        rows.append(ks_row("behaviour distance reference-positive (10/50/90 %)", da, db))
        keep_a, keep_b = ~(same_a & (a.pos == a.ref)), ~(same_b & (b.pos == b.ref))
        rows.append(ks_row("the same, positive not the reference", da[keep_a], db[keep_b]))
        if case.multi:
            for s in range(len(sessions)):
                rows.append(
                    ks_row(
                        f"the same, references of session {s}",
                        da[a.ref_sess == s],
                        db[b.ref_sess == s],
                    )
                )
    if sessions[0].labels is not None:

        def lab(d: Draws, which: str) -> np.ndarray:
            idx, ss = getattr(d, which), getattr(d, which + "_sess")
            return np.array([sessions[s].labels[i] for s, i in zip(ss, idx)])

        rows.append(categorical_row("class of the references", lab(a, "ref"), lab(b, "ref")))
        rows.append(categorical_row("class of the negatives", lab(a, "neg"), lab(b, "neg")))
        rows.append(
            rate_row(
                "positive has the reference's label",
                lab(a, "pos") == lab(a, "ref"),
                lab(b, "pos") == lab(b, "ref"),
            )
        )
        if not case.multi:
            top_a = np.bincount(a.ref).max() / len(a.ref)
            top_b = np.bincount(b.ref).max() / len(b.ref)
            rows.append(
                Row(
                    "most frequent single reference sample",
                    f"{top_a:.4f}",
                    f"{top_b:.4f}",
                    "-",
                    float("nan"),
                    f"uniform: {1 / (len(sessions[0].neural) - 9):.4f}",
                )
            )
    if "raw_ref" in b.extra:
        n = len(sessions[0].neural)
        raw = b.extra["raw_ref"]
        outside = (raw < lo) | (raw > n - 5)
        rows.append(
            Row(
                "raw reference index outside the window centres",
                "0 (never)",
                f"{outside.mean():.4f}",
                "-",
                float("nan"),
                "CEBRA: clamped to the nearest centre",
            )
        )
    return rows


# ---------------------------------------------------------------------------------------------------------------------
# the nearest-neighbour searches on their own
# ---------------------------------------------------------------------------------------------------------------------
def search_check(case: Case, seed: int, n_queries: int) -> dict[str, float]:
    """Both systems' behaviour searches, as their samplers build them, on the same ``time_delta`` targets
    (reference + an observed change over ``time_offset``), against an exact float64 search: CEBRA's over every
    sample with the reference allowed (what it means to do), neuroembed's over the window centres without it."""
    sess = case.sessions[0]
    b, n = sess.behaviour, len(sess.neural)
    labels = sess.labels if case.conditional == "mixed" else None
    lo, hi, off = 5, n - 4, SETTINGS["time_offset"]  # centres [lo, hi)
    rng = np.random.default_rng(seed + 1)
    ref = rng.integers(lo, hi, n_queries)
    changes = b[lo + off : hi] - b[lo : hi - off]
    q = (b[ref] + changes[rng.integers(0, len(changes), n_queries)]).astype(np.float32)
    ne_index = neuroembed_sampler(case, seed)._index[0]
    cindex = cebra_loader(case).distribution.index
    qt, exclude = torch.from_numpy(q), torch.from_numpy(ref - lo)
    if labels is None:
        ans_c = cindex.search(qt).numpy()
        ans_n = ne_index.query(qt, None, exclude).numpy() + lo
    else:
        lab = torch.from_numpy(labels[ref])
        ans_c = cindex.search(qt, discrete=lab).numpy()
        ans_n = ne_index.query(qt, lab, exclude).numpy() + lo
    B, Q = b.astype(np.float64), q.astype(np.float64)
    exact_c, exact_n = np.empty(n_queries, np.int64), np.empty(n_queries, np.int64)
    best_c, best_n = np.empty(n_queries), np.empty(n_queries)
    for start in range(0, n_queries, 500):
        c = slice(start, start + 500)
        D = ((Q[c][:, None, :] - B[None, :, :]) ** 2).sum(-1)
        if labels is not None:
            D[labels[None, :] != labels[ref[c]][:, None]] = np.inf
        exact_c[c], best_c[c] = D.argmin(1), D.min(1)
        D[:, :lo] = np.inf
        D[:, hi:] = np.inf
        D[np.arange(D.shape[0]), ref[c]] = np.inf
        exact_n[c], best_n[c] = D.argmin(1), D.min(1)

    def miss(ans: np.ndarray, exact: np.ndarray, best: np.ndarray) -> tuple[float, float, float]:
        got = ((Q - B[ans]) ** 2).sum(-1)
        wrong = got > best * (1 + 1e-9) + 1e-18
        shift = float(np.mean(ans[wrong] - exact[wrong])) if wrong.any() else 0.0
        excess = (
            float(np.median(np.sqrt(got[wrong]) - np.sqrt(best[wrong]))) if wrong.any() else 0.0
        )
        return float(wrong.mean()), shift, excess

    mc, mn = miss(ans_c, exact_c, best_c), miss(ans_n, exact_n, best_n)
    return {
        "cebra_miss": mc[0],
        "cebra_shift": mc[1],
        "cebra_excess": mc[2],
        "ne_miss": mn[0],
        "ne_shift": mn[1],
        "ne_excess": mn[2],
        "self_nearest": float(np.mean(exact_c == ref)),
        "cebra_self": float(np.mean(ans_c == ref)),
        "median_distance": float(np.median(np.sqrt(best_c))),
        "mean_index": (float(ans_c.mean()), float(ans_n.mean()), float(exact_c.mean())),
    }


# ---------------------------------------------------------------------------------------------------------------------
# report
# ---------------------------------------------------------------------------------------------------------------------
def fmt_p(p: float) -> str:
    if np.isnan(p):
        return "-"
    return "<1e-300" if p == 0 else f"{p:.2g}"


def run_case(case: Case, seed: int, n_batches: int) -> tuple[list[Row], dict[str, Any]]:
    t0 = time.perf_counter()
    s_ne = neuroembed_sampler(case, seed)
    d_ne = draw(lambda: neuroembed_batch(s_ne), n_batches)
    t1 = time.perf_counter()
    loader = cebra_loader(case)
    seed_cebra(loader, seed)
    d_cb = draw(lambda: cebra_batch(loader), n_batches)
    t2 = time.perf_counter()

    def make_cebra() -> Any:
        lo = cebra_loader(case)
        seed_cebra(lo, seed)
        return lo

    info = {
        "loader": type(loader).__name__,
        "distribution": type(getattr(loader, "distribution", None) or loader.sampler).__name__,
        "prior": getattr(loader, "prior", None),
        "ne_strategy": [ix.strategy for ix in getattr(s_ne, "_index", [])],
        "repro_ne": reproducible(lambda: neuroembed_sampler(case, seed), neuroembed_batch),
        "repro_cebra": reproducible(make_cebra, lambda lo: cebra_batch(lo)[:6]),
        "seconds": (t1 - t0, t2 - t1),
        "draws": len(d_ne.ref),
    }
    return compare(case, d_ne, d_cb), info


def cebra_delta_default_fails() -> str:
    """What CEBRA's ``conditional='delta'`` does with its default ``delta=None``."""
    import cebra

    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(200, 4)).astype(np.float32), rng.random((200, 1)).astype(np.float32)
    c = cebra.CEBRA(
        model_architecture=CEBRA_MODEL,
        device="cpu",
        conditional="delta",
        batch_size=32,
        max_iterations=1,
    )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            c.fit(X, y)
    except Exception as err:  # noqa: BLE001 - reported, not handled
        return f"{type(err).__name__}: {err}"
    return "no error"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--batches", type=int, default=200)
    parser.add_argument(
        "--samples", type=int, default=4000, help="samples of each recording (the 2nd session: 3/4)"
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--queries", type=int, default=20000, help="targets of the search check")
    parser.add_argument(
        "--quick", action="store_true", help="20 batches: a smoke test, not a result"
    )
    parser.add_argument("--only", default=None, help="run only the cases whose name contains this")
    parser.add_argument(
        "--output", default=str(DEFAULT_OUTPUT), help="markdown file, or - for stdout only"
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.batches, args.queries = 20, 2000
    torch.set_num_threads(min(2, os.cpu_count() or 1))
    import cebra

    start = time.perf_counter()
    load0 = os.getloadavg()
    cases = [
        c for c in make_cases(args.seed, args.samples) if args.only is None or args.only in c.name
    ]
    results = []
    for case in cases:
        rows, info = run_case(case, args.seed, args.batches)
        results.append((case, rows, info))
        print(
            f"{case.name}: {sum(not r.same for r in rows)} of {len(rows)} differ "
            f"({info['seconds'][0]:.1f} s / {info['seconds'][1]:.1f} s)",
            file=sys.stderr,
        )
    checks = []
    for case in cases:
        if case.name.startswith("time_delta /") or case.name == "mixed / track + labels 60:30:10":
            checks.append((case, search_check(case, args.seed, args.queries)))
    delta_default = cebra_delta_default_fails()
    elapsed = time.perf_counter() - start

    B = SETTINGS["batch_size"]
    lines = [
        "# Samplers against CEBRA: the indices each system draws, conditional by conditional",
        "",
        f"- date: {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC; neuroembed git {git_revision()}; "
        f"CEBRA {cebra.__version__}; torch {torch.__version__}; numpy {np.__version__}; scipy {scipy.__version__}; "
        f"python {platform.python_version()}",
        f"- machine: {platform.platform()}; CPU {cpu_model()}; {os.cpu_count()} cores; torch threads "
        f"{torch.get_num_threads()}; load average at start {load0[0]:.2f}; {elapsed:.0f} s in all",
        f"- settings: neuroembed `Estimator(model='{NE_MODEL}', time_offset={SETTINGS['time_offset']}, "
        f"batch_size={B}, random_state={args.seed})`, defaults otherwise (delta {SETTINGS['delta']}, negatives "
        f"= batch_size per session), sampler from `_training.prepare` as `fit` builds it; CEBRA "
        f"`CEBRA(model_architecture='{CEBRA_MODEL}', time_offsets={SETTINGS['time_offset']}, batch_size={B})`, "
        f"defaults otherwise (`delta={SETTINGS['delta']}` for `'delta'`), loader from `CEBRA._prepare_fit`; "
        f"CEBRA's indices mapped to window centres by its dataset's clamp",
        f"- draws: {args.batches} batches of {B} references (per session) from each system, seed {args.seed}; "
        f"recordings of {args.samples} samples (second session {(3 * args.samples) // 4}), 16 random neural "
        f"channels (the samplers do not read them)"
        + ("; **--quick: a smoke test, not a result**" if args.quick else ""),
        f"- verdict per quantity: `differs` where p < {ALPHA:g}; effect sizes: total variation (TV) between the two "
        "distributions, KS statistic D, difference of rates; window centres of a 10-sample receptive field are "
        "5 .. n-5 in both systems",
        f"- CEBRA's `conditional='delta'` with its default `delta=None`: {delta_default}",
        "",
        "## Summary",
        "",
        "| case | CEBRA loader / distribution | neuroembed search | quantities that differ (p < 0.001) | reproducible ne / CEBRA |",
        "|---|---|---|---|---|",
    ]
    for case, rows, info in results:
        diff = [r.quantity for r in rows if not r.same]
        dist = info["distribution"] + (f" (prior {info['prior']})" if info["prior"] else "")
        lines.append(
            f"| {case.name} | {info['loader']} / {dist} | {', '.join(info['ne_strategy']) or '-'} | "
            f"{'; '.join(diff) if diff else 'none'} | {'yes' if info['repro_ne'] else 'no'} / "
            f"{'yes' if info['repro_cebra'] else 'no'} |"
        )
    for case, rows, info in results:
        lines += [
            "",
            f"## {case.name}",
            "",
            f"{info['draws']} references per system. {case.note}".rstrip(),
            "",
            "| quantity | neuroembed | CEBRA | test | p | effect | verdict |",
            "|---|---|---|---|---|---|---|",
        ]
        for r in rows:
            verdict = "-" if np.isnan(r.p) else ("same" if r.same else "**differs**")
            lines.append(
                f"| {r.quantity} | {r.ne} | {r.cebra} | {r.test} | {fmt_p(r.p)} | {r.effect} | {verdict} |"
            )
    if checks:
        lines += [
            "",
            "## The behaviour searches on their own",
            "",
            f"{args.queries} `time_delta` targets (a reference drawn uniformly over the window centres plus a change of "
            f"its behaviour over {SETTINGS['time_offset']} samples) given to the index each sampler builds (CEBRA: "
            "`distribution.index`, neuroembed: `sampler._index[0]`), against an exact search in float64: CEBRA's over "
            "every sample with the reference allowed (its intent), neuroembed's over the window centres with the "
            "reference excluded (its intent). A miss: the answer is farther from the target than the exact nearest.",
            "",
            "| case | CEBRA misses | CEBRA: index answer - exact, mean over misses | CEBRA: extra distance, median over "
            "misses | neuroembed misses | mean positive index CEBRA / neuroembed / exact | exact nearest is the "
            "reference (CEBRA answers it) | median target distance |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for case, c in checks:
            mi = c["mean_index"]
            lines.append(
                f"| {case.name} | {c['cebra_miss']:.4f} | {c['cebra_shift']:+.0f} | {c['cebra_excess']:.2g} | "
                f"{c['ne_miss']:.4f} | {mi[0]:.0f} / {mi[1]:.0f} / {mi[2]:.0f} | {c['self_nearest']:.4f} "
                f"({c['cebra_self']:.4f}) | {c['median_distance']:.2g} |"
            )
    lines += ["", "## Where the differences come from", ""]
    lines += [f"{i}. {note}" for i, note in enumerate(NOTES, 1)]
    lines += [
        "",
        "Index rows: range drawn; mass on the first / last window centre (uniform over n - 9 centres: 1/(n-9)); "
        "share of the centres ever drawn; the chi-square leaves the first and last centre to the row 'on the first or "
        "last centre'. KS rows: 10th / 50th / 90th percentile.",
        "",
    ]
    text = "\n".join(lines)
    print(text)
    if args.output != "-":
        out = Path(args.output)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text)
        print(f"wrote {out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
