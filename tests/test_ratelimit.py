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
