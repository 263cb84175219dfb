"""Charts draw on the Agg backend without error and return their Axes."""

from __future__ import annotations

import sys
from collections.abc import Iterator

import matplotlib
import pandas as pd
import pytest

from ctera_audit.analysis import (
    detect_anomalies,
    load,
    plot_anomalies,
    plot_heatmap,
    plot_timeline,
    plot_top_directories,
)
from ctera_audit.errors import ConfigurationError
from tests.analysis_data import sample, write

matplotlib.use("Agg")
import matplotlib.pyplot as plt


@pytest.fixture(scope="module")
def frame(tmp_path_factory: pytest.TempPathFactory) -> pd.DataFrame:
    built = sample(1, "mass_deletion")
    return load(write(built.table, tmp_path_factory.mktemp("plots")))


@pytest.fixture(autouse=True)
def close_figures() -> Iterator[None]:
    yield
    plt.close("all")


def test_timeline_stacks_each_action(frame: pd.DataFrame) -> None:
    ax = plot_timeline(frame)

    labels = {text.get_text() for text in ax.get_legend().get_texts()}
    assert {"created", "modified", "deleted"} <= labels
    assert len(ax.collections) == len(labels)


def test_heatmap_covers_the_week(frame: pd.DataFrame) -> None:
    _, ax = plt.subplots()

    assert plot_heatmap(frame, ax=ax) is ax
    image = ax.get_images()[0].get_array()
    assert image.shape == (7, 24)
    assert image.sum() == len(frame)


def test_top_directories_one_bar_each(frame: pd.DataFrame) -> None:
    ax = plot_top_directories(frame, n=7)

    assert len(ax.patches) == 7


def test_anomalies_shade_each_incident(frame: pd.DataFrame) -> None:
    incidents = detect_anomalies(frame)

    ax = plot_anomalies(frame, incidents)

    assert len(ax.patches) == len(incidents) == 1
    assert len(ax.lines) == 1


def test_missing_matplotlib_names_the_extra(
    frame: pd.DataFrame, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib.pyplot", None)

    with pytest.raises(ConfigurationError, match=r"ctera-audit\[plot\]"):
        plot_timeline(frame)
