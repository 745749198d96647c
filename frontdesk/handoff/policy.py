"""The handoff policy: mandatory human categories, routing, priority and first-response times.

It is data (``handoff.yml``) so that a support lead can change queues and SLAs without code.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import yaml

from frontdesk.billing.triage import BillingTriage

PRIORITIES = ("low", "normal", "high", "urgent")
_DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


@dataclass(frozen=True)
class Queue:
    name: str
    first_response_minutes: int
    around_the_clock: bool = False


@dataclass(frozen=True)
class BusinessHours:
    zone: ZoneInfo
    days: frozenset[int]
    opens: time
    closes: time

    def add_business_minutes(self, start_utc: datetime, minutes: int) -> datetime:
        """The UTC time when ``minutes`` of opening hours have passed after ``start_utc``."""
        local = start_utc.replace(tzinfo=ZoneInfo("UTC")).astimezone(self.zone)
        remaining = timedelta(minutes=minutes)
        for _ in range(366):  # bounded: a year of days is far beyond any SLA
            day_open = local.replace(hour=self.opens.hour, minute=self.opens.minute, second=0, microsecond=0)
            day_close = local.replace(hour=self.closes.hour, minute=self.closes.minute, second=0, microsecond=0)
            if local.weekday() in self.days and local < day_close:
                begin = max(local, day_open)
                if begin + remaining <= day_close:
                    return (begin + remaining).astimezone(ZoneInfo("UTC")).replace(tzinfo=None)
                remaining -= day_close - begin
            local = (local + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
        raise ValueError("business hours never open")


@dataclass(frozen=True)
class HandoffPolicy:
    mandatory_human: dict[str, str]
    queues: dict[str, Queue]
    routing: dict[str, str]
    default_priority: str
    priority_by_category: dict[str, str]
    raise_for_tiers: frozenset[str]
    raise_for_plans: frozenset[str]
    hours: BusinessHours
    # plan -> {queue: dedicated queue}: the customer's context can re-route a ticket.
    routing_by_plan: dict[str, dict[str, str]] = field(default_factory=dict)
    triage: BillingTriage | None = None

    @classmethod
    def load(cls, path: Path) -> HandoffPolicy:
        raw: dict[str, Any] = yaml.safe_load(path.read_text())
        queues = {
            name: Queue(name, int(q["first_response_minutes"]), bool(q.get("around_the_clock", False)))
            for name, q in raw["queues"].items()
        }
        routing = {str(k): str(v) for k, v in raw["routing"].items()}
        unknown = set(routing.values()) - set(queues)
        if unknown or "default" not in routing:
            raise ValueError(f"{path}: routing needs a default and known queues (unknown: {sorted(unknown)})")
        by_plan = {str(plan): {str(k): str(v) for k, v in table.items()}
                   for plan, table in (raw.get("routing_by_plan") or {}).items()}
        unknown = {q for table in by_plan.values() for q in (*table, *table.values())} - set(queues)
        if unknown:
            raise ValueError(f"{path}: routing_by_plan names unknown queues: {sorted(unknown)}")
        triage = BillingTriage.from_config(raw["billing_triage"]) if raw.get("billing_triage") else None
        if triage is not None:
            unknown = ({*triage.queues.values(), triage.triage_queue}) - set(queues)
            if unknown:
                raise ValueError(f"{path}: billing_triage names unknown queues: {sorted(unknown)}")
        prio = raw.get("priority", {})
        hours = raw["business_hours"]
        return cls(
            mandatory_human={str(k): str(v) for k, v in raw.get("mandatory_human", {}).items()},
            queues=queues,
            routing=routing,
            default_priority=prio.get("default", "normal"),
            priority_by_category=dict(prio.get("by_category", {})),
            raise_for_tiers=frozenset(prio.get("raise_for_tiers", [])),
            raise_for_plans=frozenset(prio.get("raise_for_plans", [])),
            hours=BusinessHours(
                zone=ZoneInfo(hours["timezone"]),
                days=frozenset(_DAYS.index(d) for d in hours["days"]),
                opens=time.fromisoformat(hours["open"]),
                closes=time.fromisoformat(hours["close"]),
            ),
            routing_by_plan=by_plan,
            triage=triage,
        )

    def is_mandatory(self, intent: str | None) -> bool:
        return intent in self.mandatory_human

    def category(self, intent: str | None) -> str | None:
        return self.mandatory_human.get(intent or "")

    def queue_for(self, intent: str | None, plan: str | None = None) -> Queue:
        name = self.routing.get(intent or "", self.routing["default"])
        return self.queues[self.routing_by_plan.get(plan or "", {}).get(name, name)]

    def priority(self, category: str | None, tier: str | None, plan: str | None) -> str:
        base = self.priority_by_category.get(category or "", self.default_priority)
        level = PRIORITIES.index(base)
        if tier in self.raise_for_tiers or plan in self.raise_for_plans:
            level = min(level + 1, len(PRIORITIES) - 1)
        return PRIORITIES[level]

    def first_response_due(self, queue: Queue, now_utc: datetime) -> datetime:
        if queue.around_the_clock:
            return now_utc + timedelta(minutes=queue.first_response_minutes)
        return self.hours.add_business_minutes(now_utc, queue.first_response_minutes)

    def describe_due(self, due_utc: datetime, now_utc: datetime) -> str:
        """Customer-facing wording of a due time, in the support team's time zone."""
        local = due_utc.replace(tzinfo=ZoneInfo("UTC")).astimezone(self.hours.zone)
        now_local = now_utc.replace(tzinfo=ZoneInfo("UTC")).astimezone(self.hours.zone)
        when = local.strftime("%H:%M %Z")
        if local.date() == now_local.date():
            return f"today by {when}"
        if local.date() == now_local.date() + timedelta(days=1):
            return f"tomorrow by {when}"
        return f"by {local.strftime('%A')} {when}"
