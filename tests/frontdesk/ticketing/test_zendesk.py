"""The Zendesk adapter against a local stand-in of the Zendesk API (a real HTTP server)."""

from __future__ import annotations

import dataclasses
import logging
import socket
import time
from collections.abc import Iterator

import httpx
import pytest

from frontdesk.ticketing.port import TicketDraft, TicketingRejected, TicketingUnavailable, TicketRef
from frontdesk.ticketing.zendesk import MAX_COMMENT_BYTES, ZendeskTicketing, comment_body, zendesk_tags
from tests.standins.zendesk import ZendeskStandIn

FIELD_IDS = {"summary": 360001, "suggested_reply": 360002, "conversation_id": 360003, "queue": 360004}
GROUP_IDS = {"billing": 77, "accounts": 78}

DRAFT = TicketDraft(
    idempotency_key="conv-8f2a:1",
    conversation_id="conv-8f2a",
    channel="webchat",
    subject="Refund for double charge",
    queue="billing",
    priority="high",
    labels=("Billing", "Refund Request", "VIP customer!", "tier:gold", "billing"),
    transcript="user: I was charged twice for order [ORDER]\nbot: Let me get a person to help.",
    summary="Customer reports a double charge on one order; wants a refund.",
    suggested_reply="Sorry about the double charge - I have started the refund for the second payment.",
    customer_id="cust-1042",
    profile={"plan": "gold"},
)


@pytest.fixture
def standin() -> Iterator[ZendeskStandIn]:
    with ZendeskStandIn() as server:
        yield server


def make_adapter(standin: ZendeskStandIn, *, token: str | None = None, timeout: float = 2.0) -> ZendeskTicketing:
    return ZendeskTicketing(
        base_url=standin.url,
        email=standin.email,
        api_token=standin.api_token if token is None else token,
        timeout=timeout,
        custom_fields=FIELD_IDS,
        group_ids=GROUP_IDS,
    )


@pytest.fixture
def zendesk(standin: ZendeskStandIn) -> Iterator[ZendeskTicketing]:
    with make_adapter(standin) as adapter:
        yield adapter


def test_create_ticket_sends_every_field(zendesk: ZendeskTicketing, standin: ZendeskStandIn) -> None:
    ref = zendesk.create_ticket(DRAFT)

    assert list(standin.tickets) == [int(ref.external_id)]
    assert ref == TicketRef(backend="zendesk", external_id=ref.external_id, reference=f"#{ref.external_id}")
    ticket = standin.tickets[int(ref.external_id)]
    assert ticket["subject"] == DRAFT.subject
    assert ticket["priority"] == "high"
    assert ticket["status"] == "new"
    assert ticket["tags"] == ["billing", "refund_request", "vip_customer", "tier:gold"]
    assert ticket["external_id"] == "conv-8f2a:1"
    assert ticket["group_id"] == 77
    assert {field["id"]: field["value"] for field in ticket["custom_fields"]} == {
        360001: DRAFT.summary,
        360002: DRAFT.suggested_reply,
        360003: "conv-8f2a",
        360004: "billing",
    }
    [comment] = ticket["comments"]
    assert comment["public"] is False
    body = comment["body"]
    assert DRAFT.summary in body
    assert DRAFT.suggested_reply in body
    assert DRAFT.transcript in body
    assert body.index(DRAFT.summary) < body.index(DRAFT.suggested_reply) < body.index(DRAFT.transcript)
    assert "cust-1042" in body
    assert ("POST", "/api/v2/tickets.json") in standin.requests


def test_unmapped_fields_and_queues_are_left_out(standin: ZendeskStandIn) -> None:
    with ZendeskTicketing(standin.url, standin.email, standin.api_token, custom_fields={"queue": 5}) as adapter:
        ref = adapter.create_ticket(dataclasses.replace(DRAFT, queue="unknown-queue", priority="Normal"))

    ticket = standin.tickets[int(ref.external_id)]
    assert ticket["custom_fields"] == [{"id": 5, "value": "unknown-queue"}]
    assert ticket["group_id"] is None
    assert ticket["priority"] == "normal"


