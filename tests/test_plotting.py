import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from neuroembed.plotting import (  # noqa: E402
    plot_attribution,
    plot_consistency,
    plot_embedding,
    plot_loss,
)


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


@pytest.fixture
def embedding():
    return np.random.default_rng(0).normal(size=(100, 4)).astype(np.float32)


def test_embedding_3d_coloured_by_behaviour(embedding):
    position = np.linspace(0, 1.6, 100)
    fig = plot_embedding(embedding, color=position, title="rat")
    assert isinstance(fig, Figure)
    ax = fig.axes[0]
    assert ax.name == "3d" and ax.get_title() == "rat"
    points = ax.collections[0]
    np.testing.assert_allclose(points.get_array(), position)
    assert len(fig.axes) == 2  # with a colour bar
    fig.savefig(__import__("io").BytesIO(), format="png")  # draws without error


def test_embedding_2d_and_dims(embedding):
    fig = plot_embedding(embedding, dims=(3, 1), color=np.arange(100)[:, None], colorbar=False)
    ax = fig.axes[0]
    assert ax.name == "rectilinear" and len(fig.axes) == 1
    np.testing.assert_allclose(ax.collections[0].get_offsets(), embedding[:, [3, 1]])
    assert ax.get_xlabel() == "dim 3"
    # a 2-D embedding with the default dims falls back to a 2-D plot
    assert plot_embedding(embedding[:, :2]).axes[0].name == "rectilinear"


def test_embedding_colour_options_and_given_axes(embedding):
    fig, ax = plt.subplots()
    assert plot_embedding(embedding, color="tab:red", dims=(0, 1), ax=ax) is fig
    np.testing.assert_allclose(
        ax.collections[0].get_facecolor()[0][:3], matplotlib.colors.to_rgb("tab:red")
    )
    fig = plot_embedding(embedding, color="time")
    np.testing.assert_array_equal(fig.axes[0].collections[0].get_array(), np.arange(100))
    # an RGB tuple is a matplotlib colour too (was refused: "one value per sample")
    fig = plot_embedding(embedding, color=(1.0, 0.5, 0.0))
    points = fig.axes[0].collections[0]
    assert points.get_array() is None and len(fig.axes) == 1
    np.testing.assert_allclose(points.get_facecolor()[0][:3], (1.0, 0.5, 0.0))
    # ... unless it has one value per sample
    three = plot_embedding(embedding[:3], color=(1.0, 0.5, 0.0), dims=(0, 1))
    np.testing.assert_array_equal(three.axes[0].collections[0].get_array(), [1.0, 0.5, 0.0])


def test_embedding_bad_input(embedding):
    with pytest.raises(ValueError, match="one value per sample"):
        plot_embedding(embedding, color=np.zeros(99))
    with pytest.raises(ValueError, match="one value per sample"):
        plot_embedding(embedding, color=np.zeros((100, 3)))
    with pytest.raises(ValueError, match="colour"):
        plot_embedding(embedding, color="not-a-colour")
    with pytest.raises(ValueError, match="dims"):
        plot_embedding(embedding, dims=(0, 7))
    with pytest.raises(ValueError, match="at least 2 columns"):
        plot_embedding(embedding[:, :1])
    _, ax = plt.subplots()
    with pytest.raises(ValueError, match="3-D Axes"):
        plot_embedding(embedding, ax=ax)


def test_loss_and_bits():
    history = np.linspace(np.log(64), 1.0, 50)
    fig = plot_loss(history)
    line = fig.axes[0].lines[0]
    np.testing.assert_allclose(line.get_ydata(), history)
    np.testing.assert_array_equal(line.get_xdata(), np.arange(1, 51))
    assert fig.axes[0].get_ylabel() == "InfoNCE loss"

    class Fitted:
        loss_history_ = history
        num_negatives_ = 64

    fig = plot_loss(Fitted(), bits=True, label="run 0")
    np.testing.assert_allclose(fig.axes[0].lines[0].get_ydata(), (np.log(64) - history) / np.log(2))
    assert fig.axes[0].get_legend() is not None
    with pytest.raises(ValueError, match="num_negatives"):
        plot_loss(history, bits=True)
    with pytest.raises(ValueError, match="1-D"):
        plot_loss(np.zeros((3, 3)))


