"""The scikit-learn face of neuroembed: :class:`Estimator`.

The estimator holds the settings and the fitted state, and says what ``fit``, ``partial_fit``, ``adapt``,
``transform`` and ``score`` do. The checks of data live in :mod:`neuroembed._validation`, the building and running
of a training run in :mod:`neuroembed._training`, model files and checkpoints in :mod:`neuroembed._persistence`;
the work itself happens below them (samplers, encoders, losses, the solver).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from neuroembed import _persistence as P
from neuroembed import _training as T
from neuroembed import _validation as V
from neuroembed._params import check_params

__all__ = ["Estimator", "FORMAT_VERSION"]

FORMAT_VERSION = P.FORMAT_VERSION
"""Version of the model-file layout written by :meth:`Estimator.save`."""

_SCORE_BATCHES = 8


class Estimator(TransformerMixin, BaseEstimator):
    """Learn an embedding of neural time series by contrastive learning (CEBRA-style).

    Samples close in time, or with similar behaviour, are pulled together on the sphere (cosine) or in space
    (euclidean); randomly drawn negatives are pushed apart (InfoNCE).

    Parameters
    ----------
    model : str
        Encoder (a name in ``neuroembed.models.MODELS``): a 1D-conv network whose receptive field is the number in
        the name, ``"offset1"`` (an MLP), ``"offset5"``, ``"offset10"``, ``"offset15"``, ``"offset20"``,
        ``"offset36"``, ``"offset40"``, ``"offset50"`` (CEBRA's layouts), or ``"dilated18"``, ``"dilated34"``
        (dilated residual blocks: a wide window at the cost of few layers).
    output_dimension : int
        Size of the embedding.
    num_hidden_units : int
        Channels of the encoder's hidden layers.
    conditional : {"time_delta", "time", "delta", "discrete", "mixed", "auto"}
        How positives are chosen: ``"time"``: the sample ``time_offset`` later; ``"delta"``: nearest behaviour to
        the reference's plus Gaussian noise of std ``delta``; ``"time_delta"``: nearest behaviour to the
        reference's plus an empirical behaviour change over ``time_offset`` samples; ``"discrete"``: a random
        sample with the same label; ``"mixed"``: same label and nearest continuous behaviour. Without behaviour
        (``y=None``) only ``"time"`` works. ``"auto"`` picks from the behaviour given to ``fit``, as CEBRA does:
        none -> ``"time"``, a tuple ``(continuous, labels)`` -> ``"mixed"``, integer labels of one column or class
        names (text) -> ``"discrete"``, anything else -> ``"time_delta"`` (the choice is ``conditional_``).
    time_offset : int
        Offset of time positives, and of the behaviour changes used by ``time_delta`` / ``mixed``.
    delta : float
        Noise std of the ``"delta"`` conditional, in behaviour units.
    temperature : float
        InfoNCE temperature (the initial one when learnable).
    temperature_mode : {"constant", "learnable"}
    min_temperature : float
        Lower bound of a learnable temperature.
    distance : {"cosine", "euclidean"}
        Similarity; with cosine the embedding is L2-normalised (it lives on the sphere).
    criterion : {"infonce", "supcon"}
        ``"supcon"`` (discrete labels only): every same-label sample in the batch is a positive (Khosla et al. 2020).
    batch_size : int
        References per step (per session). A batch larger than the window centres of a recording (its shortest
        session) is clipped to them with a ``UserWarning``, as scikit-learn's ``MLPRegressor`` clips its batches
        (``batch_size_`` is the size used). References, positives and negatives are drawn with replacement, as in
        CEBRA.
    num_negatives : int or None
        Negatives per step, shared by all references and split evenly over the sessions (``None``: as many as
        references, ``batch_size`` times the number of sessions, as in CEBRA).
    learning_rate : float
        Adam learning rate.
    max_iterations : int
        Optimisation steps (the most; ``max_seconds`` or ``early_stopping`` may stop training sooner).
    max_seconds : float or None
        Wall-clock budget of the training loop in seconds (data preparation not counted, held-out evaluations
        counted): training stops after the first iteration that ends past it, or at ``max_iterations``, whichever
        comes first. A time limit gives up bitwise reproducibility: how many iterations fit in the budget depends on
        the machine's speed and load, so the same seed can stop at a different iteration (the iterations that do
        run draw the same batches). ``n_iter_`` and ``stop_reason_`` say what happened. ``None``: no limit.
    early_stopping : bool
        Hold out the last ``validation_fraction`` of each session as a contiguous block training never sees (no
        sample is drawn from it, no training window reaches into it), score the model on it every
        ``validation_every`` iterations (minus the InfoNCE or SupCon loss of fixed index batches drawn once from
        the blocks, seeded from ``random_state``), stop when it has not improved by more than ``tol`` for
        ``n_iter_no_change`` evaluations in a row, and keep the weights of the best score. A block needs a few
        windows of the receptive field (more than ``time_offset`` centres for time positives), else ``fit``
        raises ``ValueError``. Checkpoints carry the validation state. Details: the parameters guide.
    validation_fraction : float
        Fraction of each session's samples held out at its end when ``early_stopping`` (``ceil(fraction *
        n_samples)`` samples), in (0, 1).
    n_iter_no_change : int
        Evaluations (not iterations) without an improvement of more than ``tol`` after which training stops: with
        the defaults, 10 evaluations 50 iterations apart, so 500 iterations without progress.
    tol : float
        Least improvement of the validation score, in nats of held-out loss, that resets the count of
        ``n_iter_no_change`` (>= 0).
    validation_every : int
        Iterations between evaluations of the held-out score when ``early_stopping``. The final weights are scored
        too when training ends between two evaluations.
    hybrid : bool
        Train time and behaviour objectives together (the loss is their sum).
    objectives : list or None
        An embedding of named parts, each trained with its own positives (xCEBRA's subspaces), e.g.
        ``[("time_delta", 4), ("time", 4)]``. Entries ``(conditional, dims)``, ``(conditional, dims, columns)``
        (the behaviour columns the part follows) or dicts with keys ``conditional``, ``dims`` and optionally
        ``name``, ``columns``, ``scope`` (``"all"``: the term compares the whole embedding, as xCEBRA's time term).
        References and negatives are shared; the loss is one InfoNCE per part; with cosine each part lies on its own
        sphere. The embedding has ``sum(dims)`` columns in the order given (``output_dimension``, ``conditional``
        unused; ``hybrid`` and ``supcon`` refused); ``parts_`` and ``transform(X, part=name)`` give the parts. See
        the objectives guide. ``None``: one objective on the whole embedding.
    behaviour_nan : {"raise", "drop"}
        What a NaN in continuous behaviour means (lost tracking, a low-likelihood pose). ``"raise"``: an error that
        counts the rows. ``"drop"``: the behaviour of those rows is missing: they are never drawn as references,
        behaviour positives or negatives, and never enter the nearest-neighbour search of positives or the
        behaviour changes of ``time_delta``; their neural activity still feeds the windows of neighbouring samples,
        and ``transform`` embeds them like any other. A row is missing when any of its columns is NaN; infinite
        values are always an error. Applies to ``fit``, ``partial_fit``, ``adapt`` and ``score``.
    jacobian_weight : float
        Weight of the Jacobian penalty ``1/(2B) sum_b ||J_f(x_b)||_F^2`` of the encoder at each step's reference
        windows (xCEBRA's regulariser: a smoother map from neurons to embedding, and identifiable attribution maps
        from :func:`neuroembed.attribution.attribution_map`). ``0``: off. A regularised step runs the encoder's
        plain forward twice differentiated, so it costs several times a plain step (the attribution guide has the
        measured cost). ``loss_history_`` then includes the weighted penalty.
    jacobian_ramp : (int, int) or None
        ``(start, stop)``: the penalty's weight is 0 before iteration ``start``, rises linearly to
        ``jacobian_weight`` at ``stop``, and stays there. ``None``: ``jacobian_weight`` from the first step.
    jacobian_estimate : {"projection", "exact"}
        One random projection per window (an unbiased estimate, one extra backward pass) or the exact norm (one
        backward pass per output dimension).
    bin_size : float or None
        Bin width in seconds for neural data given as a pynapple ``TsGroup`` of spike times (counted with
        ``TsGroup.count(bin_size)`` in ``fit``, ``transform`` and ``score``); unused for other inputs.
    device : str
        ``"auto"`` (CUDA when present), ``"cpu"``, ``"cuda"``, ``"cuda:N"`` or ``"mps"``.
    random_state : int, numpy Generator or None
        Seed of the weights and of every sampled batch. Same seed, data and device: same embedding.
    verbose : bool
        Show a progress bar.
    checkpoint_dir : str or None
        Folder for periodic checkpoints (``fit(..., resume=True)`` continues from the last one).
    checkpoint_every : int
        Iterations between checkpoints when ``checkpoint_dir`` is set.
    precision : {"float32", "bfloat16", "float16"}
        Autocast precision of the training forward pass. ``"bfloat16"`` speeds up training on recent GPUs; on CPUs
        without native bf16 arithmetic it is slower than float32. Weights and the optimiser stay in float32.
    compile : bool
        Compile the training step's encoder with :func:`torch.compile` (pays a one-off compilation of tens of
        seconds; worth it for long runs, mostly on GPUs).

    Attributes
    ----------
    encoder_ : MultiSessionEncoder
        The trained network (one input layer per session, shared trunk).
    criterion_ : torch.nn.Module
        The loss module (holds the learned temperature).
    loss_history_ : ndarray of shape (n_iter_,)
        Training loss per iteration.
    n_iter_ : int
        Iterations run.
    n_features_in_ : int
        Neurons seen in ``fit`` (first session).
    feature_names_in_ : ndarray of str
        Column names when ``fit`` got a DataFrame.
    n_sessions_ : int
    session_n_features_ : list of int
    receptive_field_ : int
    num_negatives_ : int
    batch_size_ : int
        References per step and session in the last fit: ``batch_size``, clipped to the shortest session.
    temperature_ : float
        Final temperature.
    fit_seconds_ : float
        Wall-clock seconds of the training loop (held-out evaluations included).
    conditional_ : str
        The conditional the fit used (``conditional``, or what ``"auto"`` chose; ``"objectives"`` with
        ``objectives``).
    parts_ : dict of str to slice, or None
        With ``objectives``, each part's columns of the embedding by name (``Z[:, est.parts_["time"]]``); ``None``
        without.
    stop_reason_ : {"max_iterations", "max_seconds", "early_stopping", "interrupted"}
        Why training stopped: all ``max_iterations`` ran, the ``max_seconds`` budget ran out, the validation score
        stopped improving, or a ``KeyboardInterrupt`` stopped it (``interrupted_`` is then True).
    validation_scores_ : ndarray of shape (n_evaluations,) or None
        With ``early_stopping``, the score of each held-out evaluation: minus the held-out InfoNCE (or SupCon) loss
        in nats, higher is better (the unit of :meth:`score`; ``plot_loss`` draws it as a loss next to
        ``loss_history_``). ``None`` without early stopping.
    validation_iterations_ : ndarray of int of shape (n_evaluations,) or None
        Iterations completed when each score was taken (``validation_every``, ``2 * validation_every``, ..., and
        ``n_iter_`` when training ended between two evaluations).
    best_validation_score_ : float or None
        The highest of ``validation_scores_``.
    best_iteration_ : int or None
        The iteration whose weights the model keeps (where ``best_validation_score_`` was taken); ``n_iter_``
        still counts every iteration run, and ``loss_history_`` has all their losses.
    adapt_loss_history_ : ndarray or None
        Training loss of each step of the last :meth:`adapt` (its frozen-trunk phase, then its fine-tuning).

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> X = rng.poisson(2.0, size=(300, 20)).astype("float32")
    >>> est = Estimator(model="offset5", conditional="time", time_offset=2, batch_size=32,
    ...                 max_iterations=5, random_state=0)
    >>> est.fit(X).transform(X).shape
    (300, 8)
    """

    def __init__(
        self,
        model: str = "offset10",
        output_dimension: int = 8,
        num_hidden_units: int = 32,
        conditional: str = "time_delta",
        time_offset: int = 10,
        delta: float = 0.1,
        temperature: float = 1.0,
        temperature_mode: str = "constant",
        min_temperature: float = 0.1,
        distance: str = "cosine",
        criterion: str = "infonce",
        batch_size: int = 512,
        num_negatives: int | None = None,
        learning_rate: float = 3e-4,
        max_iterations: int = 5000,
        max_seconds: float | None = None,
        early_stopping: bool = False,
        validation_fraction: float = 0.1,
        n_iter_no_change: int = 10,
        tol: float = 1e-4,
        validation_every: int = 50,
        hybrid: bool = False,
        objectives: list | None = None,
        behaviour_nan: str = "raise",
        jacobian_weight: float = 0.0,
        jacobian_ramp: tuple[int, int] | None = None,
        jacobian_estimate: str = "projection",
        bin_size: float | None = None,
        device: str = "auto",
        random_state: Any = None,
        verbose: bool = False,
        checkpoint_dir: str | None = None,
        checkpoint_every: int = 500,
        precision: str = "float32",
        compile: bool = False,
    ) -> None:
        self.model = model
        self.output_dimension = output_dimension
        self.num_hidden_units = num_hidden_units
        self.conditional = conditional
        self.time_offset = time_offset
        self.delta = delta
        self.temperature = temperature
        self.temperature_mode = temperature_mode
        self.min_temperature = min_temperature
        self.distance = distance
        self.criterion = criterion
        self.batch_size = batch_size
        self.num_negatives = num_negatives
        self.learning_rate = learning_rate
        self.max_iterations = max_iterations
        self.max_seconds = max_seconds
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.tol = tol
        self.validation_every = validation_every
        self.hybrid = hybrid
        self.objectives = objectives
        self.behaviour_nan = behaviour_nan
        self.jacobian_weight = jacobian_weight
        self.jacobian_ramp = jacobian_ramp
        self.jacobian_estimate = jacobian_estimate
        self.bin_size = bin_size
        self.device = device
        self.random_state = random_state
        self.verbose = verbose
        self.checkpoint_dir = checkpoint_dir
        self.checkpoint_every = checkpoint_every
        self.precision = precision
        self.compile = compile

    def _check_params(self) -> None:
        check_params(self)

    def _prepare(self, X: Any, y: Any, epochs: Any = None) -> T.Training:
        """Validate data and build a training run (see :func:`neuroembed._training.prepare`)."""
        return T.prepare(self, X, y, epochs=epochs, stacklevel=3)

    # ------------------------------------------------------------------------------------------------------------
    # fit
    # ------------------------------------------------------------------------------------------------------------
    def fit(
        self,
        X: Any,
        y: Any = None,
        *,
        epochs: Any = None,
        resume: bool = False,
        initial_weights: Any = None,
    ) -> Estimator:
        """Train the encoder on one recording or a list of recordings.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_neurons), DataFrame, h5py.Dataset, pynapple object, or list of them
            Neural data (a list: several sessions). A contiguous, uncompressed float32 ``h5py.Dataset`` is not loaded:
            it is mapped from the file and training reads only the windows it draws, so the recording need not fit
            in memory (on CPU). A pynapple ``TsdFrame`` (one column per neuron), ``Tsd`` or ``TsGroup`` (binned with
            ``bin_size``) keeps its times: behaviour is aligned to them, and a recording restricted to several
            epochs is several segments that no window or time positive spans (the pynapple guide).
        y : None, array-like of shape (n_samples,) or (n_samples, n_behaviour), DataFrame, tuple, or list per session
            Behaviour: continuous values for ``delta``/``time_delta``, integer labels or class names (text, a
            categorical) for ``discrete``, a tuple ``(continuous, labels)`` for ``mixed``. Not needed for ``time``.
            A pynapple ``Tsd`` / ``TsdFrame`` on any time base is aligned to the neural bins
            (:func:`neuroembed.io.align_behaviour`: averaged over each bin when sampled more than twice as finely,
            else interpolated; integer labels take the last value).
        epochs : pynapple IntervalSet, boolean array of shape (n_samples,), or list of them (one per session)
            Fit on these samples only (running epochs, say): no reference, positive or negative is drawn outside
            them, and early stopping's held-out block is the last part of the recording as always. Samples outside
            still feed the windows of their neighbours. An ``IntervalSet`` needs pynapple neural data (times).
        resume : bool
            Continue from the last checkpoint in ``checkpoint_dir`` (same data and settings).
        initial_weights : Estimator, str, PathLike or dict, optional
            Start from these encoder weights instead of random ones (a warm start): a fitted estimator, a model
            file written by :meth:`save`, or a state dict of ``encoder_``. They must fit the encoder this fit builds
            (same model, neurons per session, hidden units and output dimension). The batches drawn are those of a
            fit from random weights with the same ``random_state``.

        Returns
        -------
        self : Estimator
        """
        self._check_params()
        V.check_bool(resume, "resume")
        if resume and initial_weights is not None:
            raise ValueError(
                "pass resume=True or initial_weights, not both: a checkpoint has its own weights."
            )
        t = self._prepare(X, y, epochs)
        if initial_weights is not None:
            P.load_weights(t.encoder, P.encoder_state(initial_weights), "initial_weights")
        start, history, checkpoint = P.starting_point(self, t, resume)
        self._train(t, start, history, checkpoint, stop=self.max_iterations)
        return self

    def partial_fit(self, X: Any, y: Any = None, *, epochs: Any = None) -> Estimator:
        """Train the fitted model for ``max_iterations`` more steps on ``X`` (the neurons it was fitted on).

        The run continues the last one's optimiser state and batch generator, so two calls of N steps give the
        model one fit of 2N steps gives with the same ``random_state`` and data (bitwise on the CPU); on other data
        the batches are drawn from it. The first call on an unfitted estimator is :meth:`fit`. A model read by
        :meth:`load` has no optimiser state in its file, and :meth:`adapt` adds a layer the last one's state does not
        cover: after either, it continues with a fresh one. ``early_stopping`` is not
        supported (there is no held-out block to carry across calls); ``max_seconds`` limits each call.
        ``epochs`` restricts the samples drawn, as in :meth:`fit`.

        Returns
        -------
        self : Estimator
        """
        if self.early_stopping:
            raise ValueError(
                "partial_fit does not early-stop: set early_stopping=False, or call fit with early stopping."
            )
        if not hasattr(self, "encoder_"):
            return self.fit(X, y, epochs=epochs)
        self._check_params()
        t = self._prepare(X, y, epochs)
        T.continue_fitted(self, t)
        self._train(
            t, self.n_iter_, self.loss_history_, None, stop=self.n_iter_ + self.max_iterations
        )
        return self

    def _train(
        self, t: T.Training, start: int, history: np.ndarray, checkpoint: Path | None, *, stop: int
    ) -> None:
        """Run ``t`` from iteration ``start`` to ``stop`` and keep what it fitted (``history``: the losses before)."""

        def write(i: int) -> None:
            P.write_checkpoint(self, checkpoint, i, t, np.concatenate([history, t.loss_history()]))

        result, n_iter, seconds = T.run(
            self, t, start, stop, checkpoint=None if checkpoint is None else write
        )
        vars(self).update(T.fitted_attributes(t, result, n_iter, seconds, history))
        if t.feature_names is not None:
            self.feature_names_in_ = t.feature_names
        elif hasattr(self, "feature_names_in_"):
            del self.feature_names_in_

    def adapt(
        self,
        X: Any,
        y: Any = None,
        *,
        iterations: int = 500,
        finetune_iterations: int = 0,
        learning_rate: float = T.ADAPT_LEARNING_RATE,
        finetune_learning_rate: float | None = None,
        epochs: Any = None,
    ) -> Estimator:
        """Add a recording of other neurons (another session, animal or day) to the fitted model's space.

        A new input layer, sized for ``X``'s neurons and drawn from ``random_state``, becomes session
        ``n_sessions_`` (embed it with ``transform(X, session=-1)``). It is trained for ``iterations`` steps on
        ``X`` alone with the rest of the encoder frozen, so every earlier session embeds exactly as before; then,
        with ``finetune_iterations``, the new layer and the shared trunk together (the earlier sessions'
        embeddings then move too). Positives follow the fitted ``conditional_``; the loss module is frozen. Works
        after single- and multi-session fits; ``fit`` settings such as ``batch_size`` and ``time_offset`` apply.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_neurons)
            The new recording (any number of neurons).
        y : as in :meth:`fit` for one session
        iterations, finetune_iterations : int
            Steps with the trunk frozen, then with the trunk trained too.
        learning_rate : float
            Adam learning rate of the new layer while the trunk is frozen (default 1e-2, whatever the
            estimator's rate: a fresh layer on a fixed trunk cannot disturb the trunk, and learns faster this way).
        finetune_learning_rate : float, optional
            Adam learning rate of the fine-tuning phase (default: the estimator's ``learning_rate``).
        epochs : optional
            The samples of ``X`` to train on, as in :meth:`fit`.

        Returns
        -------
        self : Estimator
        """
        check_is_fitted(self)
        steps, rates = (iterations, finetune_iterations), (learning_rate, finetune_learning_rate)
        encoder, n_new, losses, seconds = T.adapt(self, X, y, steps, rates, epochs)
        self.encoder_ = encoder
        self.session_n_features_ = [*self.session_n_features_, n_new]
        self.n_sessions_ = len(self.session_n_features_)
        self.adapt_loss_history_, self.adapt_seconds_ = losses, seconds
        # the optimiser's moments of the last fit do not cover the new input layer: partial_fit starts a fresh one
        self._continuation_ = None
        return self

    # ------------------------------------------------------------------------------------------------------------
    # transform / score
    # ------------------------------------------------------------------------------------------------------------
    def _session_index(self, session: int | None) -> int:
        return V.check_session(session, self.n_sessions_)

    def transform(
        self,
        X: Any,
        session: int | None = None,
        *,
        chunk_size: int = 16384,
        part: str | None = None,
    ) -> np.ndarray:
        """Embed every sample of a recording.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_neurons), DataFrame, or h5py.Dataset
            An ``h5py.Dataset`` is streamed in chunks and never loaded whole.
        session : int, optional
            Which session's input layer to use (required after a multi-session fit or an :meth:`adapt`;
            negative numbers count from the last).
        chunk_size : int
            Rows per chunk on the device.
        part : str, optional
            With ``objectives``, return only this part's columns (a key of ``parts_``).

        Returns
        -------
        ndarray of shape (n_samples, output_dimension), or pynapple TsdFrame
            One row per input sample (the recording is edge-padded by the receptive field). For pynapple input, a
            ``TsdFrame`` on its time index (a ``TsGroup`` binned with ``bin_size``), columns ``dim0``, ``dim1``, ...;
            a recording restricted to several epochs is embedded segment by segment (no window spans a gap).
        """
        check_is_fitted(self)
        return T.transform(self, X, self._session_index(session), chunk_size, part)

    def score(self, X: Any, y: Any = None, session: int | None = None) -> float:
        """Negative InfoNCE (or SupCon) loss on data, averaged over a few seeded batches (higher is better).

        Parameters
        ----------
        X, y : as in :meth:`fit` for a single session.
        session : int, optional
            Input layer to use after a multi-session fit.
        """
        check_is_fitted(self)
        s = self._session_index(session)
        X, y, layouts, _ = T.unwrap(self, X, y)
        if s == 0:
            V.check_feature_names(X, getattr(self, "feature_names_in_", None))
        arrays, behaviours, multi, _ = T.check_data(
            self, X, y, self.conditional_, self.receptive_field_
        )
        if multi:
            raise ValueError("score takes one session at a time; pass one array and session=i.")
        a = V.check_n_features(arrays[0], self.session_n_features_[s], self.n_sessions_ > 1, s)
        return T.score(
            self, a, behaviours[0], s, _SCORE_BATCHES, None if layouts is None else layouts[0]
        )

    def fit_transform(self, X: Any, y: Any = None, **fit_params: Any) -> Any:
        """Fit, and embed the training data.

        Parameters
        ----------
        X, y, **fit_params : as in :meth:`fit`.

        Returns
        -------
        ndarray of shape (n_samples, output_dimension), or a list of them (one per session) after a fit on a list of
        sessions, each embedded with its own input layer.
        """
        sessions = T.is_sessions(X)
        if sessions:
            T.refuse_wrapped_sessions(self)
        self.fit(X, y, **fit_params)
        if not sessions:
            return self.transform(X)
        return [self.transform(x, session=s) for s, x in enumerate(X)]

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        """Names of the embedding's columns, ``dim0`` ... (for ``set_output(transform="pandas")`` and pipelines).

        ``input_features`` is accepted as scikit-learn's API asks; the embedding's columns do not depend on it.
        """
        check_is_fitted(self)
        return T.feature_names_out(self)

    # ------------------------------------------------------------------------------------------------------------
    # persistence
    # ------------------------------------------------------------------------------------------------------------
    def save(self, path: str | os.PathLike) -> None:
        """Write the fitted model: weights as tensors, settings as JSON (no pickled objects)."""
        check_is_fitted(self)
        P.save_estimator(self, path)

    @classmethod
    def load(
        cls, path: str | os.PathLike, device: str = "auto", *, allow_custom: bool = False
    ) -> Estimator:
        """Read a model written by :meth:`save`, without unpickling any Python object from the file.

        Parameters
        ----------
        path : str or PathLike
        device : str
            Where to put the weights (``"auto"``, ``"cpu"``, ...).
        allow_custom : bool
            A model fitted with a user's own ``model=`` class names the class's import path in the file; only with
            ``allow_custom=True`` is that module imported (importing runs its code: allow it for files you trust).
        """
        return P.load_estimator(cls, path, device, allow_custom=allow_custom)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.transformer_tags.preserves_dtype = ["float32"]
        # a time budget makes the number of iterations, and so the model, depend on the machine's speed
        tags.non_deterministic = self.random_state is None or self.max_seconds is not None
        return tags
