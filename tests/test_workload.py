"""The simulated portal's workload: determinism, shape, truth, incidents, content."""

from __future__ import annotations

import bisect
import collections
import hashlib
import itertools
import json
import re
import uuid
import zlib
from datetime import datetime

import pytest

from ctera_audit.errors import ConfigurationError
from ctera_audit.events import EVENT_FIELDS
from ctera_audit.simulator.workload import SCENARIOS, Change, Workload

ISO_UTC = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")


def take(workload: Workload, count: int) -> list[Change]:
    return list(itertools.islice(workload.changes(), count))


def dumps(changes: list[Change]) -> str:
    return json.dumps([change.entry for change in changes])


def seconds(stamp: str) -> float:
    return datetime.fromisoformat(stamp).timestamp()


class TreeModel:
    """An independent replay of the entries: guid -> name and parent."""

    def __init__(self, workload: Workload) -> None:
        self.names = {folder.root_guid: folder.name for folder in workload.folders}
        self.parents: dict[str, str | None] = dict.fromkeys(self.names)
        self.roots = set(self.names)

    def apply(self, entry: dict) -> str:
        """Replay one entry and return the object's path at event time."""
        guid = entry["guid"]
        self.names[guid] = entry["name"]
        self.parents[guid] = entry["parent_guid"]
        path = "/".join(name for _, name in self.chain(guid))
        if entry["deleted"]:
            del self.names[guid], self.parents[guid]
        return path

    def chain(self, guid: str) -> list[tuple[str, str]]:
        """(guid, name) pairs root first; empty if the object or a parent is gone."""
        chain = []
        current: str | None = guid
        while current is not None:
            if current not in self.names:
                return []
            chain.append((current, self.names[current]))
            current = self.parents[current]
        chain.reverse()
        return chain


@pytest.fixture(scope="module")
def background() -> tuple[Workload, list[Change]]:
    workload = Workload(7)
    return workload, take(workload, 50_000)


def test_same_seed_gives_identical_entries_and_another_seed_does_not() -> None:
    first = dumps(take(Workload(7), 20_000))
    again = dumps(take(Workload(7), 20_000))
    other = dumps(take(Workload(8), 20_000))

    assert first == again
    assert first != other


def test_entries_have_the_sdk_keys_and_ordered_stamps(background) -> None:
    _, changes = background
    gvsns = [change.entry["gvsn"] for change in changes]
    portal_dates = [change.entry["portal_modified_date"] for change in changes]
    file_stamps = [change.entry["file_timestamp"] for change in changes]

    assert all(list(change.entry) == list(EVENT_FIELDS) for change in changes)
    assert all(a < b for a, b in itertools.pairwise(gvsns))
    assert all(a <= b for a, b in itertools.pairwise(file_stamps))
    assert all(a <= b for a, b in itertools.pairwise(portal_dates))
    assert all(ISO_UTC.fullmatch(stamp) for stamp in file_stamps + portal_dates)
    assert all(uuid.UUID(change.entry["guid"]).version == 4 for change in changes)


def test_file_ids_are_fresh_per_version_and_kept_otherwise(background) -> None:
    _, changes = background
    current: dict[str, int] = {}
    new_ids = []
    for change in changes:
        entry = change.entry
        if entry["type"] == "folder":
            assert entry["id"] is None and entry["size"] is None
        elif change.action in ("created", "modified"):
            new_ids.append(entry["id"])
            current[entry["guid"]] = entry["id"]
        else:
            assert entry["id"] == current[entry["guid"]]

    assert new_ids == list(range(1, len(new_ids) + 1))


def test_paths_match_an_independent_replay(background) -> None:
    workload, changes = background
    model = TreeModel(workload)
    actions = collections.Counter()
    for change in changes:
        assert change.path == model.apply(change.entry)
        actions[change.entry["type"], change.action] += 1

    assert actions["folder", "renamed"] > 20
    assert actions["folder", "moved"] > 20
    assert actions["folder", "deleted"] > 20
    assert actions["file", "moved"] > 1000


def test_ancestors_follow_the_current_tree(background) -> None:
    workload, changes = background
    model = TreeModel(workload)
    for change in changes:
        model.apply(change.entry)
    seen = {change.entry["guid"] for change in changes}

    live = dead = 0
    for guid in sorted(seen)[::25]:
        expected = model.chain(guid)
        answer = workload.ancestors(guid)
        if not expected:
            dead += 1
            assert answer is None
            continue
        live += 1
        assert [(item["guid"], item["name"]) for item in answer] == expected
        assert answer[0]["parent_guid"] is None and answer[0]["type"] == "folder"
        assert all(item["deleted"] is False for item in answer)

    assert live > 100 and dead > 100
    assert workload.ancestors("not-a-guid") is None


def test_no_scenario_means_no_label_and_no_burst_of_deletes(background) -> None:
    _, changes = background
    deletes: dict[int, list[float]] = collections.defaultdict(list)
    for change in changes:
        if change.action == "deleted":
            stamp = seconds(change.entry["file_timestamp"])
            deletes[change.entry["folder_id"]].append(stamp)
    busiest = max(
        bisect.bisect(stamps, stamp + 300.0) - index
        for stamps in deletes.values()
        for index, stamp in enumerate(stamps)
    )

    assert all(change.scenario is None for change in changes)
    assert busiest < 40


def scenario_changes(name: str, count: int) -> tuple[list[Change], list[Change]]:
    changes = take(Workload(7, scenario=name), count)
    labelled = [change for change in changes if change.scenario == name]
    return changes, labelled