def test_loss_with_the_validation_curve_and_the_best_iteration():
    history = np.linspace(np.log(64), 1.0, 50)

    class EarlyStopped:
        loss_history_ = history
        num_negatives_ = 64
        validation_scores_ = -np.array([3.5, 3.0, 3.2])  # minus the held-out loss
        validation_iterations_ = np.array([20, 40, 50])
        best_iteration_ = 40

    fig = plot_loss(EarlyStopped())
    ax = fig.axes[0]
    train, held_out, best = ax.lines
    np.testing.assert_allclose(train.get_ydata(), history)
    np.testing.assert_array_equal(held_out.get_xdata(), [20, 40, 50])
    np.testing.assert_allclose(held_out.get_ydata(), [3.5, 3.0, 3.2])
    np.testing.assert_array_equal(best.get_xdata(), [40, 40])  # a vertical line at the kept weights
    assert [t.get_text() for t in ax.get_legend().get_texts()] == [
        "training",
        "validation",
        "best (40)",
    ]
    plt.close(fig)
    # in bits, both curves as (log K - loss) / log 2
    fig = plot_loss(EarlyStopped(), bits=True, label="run 0")
    held_out = fig.axes[0].lines[1]
    np.testing.assert_allclose(
        held_out.get_ydata(), (np.log(64) - np.array([3.5, 3.0, 3.2])) / np.log(2)
    )
    assert [t.get_text() for t in fig.axes[0].get_legend().get_texts()][:2] == [
        "run 0",
        "run 0 (validation)",
    ]
    plt.close(fig)
    # validation=False, or an estimator fitted without early stopping (None): the training curve alone
    fig = plot_loss(EarlyStopped(), validation=False)
    assert len(fig.axes[0].lines) == 1 and fig.axes[0].get_legend() is None
    plt.close(fig)
    EarlyStopped.validation_scores_ = None
    fig = plot_loss(EarlyStopped())
    assert len(fig.axes[0].lines) == 1 and fig.axes[0].get_legend() is None
    plt.close(fig)
    EarlyStopped.validation_scores_ = np.zeros(2)
    with pytest.raises(ValueError, match="same length"):
        plot_loss(EarlyStopped())


def test_loss_of_a_real_early_stopped_fit():
    from neuroembed.estimator import Estimator

    X = np.random.default_rng(0).poisson(1.0, (300, 5)).astype(np.float32)
    est = Estimator(
        model="offset5",
        conditional="time",
        time_offset=2,
        batch_size=16,
        max_iterations=12,
        early_stopping=True,
        validation_every=5,
        device="cpu",
        random_state=0,
    ).fit(X)
    fig = plot_loss(est)
    np.testing.assert_array_equal(fig.axes[0].lines[1].get_xdata(), [5, 10, 12])
    assert fig.axes[0].lines[2].get_xdata()[0] == est.best_iteration_
    plt.close(fig)


def test_consistency_heatmap():
    names = ["rat1", "rat2", "rat3"]
    values = np.array([[np.nan, 0.91, 0.5], [0.88, np.nan, 0.45], [0.52, 0.47, np.nan]])
    frame = pd.DataFrame(
        values, index=pd.Index(names, name="source"), columns=pd.Index(names, name="target")
    )
    fig = plot_consistency(frame, title="between rats")
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.texts] == ["0.91", "0.50", "0.88", "0.45", "0.52", "0.47"]
    assert [t.get_text() for t in ax.get_xticklabels()] == names
    assert ax.get_xlabel() == "target" and ax.get_ylabel() == "source"
    assert ax.images[0].get_array().mask.diagonal().all()  # NaN diagonal left blank
    fig = plot_consistency(values, annotate=False, fmt=".1f")
    assert len(fig.axes[0].texts) == 0
    with pytest.raises(ValueError, match="2-D"):
        plot_consistency(np.zeros(3))
    with pytest.raises(ValueError, match=r"non-empty 2-D array; got shape \(0, 0\)"):
        plot_consistency(np.zeros((0, 0)))  # was a matplotlib warning about singular limits