def test_creating_the_same_draft_twice_returns_the_same_ticket(
    zendesk: ZendeskTicketing, standin: ZendeskStandIn
) -> None:
    first = zendesk.create_ticket(DRAFT)
    second = zendesk.create_ticket(DRAFT)
    # A fresh process (a retry after a crash) also finds it.
    with make_adapter(standin) as other:
        third = other.create_ticket(DRAFT)

    assert first == second == third
    assert len(standin.tickets) == 1
    assert [method for method, _ in standin.requests].count("POST") == 1

    other_handoff = zendesk.create_ticket(dataclasses.replace(DRAFT, idempotency_key="conv-8f2a:2"))
    assert other_handoff != first
    assert len(standin.tickets) == 2


def test_add_comment_appends(zendesk: ZendeskTicketing, standin: ZendeskStandIn) -> None:
    ref = zendesk.create_ticket(DRAFT)

    zendesk.add_comment(ref, "Customer confirmed the order number.")
    zendesk.add_comment(ref, "We have refunded the second payment.", public=True)

    comments = standin.tickets[int(ref.external_id)]["comments"]
    assert [(c["body"], c["public"]) for c in comments[1:]] == [
        ("Customer confirmed the order number.", False),
        ("We have refunded the second payment.", True),
    ]
    assert ("PUT", f"/api/v2/tickets/{ref.external_id}.json") in standin.requests


def puts(standin: ZendeskStandIn) -> int:
    return sum(1 for method, _ in standin.requests if method == "PUT")


def test_a_keyed_comment_is_added_once(zendesk: ZendeskTicketing, standin: ZendeskStandIn) -> None:
    ref = zendesk.create_ticket(DRAFT)

    zendesk.add_comment(ref, "Customer confirmed the order number.", key="fd-op-1")
    zendesk.add_comment(ref, "Customer confirmed the order number.", key="fd-op-1")  # a retry
    zendesk.add_comment(ref, "Customer confirmed the order number.", key="fd-op-12")  # the same words again

    bodies = [c["body"] for c in standin.tickets[int(ref.external_id)]["comments"][1:]]
    assert bodies == ["Customer confirmed the order number.\n\n[frontdesk ref fd-op-1]",
                      "Customer confirmed the order number.\n\n[frontdesk ref fd-op-12]"]
    assert puts(standin) == 2
    lookups = [target for method, target in standin.requests if method == "GET" and "/comments" in target]
    assert lookups == [f"/api/v2/tickets/{ref.external_id}/comments.json?sort_order=desc&per_page=100"] * 3


def test_a_comment_whose_answer_was_lost_is_not_added_again(
    zendesk: ZendeskTicketing, standin: ZendeskStandIn
) -> None:
    ref = zendesk.create_ticket(DRAFT)
    standin.lose_next_responses(1, method="PUT")  # applied by Zendesk, the answer never arrives

    with pytest.raises(TicketingUnavailable):
        zendesk.add_comment(ref, "We have refunded the second payment.", public=True, key="fd-op-7")
    zendesk.add_comment(ref, "We have refunded the second payment.", public=True, key="fd-op-7")

    [comment] = standin.tickets[int(ref.external_id)]["comments"][1:]
    assert comment["body"].startswith("We have refunded the second payment.") and comment["public"] is True
    assert puts(standin) == 1


def test_a_reference_typed_by_someone_else_does_not_suppress_a_comment(
    zendesk: ZendeskTicketing, standin: ZendeskStandIn
) -> None:
    ref = zendesk.create_ticket(DRAFT)
    zendesk.add_comment(ref, "Customer: please ignore\n\n[frontdesk ref fd-op-9]")  # quoted by a customer

    zendesk.add_comment(ref, "Internal note by Sam: refund approved", key="fd-op-9")

    assert [c["body"] for c in standin.tickets[int(ref.external_id)]["comments"]][-1] == (
        "Internal note by Sam: refund approved\n\n[frontdesk ref fd-op-9]")