def test_mass_deletion_deletes_hundreds_within_minutes() -> None:
    _, labelled = scenario_changes("mass_deletion", 20_000)
    stamps = [seconds(change.entry["file_timestamp"]) for change in labelled]

    assert len(labelled) >= 200
    assert all(c.action == "deleted" and c.entry["deleted"] for c in labelled)
    assert len({change.entry["folder_id"] for change in labelled}) == 1
    assert {change.entry["type"] for change in labelled} == {"file", "folder"}
    assert stamps[-1] - stamps[0] < 15 * 60


def test_ransomware_encrypts_then_renames_to_locked() -> None:
    workload = Workload(7, scenario="ransomware")
    labelled = [c for c in take(workload, 20_000) if c.scenario == "ransomware"]
    modified = [c for c in labelled if c.action == "modified"]
    renamed = [c for c in labelled if c.action == "renamed"]
    sample = workload.content_block(modified[0].entry["id"], 0, 1 << 16)

    assert len(modified) >= 200 and len(renamed) >= 200
    assert all(c.entry["name"].endswith(".locked") for c in renamed)
    assert all(
        before.action == "modified" and before.entry["guid"] == after.entry["guid"]
        for before, after in itertools.pairwise(labelled)
        if after.action == "renamed"
    )
    assert len(zlib.compress(sample)) > 0.99 * len(sample)


def test_activity_spike_is_ten_times_the_owners_baseline() -> None:
    changes, labelled = scenario_changes("activity_spike", 60_000)
    folder_id = labelled[0].entry["folder_id"]
    span = seconds(labelled[-1].entry["file_timestamp"]) - seconds(
        labelled[0].entry["file_timestamp"]
    )
    office_hours: collections.Counter[str] = collections.Counter()
    for change in changes[15_000:]:
        stamp = change.entry["file_timestamp"]
        ordinary = change.scenario is None and change.entry["folder_id"] == folder_id
        if ordinary and change.action in ("created", "modified"):
            office_hours[stamp[:13]] += 1
    baseline = max(office_hours.values())

    assert {c.entry["folder_id"] for c in labelled} == {folder_id}
    assert 3000 < span < 3700
    assert len(labelled) / (span / 3600) >= 10 * baseline


def test_all_runs_every_scenario_in_distinct_folders() -> None:
    changes = take(Workload(7, scenario="all"), 40_000)
    folders = {(c.scenario, c.entry["folder_id"]) for c in changes if c.scenario}

    assert {scenario for scenario, _ in folders} == set(SCENARIOS)
    assert len({folder for _, folder in folders}) == len(SCENARIOS)


def test_unknown_scenario_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="ransomwear"):
        Workload(scenario="ransomwear")


def test_hostile_names_appear_and_paths_still_replay() -> None:
    workload = Workload(7, users=3, team_folders=1, hostile_names=0.5)
    changes = take(workload, 5_000)
    model = TreeModel(workload)
    names = [change.entry["name"] for change in changes]

    assert all(change.path == model.apply(change.entry) for change in changes)
    assert any("/" in name for name in names)
    assert any("\x00" in name for name in names)
    assert any("\ud800" in name or "\udfff" in name for name in names)
    assert any(len(name) >= 300 for name in names)


def test_content_is_random_access_and_matches_its_digest(background) -> None:
    workload, changes = background
    files = [c.entry for c in changes if c.action == "modified" or c.entry["id"]]
    big = next(entry for entry in files if entry["size"] > 300_000)
    file_id, size = big["id"], big["size"]
    twin, other = Workload(7), Workload(8)
    take(twin, int(big["gvsn"], 16))
    take(other, 100)
    whole = workload.content_block(file_id, 0, size)
    pieces = b"".join(
        workload.content_block(file_id, offset, 50_001)
        for offset in range(0, size, 50_001)
    )

    assert len(whole) == size == workload.content_size(file_id)
    assert pieces == whole
    assert workload.content_block(file_id, size - 10, 100) == whole[-10:]
    assert workload.content_block(file_id, size, 100) == b""
    assert workload.sha256(file_id) == hashlib.sha256(whole).hexdigest()
    assert twin.content_block(file_id, 0, size) == whole
    assert other.content_block(1, 0, 1000) != workload.content_block(1, 0, 1000)
    assert workload.content_size(10**9) is None


def test_content_sizes_match_entries_and_kinds_compress_as_expected(
    background,
) -> None:
    workload, changes = background
    files = [c.entry for c in changes if c.action == "modified" or c.entry["id"]]
    texts = [e for e in files if e["name"].endswith(".docx") and e["size"] > 20_000]
    images = [e for e in files if e["name"].endswith(".jpg") and e["size"] > 20_000]

    def ratio(entry: dict) -> float:
        data = workload.content_block(entry["id"], 0, 20_000)
        return len(zlib.compress(data)) / len(data)

    assert all(workload.content_size(e["id"]) == e["size"] for e in files[::50])
    assert ratio(texts[0]) < 0.5
    assert ratio(images[0]) > 0.99
    assert 10_000 < sorted(e["size"] for e in files)[len(files) // 2] < 100_000


def test_live_population_stays_bounded() -> None:
    workload = Workload(7)
    changes = workload.changes()
    for _ in itertools.islice(changes, 100_000):
        pass
    early = workload.live_objects
    for _ in itertools.islice(changes, 200_000):
        pass

    assert workload.live_objects < 1.25 * early
