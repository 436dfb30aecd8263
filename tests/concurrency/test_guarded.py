"""Every guarded operation holds its limit when 8 people post the same form at once.

Runs against a real server (gunicorn with 4 workers on PostgreSQL, a threaded server on
SQLite); see :mod:`tests.concurrency.guarded` for the table of operations.
"""

from __future__ import annotations

import pytest

from tests.concurrency.guarded import GUARDED, SAFE_TO_REPEAT
from tests.concurrency.harness import fire_together

PEOPLE = 8


def test_every_state_changing_post_route_is_guarded_or_marked_safe(app):
    posts = {rule.endpoint for rule in app.url_map.iter_rules() if "POST" in rule.methods}
    both = set(GUARDED) & set(SAFE_TO_REPEAT)
    assert both == set(), "a route is either guarded or safe to repeat, not both"
    unknown = (set(GUARDED) | set(SAFE_TO_REPEAT)) - posts
    assert unknown == set(), "entries for routes that no longer exist"
    missing = sorted(posts - set(GUARDED) - set(SAFE_TO_REPEAT))
    assert missing == [], ("POST routes neither in GUARDED (with a concurrency scenario) nor in "
                           "SAFE_TO_REPEAT (with the reason)")
    assert all(len(reason) > 20 for reason in SAFE_TO_REPEAT.values())


@pytest.mark.parametrize("endpoint", sorted(GUARDED))
def test_identical_requests_at_once_act_within_the_limit(request, staff, endpoint):
    scenario = GUARDED[endpoint](request.getfixturevalue)
    people = staff(scenario.role, PEOPLE)
    answers = fire_together(people, scenario.path, scenario.data, scenario.files)
    server_errors = [(a.status, a.body[:500]) for a in answers if a.status >= 500]
    assert server_errors == []
    refused = [a for a in answers if a.status in (401, 403, 404, 400)]
    assert refused == [], [(a.status, a.body[:300]) for a in refused]
    scenario.check(answers)
