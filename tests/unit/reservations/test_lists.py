"""Lists come a page at a time (limit and cursor, the answer's `next`), and the states of the
nodes of every listed reservation are read in one query, however many reservations there are."""

from __future__ import annotations

import pytest
from sqlalchemy import event

from helpers.api import reserve


class Queries:
    """Counts the SQL statements an app's engine runs."""

    def __init__(self, engine):
        self.engine, self.count = engine, 0

    def __enter__(self):
        event.listen(self.engine, "before_cursor_execute", self._count)
        return self

    def __exit__(self, *_):
        event.remove(self.engine, "before_cursor_execute", self._count)

    def _count(self, *_args):
        self.count += 1


def queries_to_list(api, database, path: str) -> int:
    with Queries(database.engine) as queries:
        assert api.get(path).status == 200
    return queries.count


def test_listing_costs_the_same_queries_for_two_reservations_or_eight(api, database):
    for index in range(2):
        assert reserve(api, username=f"few{index}").status == 201
    few = queries_to_list(api, database, "/api/v1/reservations")
    for index in range(6):
        assert reserve(api, username=f"many{index}").status == 201
    many = queries_to_list(api, database, "/api/v1/reservations")
    # Not one query per reservation (to read its nodes' states): a fixed number for the page.
    assert many == few


def test_reservations_come_a_page_at_a_time_and_every_one_once(api):
    made = [reserve(api, username=f"u{index}").body["id"] for index in range(7)]
    seen, cursor, pages = [], None, 0
    while True:
        page = api.get("/api/v1/reservations?limit=3" + (f"&cursor={cursor}" if cursor else "")).body
        seen += [reservation["id"] for reservation in page["reservations"]]
        pages += 1
        cursor = page["next"]
        if cursor is None:
            break
    assert seen == made and pages == 3
    # A reservation made while paging shows up on a later page, none twice.
    first = api.get("/api/v1/reservations?limit=4").body
    late = reserve(api, username="late").body["id"]
    rest = api.get(f"/api/v1/reservations?limit=100&cursor={first['next']}").body
    assert [r["id"] for r in first["reservations"]] + [r["id"] for r in rest["reservations"]] == made + [late]


def test_ended_ones_are_listed_with_all(api):
    kept = reserve(api, username="kept").body["id"]
    gone = reserve(api, username="gone").body["id"]
    assert api.delete(f"/api/v1/reservations/{gone}").status == 200
    assert [r["id"] for r in api.get("/api/v1/reservations").body["reservations"]] == [kept]
    assert [r["id"] for r in api.get("/api/v1/reservations?all=1").body["reservations"]] == [kept, gone]


@pytest.mark.parametrize("query,code", [("cursor=nonsense", "invalid_cursor"), ("cursor=WzEsMl0", "invalid_cursor"),
                                        ("limit=0", "invalid_limit"), ("limit=1001", "invalid_limit")])
def test_a_bad_cursor_or_limit_is_a_400(api, query, code):
    answer = api.get(f"/api/v1/reservations?{query}")
    assert answer.status == 400 and answer.error["code"] == code