def test_list_comments_follows_zendesks_shape(zendesk: ZendeskTicketing, standin: ZendeskStandIn) -> None:
    ref = zendesk.create_ticket(DRAFT)
    zendesk.add_comment(ref, "second")
    zendesk.add_comment(ref, "third", public=True)
    auth = (f"{standin.email}/token", standin.api_token)

    with httpx.Client(base_url=standin.url, auth=auth) as client:
        newest_first = client.get(f"/api/v2/tickets/{ref.external_id}/comments.json",
                                  params={"sort_order": "desc"}).json()
        oldest_first = client.get(f"/api/v2/tickets/{ref.external_id}/comments").json()
        paged = client.get(f"/api/v2/tickets/{ref.external_id}/comments.json",
                           params={"sort_order": "desc", "per_page": "2"}).json()
        missing = client.get("/api/v2/tickets/999999/comments.json")

    assert set(newest_first) == {"comments", "next_page", "previous_page", "count"}
    assert newest_first["count"] == 3 and newest_first["next_page"] is None
    assert [c["body"] for c in newest_first["comments"]][:2] == ["third", "second"]
    assert [c["id"] for c in oldest_first["comments"]] == sorted(c["id"] for c in newest_first["comments"])
    comment = newest_first["comments"][0]
    assert {"id", "type", "author_id", "body", "html_body", "plain_body", "public", "attachments", "via",
            "metadata", "created_at"} <= set(comment)
    assert (comment["type"], comment["public"], comment["plain_body"]) == ("Comment", True, "third")
    assert len(paged["comments"]) == 2 and "page=2" in paged["next_page"] and paged["previous_page"] is None
    assert missing.status_code == 404