def test_attribution_heatmap_sorted_by_total_attribution():
    # totals 0.3, 1.5, 0.05, 0.5
    attribution = np.array([[0.1, 0.9, 0.0, 0.4], [0.2, 0.6, 0.05, 0.1]])
    names = ["n0", "n1", "n2", "n3"]
    fig = plot_attribution(attribution, neuron_names=names, dimension_names=["x", "y"])
    assert isinstance(fig, Figure)
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["n1", "n3", "n0", "n2"]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["x", "y"]
    np.testing.assert_allclose(ax.images[0].get_array(), attribution[:, [1, 3, 0, 2]])
    assert ax.images[0].get_clim() == (0.0, 0.9) and ax.images[0].get_cmap().name == "viridis"
    assert len(ax.figure.axes) == 2  # with a colour bar
    assert ax.figure.axes[1].get_ylabel() == "attribution"
    ax.figure.savefig(__import__("io").BytesIO(), format="png")  # draws without error
    # unsorted, default names, a signed map centred on zero, into given Axes
    fig, given = plt.subplots()
    signed = attribution - 0.3
    assert plot_attribution(signed, ax=given, sort=False, title="map") is fig
    assert [t.get_text() for t in given.get_xticklabels()] == ["0", "1", "2", "3"]
    np.testing.assert_allclose(given.images[0].get_array(), signed)
    assert given.images[0].get_clim() == pytest.approx((-0.6, 0.6))
    assert given.get_title() == "map"


def test_attribution_heatmap_of_a_real_map_with_many_neurons():
    from neuroembed.attribution import attribution_map
    from neuroembed.estimator import Estimator

    X = np.random.default_rng(0).poisson(1.0, (200, 90)).astype(np.float32)
    est = Estimator(
        model="offset5",
        conditional="time",
        output_dimension=3,
        max_iterations=3,
        batch_size=16,
        device="cpu",
        random_state=0,
    ).fit(X)
    result = attribution_map(est, X, "jacobian", per_sample=True)
    ax = plot_attribution(result).axes[0]  # an Attribution result draws its summary
    np.testing.assert_allclose(
        ax.images[0].get_array(),
        result.summary[:, np.argsort(-result.summary.sum(0), kind="stable")],
    )
    labels = [int(t.get_text()) for t in ax.get_xticklabels()]
    assert len(labels) == 30 and labels[0] == int(np.argmax(result.summary.sum(0)))


def test_attribution_heatmap_bad_input():
    with pytest.raises(ValueError, match="one name for each of the 3 neurons; got 2"):
        plot_attribution(np.ones((2, 3)), neuron_names=["a", "b"])
    with pytest.raises(ValueError, match="one name for each of the 2 embedding dimensions"):
        plot_attribution(np.ones((2, 3)), dimension_names=["x"])
    with pytest.raises(TypeError, match="neuron_names"):
        plot_attribution(np.ones((2, 3)), neuron_names="abc")
    with pytest.raises(ValueError, match=r"\(output_dim, n_neurons\)"):
        plot_attribution(np.ones((2, 3, 4)))
    with pytest.raises(ValueError, match="NaN"):
        plot_attribution(np.array([[np.nan, 1.0]]))


def test_plotting_does_not_import_upper_floors():
    import ast
    from pathlib import Path

    import neuroembed.plotting as module

    tree = ast.parse(Path(module.__file__).read_text())
    imported = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    imported |= {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    assert not any(
        m and m.startswith(("neuroembed.metrics", "neuroembed.estimator", "neuroembed.solver"))
        for m in imported
    )
