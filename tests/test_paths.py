"""The path resolver against the simulated portal's ancestors call and ground truth."""

from __future__ import annotations

from ctera_audit import Portal
from ctera_audit.paths import ANCESTORS, TREE, PageOutline, PathResolver

from .conftest import StartSimulator, read_truth


async def test_a_cold_start_asks_once_per_unknown_parent_then_warms_up(
    start_simulator: StartSimulator,
):
    simulator = start_simulator(events=14_000, ground_truth_hashes=False)
    truth = read_truth(simulator)
    tail = truth[10_000:14_000]

    async with Portal(simulator.url) as portal:
        await portal.login("admin", "secret")
        resolver = PathResolver(portal.ancestors)
        cursor = simulator.portal.cursor_at(10_000)
        calls, statuses = [], []
        for _ in range(2):
            page = await portal.list_changes(cursor, max_results=2000)
            before = resolver.statistics.ancestors_calls
            await resolver.prepare(PageOutline.from_entries(page.entries))
            statuses += [resolver.resolve(entry)[2] for entry in page.entries]
            calls.append(resolver.statistics.ancestors_calls - before)
            cursor = page.cursor

    assert sum(calls) <= len({t["parent_guid"] for t in tail})
    assert calls[1] < calls[0]
    assert len(statuses) == 4_000
    assert ANCESTORS in statuses


async def test_stream_order_gives_event_time_paths_under_renamed_folders(
    start_simulator: StartSimulator,
):
    simulator = start_simulator(events=20_000, ground_truth_hashes=False)
    truth = read_truth(simulator)
    renamed = {
        t["guid"]
        for t in truth
        if t["type"] == "folder" and t["action"] in ("renamed", "moved")
    }
    assert renamed, "the workload renamed or moved no folder"

    async with Portal(simulator.url) as portal:
        await portal.login("admin", "secret")
        resolver = PathResolver(portal.ancestors)
        cursor = None
        paths: list[str | None] = []
        while True:
            page = await portal.list_changes(cursor)
            await resolver.prepare(PageOutline.from_entries(page.entries))
            paths += [resolver.resolve(entry)[0] for entry in page.entries]
            cursor = page.cursor
            if not page.has_more:
                break

    assert paths == [t["path"] for t in truth]


async def test_memory_bound_evicts_relearns_and_never_misnames(
    start_simulator: StartSimulator,
):
    simulator = start_simulator(events=6_000)
    truth = read_truth(simulator)

    async with Portal(simulator.url) as portal:
        await portal.login("admin", "secret")
        resolver = PathResolver(portal.ancestors, max_folders=200)
        cursor, paths, statuses, sizes = None, [], [], []
        while True:
            page = await portal.list_changes(cursor, max_results=500)
            outline = PageOutline.from_entries(page.entries)
            await resolver.prepare(outline)
            named, _, named_by = resolver.resolve_page(outline)
            paths += named.to_pylist()
            statuses += named_by.to_pylist()
            sizes.append(len(resolver))
            cursor = page.cursor
            if not page.has_more:
                break

    assert max(sizes) <= 200
    assert resolver.statistics.evictions > 0
    assert len(paths) == len(truth)
    from_tree = [
        (path, t["path"])
        for path, status, t in zip(paths, statuses, truth, strict=True)
        if status == TREE
    ]
    assert from_tree, "no path was named from the tree"
    assert all(path == true_path for path, true_path in from_tree)
    # Dropped folders have their parents kept, so nothing is left unnamed for a
    # missing ancestor; only for a folder deleted before it was asked for again.
    assert not [status for status in statuses if "parent unknown" in status]


async def test_deleted_folders_are_forgotten_beyond_the_bound(
    start_simulator: StartSimulator,
):
    simulator = start_simulator(events=20_000, ground_truth_hashes=False)
    truth = read_truth(simulator)
    deleted_folders = {
        t["guid"] for t in truth if t["type"] == "folder" and t["deleted"]
    }
    assert len(deleted_folders) > 10, "the workload deleted too few folders"

    async with Portal(simulator.url) as portal:
        await portal.login("admin", "secret")
        resolver = PathResolver(portal.ancestors, remembered_deletions=5)
        cursor, resolved, forgotten = None, [], []
        while True:
            page = await portal.list_changes(cursor)
            await resolver.prepare(PageOutline.from_entries(page.entries))
            resolved += [resolver.resolve(entry) for entry in page.entries]
            forgotten += resolver.take_changes()[1]
            cursor = page.cursor
            if not page.has_more:
                break

    assert len(forgotten) == len(deleted_folders) - 5
    assert set(forgotten) <= deleted_folders
    assert [path for path, _, _ in resolved] == [t["path"] for t in truth]


async def test_a_page_at_once_names_events_as_one_at_a_time(
    start_simulator: StartSimulator,
):
    simulator = start_simulator(events=8_000, ground_truth_hashes=False)

    async with Portal(simulator.url) as portal:
        await portal.login("admin", "secret")
        one_by_one = PathResolver(portal.ancestors)
        by_page = PathResolver(portal.ancestors)
        cursor, singles, pages = None, [], ([], [], [])
        while True:
            page = await portal.list_changes(cursor, columnar=True)
            assert page.outline is not None, "the fast reader refused a clean page"
            await one_by_one.prepare(PageOutline.from_entries(page.entries))
            await by_page.prepare(page.outline)
            singles += [one_by_one.resolve(entry) for entry in page.entries]
            for column, values in zip(
                pages, by_page.resolve_page(page.outline), strict=True
            ):
                column.extend(values.to_pylist())
            cursor = page.cursor
            if not page.has_more:
                break

    assert list(zip(*pages, strict=True)) == singles
    assert [path for path, _, _ in singles] == [
        t["path"] for t in read_truth(simulator)
    ]


async def test_a_folder_moved_under_its_own_child_is_reported_not_looped():
    async def root_only(folder_id: int | None, guid: str) -> list[dict]:
        return [{"guid": "root", "name": "root", "type": "folder"}]

    def folder(guid: str, parent: str) -> dict:
        return {
            "type": "folder",
            "guid": guid,
            "name": guid,
            "deleted": False,
            "parent_guid": parent,
        }

    entries = [
        folder("a", "root"),
        folder("b", "a"),
        {**folder("c.txt", "b"), "type": "file"},
        folder("a", "b"),  # a moved under its own child: a loop
        {**folder("d.txt", "b"), "type": "file"},
        {**folder("b", "a"), "name": "b2"},  # renaming inside the loop ends
    ]
    resolver = PathResolver(root_only)
    outline = PageOutline.from_entries(entries)
    await resolver.prepare(outline)

    paths, _, statuses = resolver.resolve_page(outline)

    assert paths.to_pylist()[:3] == ["root/a", "root/a/b", "root/a/b/c.txt"]
    assert paths.to_pylist()[3:] == [None, None, None]
    assert statuses.to_pylist()[4].startswith("unresolved:folder loop above")
