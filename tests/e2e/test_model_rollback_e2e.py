"""End to end: `frontdesk model rollback` makes the running Rasa server load the model registered
before the live one, through Rasa's HTTP API, while customers keep talking: no request fails
during the swap, the audit trail says who did it and why, and rolling forward restores the model."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from lab.month_of_traffic import model_copy
from tests.stack import MODEL, Stack, frontdesk

pytestmark = [pytest.mark.e2e, pytest.mark.model]


def live_model(stack: Stack, env: dict[str, str]) -> str:
    [live] = [row for row in json.loads(frontdesk(stack, "model", "list", "--json", env=env)) if row["live"]]
    return live["model_id"]


def test_rollback_swaps_the_live_model_while_customers_keep_talking(stack: Stack, tmp_path: Path):
    if not stack.production:
        # The production stack: its Rasa server's JWT secret is in the operator's environment, as
        # in a deployment (development makes one up inside `frontdesk serve`).
        pytest.skip("needs the production stack's RASA_JWT_SECRET")
    env = {"FRONTDESK_MODEL_DIR": str(tmp_path / "models")}
    # The same trained model under another id: a "previous" model without a second training.
    older = model_copy(MODEL, tmp_path / "older.tar.gz", "0" * 32)
    frontdesk(stack, "model", "register", str(older), env=env)
    frontdesk(stack, "model", "register", str(MODEL), env=env)
    current = live_model(stack, env)
    assert current != "0" * 32

    statuses: list[int] = []
    stop = threading.Event()

    def customers() -> None:
        number = 0
        while not stop.is_set():
            number += 1
            statuses.append(stack.post(f"swap-{number}", "hi").status_code)

    talking = threading.Thread(target=customers)
    talking.start()
    try:
        done = json.loads(frontdesk(stack, "model", "rollback", "--reason", "deflection fell after the release",
                                    "--json", env=env))
    finally:
        stop.set()
        talking.join(timeout=60)
    assert done == {"previous": current, "loaded": "0" * 32, "live": "0" * 32, "by": done["by"]}
    assert len(statuses) >= 3 and set(statuses) == {200}, statuses  # none failed while Rasa swapped
    assert stack.texts("after-swap", "hi")  # the rolled-back model answers
    [record] = stack.rows("SELECT model_id, details FROM audit_records WHERE decision = 'model.rollback'")
    details = json.loads(record.details)
    assert record.model_id == "0" * 32 and details["why"] == "deflection fell after the release"
    assert details["by"] == done["by"] and details["previous_model"] == current

    # Forward again, so the stack's other tests meet the model they were written for.
    frontdesk(stack, "model", "rollback", "--to", current, "--reason", "drill over", env=env)
    assert live_model(stack, env) == current
