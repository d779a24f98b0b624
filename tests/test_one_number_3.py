"""One person, one number at clocks 11-15 of tests.one_number.CLOCKS (see there)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

import pytest
from sqlalchemy.engine import Engine

from tests.one_number import CLOCKS, check_every_view, clock_ids, english_demo

HERE = CLOCKS[10:15]


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    yield from english_demo(tmp_path_factory)


@pytest.mark.parametrize("now", HERE, ids=clock_ids(HERE))
def test_every_view_shows_one_score_grade_rank_and_figure(store: Engine, now: datetime,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    check_every_view(store, now, capsys)
