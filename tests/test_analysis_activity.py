"""Inferred actions and activity summaries, judged against the workload's truth."""

from __future__ import annotations

import pandas as pd
import pytest

from ctera_audit.analysis import (
    by_folder,
    by_owner,
    bytes_changed,
    extension_mix,
    infer_actions,
    load,
    timeline,
    top_directories,
    top_files,
)
from ctera_audit.errors import ConfigurationError
from tests.analysis_data import Built, sample, write


@pytest.fixture(scope="module")
def built() -> Built:
    return sample(2, "ransomware")


@pytest.fixture(scope="module")
def frame(built: Built, tmp_path_factory: pytest.TempPathFactory) -> pd.DataFrame:
    return load(write(built.table, tmp_path_factory.mktemp("activity")))


@pytest.fixture(scope="module")
def truth(built: Built, frame: pd.DataFrame) -> pd.DataFrame:
    """The truth in the frame's row order."""
    return built.truth.set_index("gvsn").loc[frame["gvsn"].astype(str)].reset_index()


def test_infer_actions_agrees_with_the_truth(
    frame: pd.DataFrame, truth: pd.DataFrame
) -> None:
    """The one systematic miss: a rename to the very same name changes nothing.

    The workload sometimes draws a "new" name equal to the old one; the event
    then matches its predecessor in every field, so it reads as unchanged.
    """
    actions = infer_actions(frame).astype(str).to_numpy()
    agree = actions == truth["action"].to_numpy()

    assert agree.mean() >= 0.99
    missed = truth[~agree]
    assert set(missed["action"]) == {"renamed"}
    assert set(actions[~agree]) == {"unchanged"}
    name = truth["path"].str.rsplit("/", n=1).str[-1]
    previous_name = name.groupby(truth["guid"]).shift(1)
    assert (name[~agree] == previous_name[~agree]).all()


def test_an_event_after_a_deletion_is_a_restore(frame: pd.DataFrame) -> None:
    deleted = frame[frame["deleted"]].iloc[[0]]
    restored = deleted.assign(
        deleted=False,
        gvsn="ffffffffffffffff",
        portal_modified_date=frame["portal_modified_date"].max(),
    )
    extended = pd.concat([frame, restored], ignore_index=True)

    actions = infer_actions(extended)

    assert actions.iloc[-1] == "restored"
    assert actions.index.equals(extended.index)


def test_timeline_counts_each_hour_and_action(
    frame: pd.DataFrame, truth: pd.DataFrame
) -> None:
    counts = timeline(frame, freq="1h")

    hours = truth["time"].dt.floor("1h")
    per_hour = hours.value_counts().sort_index()
    assert counts.sum(axis=1)[per_hour.index].tolist() == per_hour.tolist()
    assert (counts.sum(axis=1).drop(per_hour.index) == 0).all()
    true_totals = truth["action"].value_counts()
    for action in ("created", "modified", "moved", "deleted"):
        assert counts[action].sum() == true_totals[action]
    assert counts[["renamed", "unchanged"]].sum().sum() == true_totals["renamed"]


def test_top_files_and_directories(frame: pd.DataFrame, truth: pd.DataFrame) -> None:
    files = top_files(frame, n=5)
    directories = top_directories(frame, n=5)

    true_files = truth[truth["type"] == "file"].groupby("guid").size()
    assert files["events"].tolist() == true_files.nlargest(5).tolist()
    for guid, row in files.iterrows():
        assert row["events"] == true_files[guid]
        assert row["path"] == truth[truth["guid"] == guid]["path"].iloc[-1]
    parents = truth["path"].str.rsplit("/", n=1).str[0].value_counts()
    assert directories["events"].tolist() == parents.nlargest(5).tolist()


def test_extension_mix(frame: pd.DataFrame, truth: pd.DataFrame) -> None:
    mix = extension_mix(frame)

    names = truth.loc[truth["type"] == "file", "path"].str.rsplit("/", n=1).str[1]
    extension = names.str.extract(r".\.([^.]+)$")[0].str.lower().dropna()
    assert mix["events"].to_dict() == extension.value_counts().to_dict()
    assert mix.loc["locked", "files"] > 200  # the ransomware's renamed files
    assert mix["share"].sum() == pytest.approx(1.0)


def test_bytes_changed_follows_the_true_actions(
    frame: pd.DataFrame, truth: pd.DataFrame
) -> None:
    files = truth[truth["type"] == "file"].sort_values(["guid", "time", "gvsn"])
    previous = files.groupby("guid")["size"].shift(1)
    delta = files["size"] - previous.fillna(0)
    delta[files["action"] == "deleted"] = -files["size"]
    delta[files["action"].isin(["renamed", "moved"])] = 0

    total = bytes_changed(frame)
    hourly = bytes_changed(frame, freq="1h")

    assert total.loc["total", "added"] == delta.clip(lower=0).sum()
    assert total.loc["total", "removed"] == (-delta).clip(lower=0).sum()
    assert hourly["net"].sum() == delta.sum()


def test_by_folder_and_by_owner(
    built: Built, frame: pd.DataFrame, truth: pd.DataFrame
) -> None:
    folders = by_folder(frame)
    owners = by_owner(frame)

    per_folder = truth.groupby("folder_id").size()
    assert folders["events"].to_dict() == per_folder.to_dict()
    deletions = truth[truth["action"] == "deleted"].groupby("folder_id").size()
    assert folders["deleted"][deletions.index].tolist() == deletions.tolist()
    owner_of = {f.uid: f.owner.name for f in built.workload.folders}
    per_owner = truth.groupby(truth["folder_id"].map(owner_of)).size()
    assert owners["events"].to_dict() == per_owner.to_dict()
    assert owners["folders"].sum() == truth["folder_id"].nunique()


def test_missing_columns_are_named(frame: pd.DataFrame) -> None:
    with pytest.raises(ConfigurationError, match="parent_guid"):
        infer_actions(frame.drop(columns=["parent_guid"]))
