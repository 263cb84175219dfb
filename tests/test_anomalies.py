"""detect_anomalies() against the simulator's labelled incidents."""

from __future__ import annotations

import pandas as pd
import pytest

from ctera_audit.analysis import detect_anomalies, evidence, load
from tests.analysis_data import Built, sample, write

KIND = {
    "mass_deletion": "mass_deletion",
    "ransomware": "mass_rename",
    "activity_spike": "activity_spike",
}


def _frame(built: Built, tmp_path_factory: pytest.TempPathFactory) -> pd.DataFrame:
    return load(write(built.table, tmp_path_factory.mktemp("anomalies")))


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize("scenario", list(KIND))
def test_each_incident_is_flagged_in_its_window(
    scenario: str, seed: int, tmp_path_factory: pytest.TempPathFactory
) -> None:
    built = sample(seed, scenario)
    frame = _frame(built, tmp_path_factory)

    incidents = detect_anomalies(frame)

    assert len(incidents) == 1
    incident = incidents.iloc[0]
    first, last = built.window(scenario)
    assert incident["kind"] == KIND[scenario]
    assert incident["folder_id"] == built.victim(scenario)
    assert incident["start"] <= last and incident["end"] >= first
    assert incident["score"] >= 1.0

    rows = evidence(frame, incident)
    labels = built.truth.set_index("gvsn").loc[rows["gvsn"].astype(str), "scenario"]
    labelled = built.truth[built.truth["scenario"] == scenario]
    if scenario == "ransomware":  # the renames are the evidence, half the events
        labelled = labelled[labelled["action"] == "renamed"]
    assert len(rows) == incident["events"]
    assert rows["gvsn"].astype(str).isin(labelled["gvsn"]).sum() >= 0.9 * len(labelled)
    assert (labels == scenario).mean() >= 0.9


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_quiet_work_is_not_flagged(
    seed: int, tmp_path_factory: pytest.TempPathFactory
) -> None:
    frame = _frame(sample(seed), tmp_path_factory)

    incidents = detect_anomalies(frame)

    assert incidents.empty
    assert list(incidents.columns) == [
        "kind",
        "folder_id",
        "folder_name",
        "owner",
        "start",
        "end",
        "events",
        "score",
        "evidence",
    ]


def test_thresholds_are_parameters(tmp_path_factory: pytest.TempPathFactory) -> None:
    built = sample(1, "mass_deletion")
    frame = _frame(built, tmp_path_factory)
    peak = int(
        built.truth[built.truth["scenario"] == "mass_deletion"]["time"]
        .dt.floor("5min")
        .value_counts()
        .max()
    )

    flagged = detect_anomalies(frame, deletion_min=peak)
    missed = detect_anomalies(frame, deletion_min=peak + 200)

    assert list(flagged["kind"]) == ["mass_deletion"]
    assert "mass_deletion" not in set(missed["kind"])
