"""Early stopping on a held-out block: a fixed, seeded held-out loss, and the bookkeeping of the best weights.

:class:`HeldOutLoss` evaluates a :class:`~neuroembed.solver.ContrastiveSolver` built on held-out recordings (sharing
the training model and loss module) on index batches drawn once, so that every evaluation sees the same pairs and
the scores of a run differ only by the weights. :class:`EarlyStopping` records the scores, keeps a copy of the weights
of the best one, counts the evaluations without improvement and restores the best weights at the end. Nothing here
knows about scikit-learn; :class:`neuroembed.Estimator` wires it in.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import nn

from neuroembed.sampling import IndexBatch
from neuroembed.solver import ContrastiveSolver

__all__ = ["VALIDATION_BATCHES", "n_held_out", "HeldOutLoss", "EarlyStopping"]

#: Index batches of one held-out evaluation (each of the training batch size per session, and as many negatives).
VALIDATION_BATCHES = 4


def n_held_out(n_samples: int, fraction: float) -> int:
    """Samples held out at the end of a recording of ``n_samples``: ``ceil(fraction * n_samples)``.

    Examples
    --------
    >>> n_held_out(1000, 0.1), n_held_out(1001, 0.1)
    (100, 101)
    """
    # the small tolerance keeps 0.1 * 1000 at 100 (not 101 from the float's rounding)
    return math.ceil(fraction * n_samples - 1e-9)


def _distinct_pairs(batch: IndexBatch) -> torch.Tensor | None:
    """Positions of the references, concatenated over sessions, whose positive is another sample.

    A discrete label with a single sample in a held-out block (or a *mixed* label alone in its session) has the
    reference as its own positive: a pair that says nothing about the weights. ``None`` when every pair is distinct.
    """
    device = batch.reference[0].device
    sessions = torch.arange(len(batch.reference), device=device)
    ref = torch.cat(batch.reference)
    ref_session = sessions.repeat_interleave(
        torch.tensor([r.numel() for r in batch.reference], device=device)
    )
    distinct = torch.ones_like(ref, dtype=torch.bool)
    # with several objectives, a pair counts when no objective's positive is the reference
    for positives, order in [(batch.positive, batch.positive_order), *(batch.more_positives or [])]:
        pos = torch.cat(positives)
        pos_session = sessions.repeat_interleave(
            torch.tensor([p.numel() for p in positives], device=device)
        )
        if order is not None:
            pos, pos_session = pos[order], pos_session[order]
        distinct &= (ref != pos) | (ref_session != pos_session)
    if bool(distinct.all()):
        return None
    return torch.nonzero(distinct).squeeze(1)


class HeldOutLoss:
    """The mean loss of a fixed set of index batches drawn once, with a seeded generator, from held-out recordings.

    Parameters
    ----------
    solver : ContrastiveSolver
        Built on the held-out blocks (its sampler draws only from them), sharing the training model and criterion.
    seed : int
        Seed of the draws (the sampler's generator is reseeded with it, then draws ``n_batches`` batches).
    n_batches : int
        Index batches per evaluation.

    Attributes
    ----------
    batches : list of IndexBatch
    rows : list of Tensor or None
        Per batch, the reference/positive pairs that count (pairs whose positive is the reference are left out).
    """

    def __init__(
        self, solver: ContrastiveSolver, seed: int, n_batches: int = VALIDATION_BATCHES
    ) -> None:
        self.solver = solver
        self.n_batches = n_batches
        self.draw(seed)

    def draw(self, seed: int) -> None:
        """(Re)draw the fixed batches from ``seed``."""
        self.seed = int(seed)
        self.solver.sampler.generator.manual_seed(self.seed)
        batches, rows, sizes = [], [], []
        for _ in range(self.n_batches):
            batch = self.solver.sampler.sample()
            keep = _distinct_pairs(batch)
            n = sum(r.numel() for r in batch.reference) if keep is None else keep.numel()
            if n > 0:  # a batch in which every positive is its reference says nothing
                batches.append(batch)
                rows.append(keep)
                sizes.append(n)
        if not batches:
            raise ValueError(
                "every positive drawn in the validation block is its own reference (each label has a single sample "
                "among the block's window centres); raise validation_fraction so that labels repeat in the block, "
                "or set early_stopping=False."
            )
        self.batches, self.rows = batches, rows
        self._weights = [n / sum(sizes) for n in sizes]

    def __call__(self) -> float:
        """The held-out loss (mean over the pairs of every batch) of the current weights, without gradients."""
        model, criterion = self.solver.model, self.solver.criterion
        modes = model.training, criterion.training
        model.eval()
        criterion.eval()
        try:
            with torch.no_grad():
                total = sum(
                    w * self.solver.loss(batch, rows=rows)
                    for w, batch, rows in zip(self._weights, self.batches, self.rows)
                )
                return float(total)
        finally:
            model.train(modes[0])
            criterion.train(modes[1])


def _copy_state(module: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


class EarlyStopping:
    """Scores taken during training, the weights of the best one, and when to stop.

    The rule is scikit-learn's (``MLPRegressor``): an evaluation that does not beat the best score so far by more
    than ``tol`` counts as no improvement; after ``n_iter_no_change`` of them in a row, :meth:`update` says stop. The
    weights of the best score (highest, even if by less than ``tol``) are copied and put back by :meth:`restore_best`.

    Parameters
    ----------
    score : callable
        ``score() -> float``, higher is better (the negative held-out loss).
    modules : sequence of nn.Module
        Whose weights are kept and restored (the encoder and the loss module, for a learnable temperature).
    n_iter_no_change : int
        Evaluations without improvement before stopping.
    tol : float
        Least improvement that counts, in the unit of ``score``.

    Examples
    --------
    >>> layer = nn.Linear(1, 1)
    >>> scores = iter([1.0, 3.0, 2.0, 2.5])
    >>> stop = EarlyStopping(lambda: next(scores), [layer], n_iter_no_change=2, tol=0.0)
    >>> [stop.update(i) for i in (10, 20, 30, 40)]
    [False, False, False, True]
    >>> stop.best_iteration, stop.best_score
    (20, 3.0)
    """

    def __init__(
        self,
        score: Callable[[], float],
        modules: Sequence[nn.Module],
        *,
        n_iter_no_change: int,
        tol: float,
    ) -> None:
        self.score = score
        self.modules = list(modules)
        self.n_iter_no_change = n_iter_no_change
        self.tol = tol
        self.scores: list[float] = []
        self.iterations: list[int] = []
        self.best_score = -math.inf
        self.best_iteration: int | None = None
        self.no_improvement = 0
        self._best: list[dict[str, torch.Tensor]] | None = None

    def update(self, iteration: int) -> bool:
        """Score the current weights after ``iteration`` iterations; True when training should stop."""
        score = self.score()
        self.scores.append(score)
        self.iterations.append(int(iteration))
        if score > self.best_score + self.tol:
            self.no_improvement = 0
        else:  # also for a NaN score
            self.no_improvement += 1
        if score > self.best_score or self._best is None:
            # a NaN score is kept only as a placeholder: any number after it is better (NaN compares False)
            if not math.isnan(score):
                self.best_score = score
            self.best_iteration = int(iteration)
            self._best = [_copy_state(m) for m in self.modules]
        return self.no_improvement >= self.n_iter_no_change

    def restore_best(self) -> None:
        """Load the weights of the best score into the modules (nothing when nothing was scored)."""
        if self._best is not None:
            for module, state in zip(self.modules, self._best):
                module.load_state_dict(state)

    def state_dict(self) -> dict[str, Any]:
        """Everything needed to continue (tensors and plain data only, for a checkpoint)."""
        return {
            "scores": torch.tensor(self.scores, dtype=torch.float64),
            "iterations": torch.tensor(self.iterations, dtype=torch.int64),
            "best_score": self.best_score,
            "best_iteration": -1 if self.best_iteration is None else self.best_iteration,
            "no_improvement": self.no_improvement,
            "best": [] if self._best is None else self._best,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Continue from :meth:`state_dict`'s output."""
        self.scores = [float(v) for v in state["scores"].tolist()]
        self.iterations = [int(v) for v in state["iterations"].tolist()]
        self.best_score = float(state["best_score"])
        best_iteration = int(state["best_iteration"])
        self.best_iteration = None if best_iteration < 0 else best_iteration
        self.no_improvement = int(state["no_improvement"])
        best = list(state["best"])
        if best and len(best) != len(self.modules):
            raise ValueError(
                f"the saved validation state holds the weights of {len(best)} modules; expected {len(self.modules)}."
            )
        self._best = [dict(s) for s in best] if best else None
