"""The sliding-window limiter, on a fake clock."""

from __future__ import annotations

from bot.ratelimit import RateLimiter


class Clock:
    def __init__(self) -> None:
        self.now = 100.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(round(seconds, 6))
        self.now += seconds


def test_five_per_second_per_chat_and_keys_are_independent() -> None:
    clock = Clock()
    limiter = RateLimiter(5, 1.0, clock=clock, sleep=clock.sleep)
    waits = [limiter.acquire("oc_a") for _ in range(5)]
    assert waits == [0.0] * 5 and clock.slept == []
    assert limiter.acquire("oc_b") == 0.0          # another chat has its own window
    clock.now += 0.25
    assert limiter.acquire("oc_a") == 0.75          # the sixth waits until the first leaves the window
    assert clock.slept == [0.75]
    clock.now += 1.0
    assert [limiter.acquire("oc_a") for _ in range(4)] == [0.0] * 4


def test_chats_that_went_quiet_are_forgotten() -> None:
    clock = Clock()
    limiter = RateLimiter(5, 1.0, clock=clock, sleep=clock.sleep)
    for i in range(1000):
        limiter.acquire(f"oc_{i}")
    assert limiter.keys() == 1000
    clock.now += 2.0                       # every chat has been quiet for longer than the window
    for _ in range(24):                    # the 1024th acquisition sweeps idle keys
        limiter.acquire("oc_busy")
    assert limiter.keys() == 1             # only the chat still inside its window


def test_booked_slots_queue_up_without_waiting_and_keep_the_window() -> None:
    clock = Clock()
    limiter = RateLimiter(2, 60.0, clock=clock, sleep=clock.sleep)
    assert [limiter.reserve("cid") for _ in range(5)] == [0.0, 0.0, 60.0, 60.0, 120.0]
    assert clock.slept == []                       # nobody slept: the callers schedule their sends
    clock.now += 30.0
    assert limiter.reserve("cid") == 90.0          # behind the bookings already made, in order
    assert limiter.acquire("other") == 0.0
