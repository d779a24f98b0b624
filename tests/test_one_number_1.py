"""One person, one number: part 1 of 4 of tests.one_number's clocks (see there)."""

from tests.one_number import part, store  # noqa: F401 (store: the module's fixture)

test_every_view_shows_one_score_grade_rank_and_figure = part(0)
