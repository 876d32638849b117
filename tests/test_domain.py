"""Ages from dates of birth, as calendars count them."""

from __future__ import annotations

import datetime as dt
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from possible.domain import age_on


@pytest.mark.parametrize(
    ("born", "day", "age"),
    [
        (dt.date(1964, 7, 2), dt.date(2025, 7, 1), 60.99),  # the day before: still 60
        (dt.date(1964, 7, 2), dt.date(2025, 7, 2), 61.0),
        (dt.date(2000, 2, 29), dt.date(2025, 2, 28), 24.99),  # a leap-day birthday: 1 March
        (dt.date(2000, 2, 29), dt.date(2025, 3, 1), 25.0),
        (dt.date(2000, 2, 29), dt.date(2024, 2, 29), 24.0),
        (dt.date(2026, 1, 1), dt.date(2026, 1, 1), 0.0),
    ],
)
def test_ages_by_hand(born: dt.date, day: dt.date, age: float) -> None:
    assert age_on(born, day) == age


days = st.dates(min_value=dt.date(1900, 1, 1), max_value=dt.date(2100, 12, 31))


@given(born=days, day=days)
def test_the_whole_part_is_the_birthdays_passed(born: dt.date, day: dt.date) -> None:
    if day < born:
        born, day = day, born
    passed = sum(
        1
        for year in range(born.year + 1, day.year + 1)
        if (born.month, born.day) <= (day.month, day.day) or year < day.year
    )
    age = age_on(born, day)
    assert math.floor(age) == passed
    assert age_on(born, day + dt.timedelta(days=1)) >= age
