"""Two customers with a history in every store: Katherine, whom the tests export and erase, and
Grace, whose data must come through untouched."""

from __future__ import annotations

import pytest

from frontdesk.bootstrap import Services
from frontdesk.dev.demo_data import load_demo_billing
from tests.frontdesk.privacy.test_subject_requests import GRACE, KATHERINE, seed_history


@pytest.fixture
def seeded(services: Services) -> Services:
    with services.db.transaction() as session:
        load_demo_billing(session)
    for customer in (KATHERINE, GRACE):
        seed_history(services, customer)
    return services