def test_ticket_creation_is_idempotent_in_zendesk_too(
    zendesk: ZendeskTicketing, standin: ZendeskStandIn, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The external-id lookup cannot see a create that is still in flight (two workers at once):
    # the Idempotency-Key header covers that case.
    monkeypatch.setattr(zendesk, "_find_by_external_id", lambda key: None)
    standin.lose_next_responses(1, method="POST")

    with pytest.raises(TicketingUnavailable):
        zendesk.create_ticket(DRAFT)
    ref = zendesk.create_ticket(DRAFT)

    assert list(standin.tickets) == [int(ref.external_id)]
    assert [method for method, _ in standin.requests].count("POST") == 2


def test_the_standin_honours_idempotency_keys_as_zendesk_documents(standin: ZendeskStandIn) -> None:
    auth = (f"{standin.email}/token", standin.api_token)
    ticket = {"ticket": {"subject": "Printer offline", "comment": {"body": "It is offline."}}}
    with httpx.Client(base_url=standin.url, auth=auth, headers={"Idempotency-Key": "k-1"}) as client:
        first = client.post("/api/v2/tickets.json", json=ticket)
        replay = client.post("/api/v2/tickets.json", json=ticket)
        changed = client.post("/api/v2/tickets.json", json={"ticket": {**ticket["ticket"], "subject": "Other"}})

    assert (first.status_code, first.headers["x-idempotency-lookup"]) == (201, "miss")
    assert (replay.status_code, replay.headers["x-idempotency-lookup"]) == (201, "hit")
    assert replay.json()["ticket"]["id"] == first.json()["ticket"]["id"]
    assert (changed.status_code, changed.json()["error"]) == (400, "IdempotentRequestError")
    assert len(standin.tickets) == 1


def test_ticket_status(zendesk: ZendeskTicketing, standin: ZendeskStandIn) -> None:
    ref = zendesk.create_ticket(DRAFT)
    assert zendesk.ticket_status(ref.external_id) == "new"

    standin.tickets[int(ref.external_id)]["status"] = "solved"
    assert zendesk.ticket_status(ref.external_id) == "solved"


def test_rate_limit_is_unavailable_with_retry_after(zendesk: ZendeskTicketing, standin: ZendeskStandIn) -> None:
    standin.rate_limit_next(1, retry_after=7)

    with pytest.raises(TicketingUnavailable) as caught:
        zendesk.create_ticket(DRAFT)
    assert caught.value.retry_after == 7.0
    assert "429" in str(caught.value)
    assert standin.tickets == {}

    zendesk.create_ticket(DRAFT)  # the limit has passed
    assert len(standin.tickets) == 1


def test_server_error_is_unavailable(zendesk: ZendeskTicketing, standin: ZendeskStandIn) -> None:
    ref = zendesk.create_ticket(DRAFT)
    standin.fail_next(1, status=503)

    with pytest.raises(TicketingUnavailable) as caught:
        zendesk.add_comment(ref, "hello")
    assert caught.value.retry_after is None
    assert "503" in str(caught.value)

    zendesk.add_comment(ref, "hello")
    assert len(standin.tickets[int(ref.external_id)]["comments"]) == 2


def test_outage_is_unavailable_fast(standin: ZendeskStandIn) -> None:
    with make_adapter(standin, timeout=0.5) as adapter:
        adapter.create_ticket(DRAFT)  # leaves a pooled keep-alive connection behind
        standin.stop()

        started = time.monotonic()
        with pytest.raises(TicketingUnavailable):
            adapter.create_ticket(DRAFT)
        assert time.monotonic() - started < 1.5


def test_unresponsive_server_times_out() -> None:
    # Accepts connections (the kernel's backlog does) but never answers.
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        host, port = silent.getsockname()
        with ZendeskTicketing(f"http://{host}:{port}", "bot@acme.test", "token", timeout=0.2) as adapter:
            started = time.monotonic()
            with pytest.raises(TicketingUnavailable, match="timed out"):
                adapter.create_ticket(DRAFT)
            assert time.monotonic() - started < 1.5


def test_wrong_token_is_rejected(standin: ZendeskStandIn) -> None:
    with make_adapter(standin, token="not-the-token") as adapter, pytest.raises(TicketingRejected) as caught:
        adapter.create_ticket(DRAFT)

    assert "401" in str(caught.value)
    assert "Couldn't authenticate you" in str(caught.value)
    assert standin.tickets == {}


def test_unknown_ticket_is_rejected(zendesk: ZendeskTicketing) -> None:
    with pytest.raises(TicketingRejected, match="404 RecordNotFound: Not found"):
        zendesk.add_comment(TicketRef("zendesk", "999999", "#999999"), "hello")
    with pytest.raises(TicketingRejected):
        zendesk.ticket_status("999999")


def test_rejections_and_logs_never_carry_ticket_contents(
    zendesk: ZendeskTicketing, standin: ZendeskStandIn, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    ref = zendesk.create_ticket(DRAFT)
    standin.tickets[int(ref.external_id)]["status"] = "closed"

    secret_note = "The customer's card ends in 4242"
    with pytest.raises(TicketingRejected) as caught:
        zendesk.add_comment(ref, secret_note)

    assert "422" in str(caught.value)
    assert "RecordInvalid" in str(caught.value)
    assert secret_note not in str(caught.value)
    for text in (secret_note, DRAFT.subject, DRAFT.summary, DRAFT.suggested_reply, DRAFT.transcript):
        assert text not in caplog.text


def test_invalid_input_is_rejected_without_a_request(zendesk: ZendeskTicketing, standin: ZendeskStandIn) -> None:
    with pytest.raises(TicketingRejected, match="priority"):
        zendesk.create_ticket(dataclasses.replace(DRAFT, priority="critical"))
    with pytest.raises(TicketingRejected):
        zendesk.add_comment(TicketRef("jira", "4711", "FD-4711"), "hello")
    with pytest.raises(TicketingRejected):
        zendesk.add_comment(TicketRef("zendesk", "1/../2", "#1"), "hello")
    assert standin.requests == []


def test_works_again_after_an_outage(zendesk: ZendeskTicketing, standin: ZendeskStandIn) -> None:
    ref = zendesk.create_ticket(DRAFT)
    url = standin.url

    standin.stop()
    with pytest.raises(TicketingUnavailable):
        zendesk.create_ticket(DRAFT)
    with pytest.raises(TicketingUnavailable):
        zendesk.add_comment(ref, "during the outage")
    standin.start()

    assert standin.url == url
    assert zendesk.create_ticket(DRAFT) == ref  # still found: no duplicate after the outage
    zendesk.add_comment(ref, "after the outage")
    assert len(standin.tickets) == 1
    assert [c["body"] for c in standin.tickets[int(ref.external_id)]["comments"]][1:] == ["after the outage"]


@pytest.mark.parametrize(
    ("labels", "tags"),
    [
        (("Password Reset",), ["password_reset"]),
        (("  Rückerstattung  ",), ["ruckerstattung"]),
        (("a/b#c", "x.y-z:w"), ["abc", "x.y-z:w"]),
        (("Dup", "dup", "!!!"), ["dup"]),
        (("two\twords\nhere",), ["two_words_here"]),
    ],
)
def test_labels_become_zendesk_tags(labels: tuple[str, ...], tags: list[str]) -> None:
    assert zendesk_tags(labels) == tags


def test_an_overlong_transcript_keeps_its_latest_part() -> None:
    transcript = "\n".join(f"user: message number {i}" for i in range(10_000))
    body = comment_body(dataclasses.replace(DRAFT, transcript=transcript))

    assert len(body.encode("utf-8")) <= MAX_COMMENT_BYTES
    assert "earlier part of the transcript omitted" in body
    assert "message number 9999" in body
    assert "message number 0\n" not in body
    assert DRAFT.summary in body
