"""The adapters' in-memory maps stay bounded in a long-running process: ClickOrder and ImageUploads prune by age
and by count when an entry is added, on a pinned clock (no sleeps)."""

from __future__ import annotations

import threading

from bot.platforms.common import CLICK_MAX_AGE_S, IMAGE_MAX_AGE_S, ClickOrder, ImageUploads
from cards.model import Card, Image


class Clock:
    """A monotonic clock that moves only when told."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def chart(key: str) -> Card:
    return Card("t", (Image(key.encode(), key, "alt"),))


class Uploader:
    def __init__(self) -> None:
        self.calls: list[str] = []

    def __call__(self, png: bytes, chat_id: str) -> str:
        self.calls.append(png.decode())
        return f"img-{png.decode()}-{len(self.calls)}"


# --- ClickOrder ---------------------------------------------------------------------------------------------

def test_click_entries_older_than_the_window_are_pruned_when_a_click_is_numbered() -> None:
    clock = Clock()
    clicks = ClickOrder(clock=clock)
    assert [clicks.next(f"card-{i}") for i in range(3)] == [1, 2, 3]
    clock.now += 600
    assert clicks.next("card-1") == 4                  # clicked again: its age starts over
    clock.now += CLICK_MAX_AGE_S - 600                 # card-0 and card-2 are exactly 30 minutes old
    assert clicks.next("card-3") == 5
    assert len(clicks) == 2                            # card-1 (clicked 20 min ago) and card-3
    clock.now += CLICK_MAX_AGE_S
    assert clicks.next("card-4") == 6
    assert len(clicks) == 1


def test_a_card_clicked_again_after_its_entry_went_gets_a_new_number_and_is_updated() -> None:
    clock = Clock()
    clicks = ClickOrder(clock=clock)
    first = clicks.next("card-a")
    clock.now += CLICK_MAX_AGE_S + 1
    assert clicks.next("card-b") == 2 and len(clicks) == 1       # card-a's entry is gone
    updated: list[str] = []
    assert clicks.update_if_newest("card-a", first, lambda: updated.append("a1"))   # nothing newer came
    again = clicks.next("card-a")
    assert again == 3                                             # never a number used before
    assert not clicks.update_if_newest("card-a", first, lambda: updated.append("stale"))
    assert clicks.update_if_newest("card-a", again, lambda: updated.append("a3"))
    assert updated == ["a1", "a3"]


def test_a_refused_click_withdrawn_does_not_drop_an_allowed_one_still_running() -> None:
    clicks = ClickOrder(clock=Clock())
    allowed = clicks.next("card")             # a team member's refresh, still being built
    refused = clicks.next("card")             # a stranger's click, refused by the worker after it was numbered
    clicks.withdraw("card", refused)
    updated: list[str] = []
    assert clicks.update_if_newest("card", allowed, lambda: updated.append("allowed"))
    newer = clicks.next("card")               # a click after the withdrawal is the newest again
    assert not clicks.update_if_newest("card", allowed, lambda: updated.append("stale"))
    clicks.withdraw("card", allowed)          # not the newest: nothing changes
    assert clicks.update_if_newest("card", newer, lambda: updated.append("newer"))
    assert updated == ["allowed", "newer"]
    assert len(clicks) == 1


def test_withdrawing_keeps_a_newer_click_in_its_place() -> None:
    clicks = ClickOrder(clock=Clock())
    older, refused, newer = clicks.next("card"), clicks.next("card"), clicks.next("card")
    clicks.withdraw("card", refused)
    updated: list[str] = []
    assert not clicks.update_if_newest("card", older, lambda: updated.append("older"))
    assert clicks.update_if_newest("card", newer, lambda: updated.append("newer"))
    assert updated == ["newer"]


def test_clicks_beyond_the_count_cap_drop_the_least_recently_clicked_cards() -> None:
    clock = Clock()
    clicks = ClickOrder(max_entries=3, clock=clock)
    for card in ("c1", "c2", "c3"):
        clicks.next(card)
        clock.now += 1
    clicks.next("c1")                                  # c1 is now the most recently clicked
    assert clicks.next("c4") == 5
    assert len(clicks) == 3
    updated: list[str] = []
    assert not clicks.update_if_newest("c1", 1, lambda: updated.append("old c1"))   # c1's entry was kept
    assert clicks.update_if_newest("c1", 4, lambda: updated.append("c1"))
    assert clicks.update_if_newest("c4", 5, lambda: updated.append("c4"))
    assert updated == ["c1", "c4"]


def test_only_the_newest_click_updates_with_pruning_on() -> None:
    clicks = ClickOrder(clock=Clock())
    older, newer = clicks.next("card"), clicks.next("card")
    assert (older, newer) == (1, 2)
    updated: list[int] = []
    assert clicks.update_if_newest("card", newer, lambda: updated.append(newer))
    assert not clicks.update_if_newest("card", older, lambda: updated.append(older))
    assert updated == [2]


# --- ImageUploads -------------------------------------------------------------------------------------------

def test_image_keys_older_than_their_age_are_pruned_and_uploaded_again() -> None:
    clock, upload = Clock(), Uploader()
    images = ImageUploads(upload, clock=clock)
    assert images.keys_for(chart("a"), "chat") == {"a": "img-a-1"}
    clock.now += 3600
    assert images.keys_for(chart("b"), "chat") == {"b": "img-b-2"}
    assert images.keys_for(chart("a"), "chat") == {"a": "img-a-1"}   # a day has not passed: not uploaded again
    assert len(images) == 2
    clock.now += IMAGE_MAX_AGE_S - 3600                # a is exactly a day old, b 23 hours
    assert images.keys_for(chart("c"), "chat") == {"c": "img-c-3"}
    assert len(images) == 2                            # a pruned when c was added
    assert images.keys_for(chart("a"), "chat") == {"a": "img-a-4"}   # a fresh upload, then kept
    assert images.keys_for(chart("a"), "chat") == {"a": "img-a-4"}
    assert upload.calls == ["a", "b", "c", "a"]
    assert len(images) == 3


def test_an_expired_key_is_not_used_even_before_anything_prunes_it() -> None:
    clock, upload = Clock(), Uploader()
    images = ImageUploads(upload, clock=clock)
    images.keys_for(chart("a"), "chat")
    clock.now += IMAGE_MAX_AGE_S
    assert images.keys_for(chart("a"), "chat") == {"a": "img-a-2"}
    assert len(images) == 1


def test_image_keys_beyond_the_count_cap_drop_the_oldest_upload() -> None:
    clock, upload = Clock(), Uploader()
    images = ImageUploads(upload, max_entries=2, clock=clock)
    for key in ("a", "b", "c"):
        images.keys_for(chart(key), "chat")
        clock.now += 1
    assert len(images) == 2
    assert images.keys_for(chart("b"), "chat") == {"b": "img-b-2"}   # kept
    assert images.keys_for(chart("a"), "chat") == {"a": "img-a-4"}   # dropped: uploaded again
    assert upload.calls == ["a", "b", "c", "a"]
    assert len(images) == 2


def test_two_askers_of_one_chart_wait_for_one_upload_and_a_failed_one_is_tried_again() -> None:
    started, release = threading.Event(), threading.Event()
    calls: list[str] = []

    def upload(png: bytes, chat_id: str) -> str | None:
        calls.append(chat_id)
        if len(calls) == 1:
            started.set()
            release.wait(5)
            return None                               # the first upload fails
        return "img-x"

    images = ImageUploads(upload, clock=Clock())
    got: dict[str, dict[str, str]] = {}
    first = threading.Thread(target=lambda: got.setdefault("first", images.keys_for(chart("x"), "one")))
    first.start()
    assert started.wait(5)
    second = threading.Thread(target=lambda: got.setdefault("second", images.keys_for(chart("x"), "two")))
    second.start()
    release.set()
    first.join(5)
    second.join(5)
    assert got == {"first": {}, "second": {"x": "img-x"}}
    assert calls == ["one", "two"]
    assert images.keys_for(chart("x"), "three") == {"x": "img-x"}
    assert len(images) == 1
