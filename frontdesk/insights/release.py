"""The ABTM release gate (``frontdesk release check``): the seed's checklist walked against the
project as it is, each item met or not with its evidence. Any item not met fails the gate, so a
deploy pipeline can stop on it.

- **ALIGN**: goals and their target KPIs declared (``goals.yml``).
- **BUILD**: the model to ship was trained from the current data and config (its registry entry's
  fingerprints equal today's), and every integration is configured and answers (database, SMTP,
  ticketing, event broker, status source).
- **TEST**: every escalation path (each mandatory-human intent and a request for a person) is in a
  test story that hands off, the test stories passed on this model, ``make eval``'s scores of this
  model are above their thresholds (``monitoring.yml``'s ``release``), the redaction meets its
  targets, and the audit trail verifies.
- **MEASURE**: monitoring and rollback criteria configured, telemetry flowing to a broker, a
  retraining cadence, metrics for Prometheus, retention scheduled.
"""

from __future__ import annotations

import smtplib
import socket
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import httpx
import yaml
from sqlalchemy import text

from frontdesk.core.audit import verify_trail
from frontdesk.core.db import Database
from frontdesk.handoff.policy import HandoffPolicy
from frontdesk.insights.goals import Goals, Monitoring, compare, load_goals, load_monitoring
from frontdesk.insights.models import (
    CONFIG_INPUTS,
    DATA_INPUTS,
    ModelRegistry,
    RegisteredModel,
    RegistryError,
    fingerprint,
    model_metadata,
)
from frontdesk.insights.telemetry import HANDOFF_ACTIONS
from frontdesk.settings import OFF, RABBITMQ, Settings, SettingsError, parse_broker_url

ALIGN, BUILD, TEST, MEASURE = "ALIGN", "BUILD", "TEST", "MEASURE"
ASK_FOR_A_PERSON = "request_human"
# The redaction part whose figures are of record (the blind one), else the newest held-out part.
REDACTION_RECORD_PARTS = ("heldout-3", "heldout-2", "heldout")
TIMEOUT_SECONDS = 5.0


@dataclass(frozen=True)
class Item:
    stage: str
    name: str
    met: bool
    evidence: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _item(stage: str, name: str, check: Callable[[], tuple[bool, str]]) -> Item:
    """One checklist item; a check that cannot even run is an item not met, saying why."""
    try:
        met, evidence = check()
    except (SettingsError, RegistryError, OSError, ValueError, httpx.HTTPError, smtplib.SMTPException) as problem:
        met, evidence = False, f"{type(problem).__name__}: {problem}"
    return Item(stage, name, met, evidence)


def escalation_coverage(stories_dir: Path, intents: Iterable[str]) -> dict[str, bool]:
    """For each intent: whether a test story has it and then hands off."""
    covered: set[str] = set()
    for path in sorted(stories_dir.glob("*.yml")):
        for story in (yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get("stories", []) or []:
            steps = story.get("steps", []) or []
            said = {step.get("intent") for step in steps if isinstance(step, dict) and step.get("intent")}
            if any(isinstance(step, dict) and step.get("action") in HANDOFF_ACTIONS for step in steps):
                covered |= said
    return {intent: intent in covered for intent in intents}


def score_at(scores: dict[str, Any], path: str) -> float | None:
    value: Any = scores
    for key in path.split("."):
        if not isinstance(value, dict) or key not in value:
            return None
        value = value[key]
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


class ReleaseCheck:
    def __init__(self, settings: Settings, project_root: Path) -> None:
        self.settings, self.root = settings, project_root
        self.registry = ModelRegistry(settings.insights.model_dir)
        self.model_file = settings.insights.model_dir / "frontdesk.tar.gz"
        self._model: RegisteredModel | None = None

    # -- ALIGN -------------------------------------------------------------------------------------

    def goals(self) -> tuple[bool, str]:
        goals: Goals = load_goals(self.settings.insights.goals_file)
        targets = len(goals.targets) + sum(len(u.targets) for u in goals.use_cases)
        unowned = [u.name for u in goals.use_cases if not u.targets]
        return (bool(goals.use_cases) and bool(goals.targets) and not unowned,
                f"goals.yml version {goals.version}: {len(goals.use_cases)} use cases with owners, {targets} targets"
                + (f"; without targets: {', '.join(unowned)}" if unowned else ""))

    # -- BUILD -------------------------------------------------------------------------------------

    def model(self) -> RegisteredModel:
        if self._model is None:
            self._model = self.registry.get(str(model_metadata(self.model_file).get("model_id") or ""))
        return self._model

    def trained_from_current_inputs(self) -> tuple[bool, str]:
        model = self.model()
        data, config = fingerprint(self.root, DATA_INPUTS), fingerprint(self.root, CONFIG_INPUTS)
        changed = [name for name, now, then in (("data", data, model.data_fingerprint),
                                                ("config", config, model.config_fingerprint)) if now != then]
        if changed:
            return False, f"model {model.model_id}: {' and '.join(changed)} changed since it was trained: retrain"
        return True, f"model {model.model_id} (trained {model.trained_at[:19]}): data and config fingerprints match"

    def database(self) -> tuple[bool, str]:
        with Database(self.settings.database_url).transaction() as session:
            session.execute(text("SELECT 1"))
        return True, "the app database answers"

    def smtp(self) -> tuple[bool, str]:
        smtp = self.settings.smtp
        with smtplib.SMTP(smtp.host, smtp.port, timeout=TIMEOUT_SECONDS) as server:
            code, _ = server.noop()
        return code == 250, f"SMTP {smtp.host}:{smtp.port} answers NOOP with {code}"

    def ticketing(self) -> tuple[bool, str]:
        if self.settings.ticketing_backend != "zendesk":
            return True, "embedded tickets: in the app database"
        zendesk = self.settings.zendesk
        answer = httpx.get(f"{zendesk.base_url}/api/v2/users/me.json", timeout=TIMEOUT_SECONDS,
                           auth=(f"{zendesk.email}/token", zendesk.api_token))
        return answer.status_code == 200, f"Zendesk {zendesk.base_url} answers /users/me with {answer.status_code}"

    def event_broker(self) -> tuple[bool, str]:
        address = parse_broker_url(self.settings.insights.event_broker_url)
        if address.kind == OFF:
            return False, "FRONTDESK_EVENT_BROKER_URL is off: no telemetry, no KPIs"
        if address.kind == RABBITMQ:
            with socket.create_connection((address.host or "localhost", address.port or 5672), TIMEOUT_SECONDS):
                pass
            return True, f"RabbitMQ {address.host}:{address.port} accepts connections (queue {address.queue})"
        from sqlalchemy import create_engine

        engine = create_engine(address.sqlalchemy_url(self.settings.insights.event_broker_password), future=True)
        try:
            with engine.connect() as connection:
                connection.execute(text("SELECT 1"))
        finally:
            engine.dispose()
        return True, f"the SQL event broker's database ({address.dialect}) answers"

    def status_source(self) -> tuple[bool, str]:
        status = self.settings.status
        if status.source != "statuspage":
            return True, "incidents from the app database"
        answer = httpx.get(status.statuspage_url, timeout=status.statuspage_timeout_seconds)
        return answer.status_code == 200, f"the Statuspage feed answers with {answer.status_code}"

    # -- TEST --------------------------------------------------------------------------------------

    def escalation_paths(self) -> tuple[bool, str]:
        policy = HandoffPolicy.load(self.settings.handoff_config)
        coverage = escalation_coverage(self.root / "tests" / "stories", [*policy.mandatory_human, ASK_FOR_A_PERSON])
        missing = sorted(intent for intent, covered in coverage.items() if not covered)
        if missing:
            return False, f"no test story hands off after {', '.join(missing)}"
        return True, f"a test story hands off after each of {len(coverage)} intents: {', '.join(sorted(coverage))}"

    def _scores(self) -> dict[str, Any]:
        model = self.model()
        if not model.eval:
            raise RegistryError(f"model {model.model_id} has no `make eval` scores attached: run make eval")
        return model.eval

    def stories_pass(self) -> tuple[bool, str]:
        dialogue = self._scores().get("dialogue") or {}
        failed, stories = dialogue.get("failed"), dialogue.get("stories")
        if failed is None:
            return False, "make eval's scores hold no test-story run"
        return not failed and bool(stories), (f"{stories} test stories, failed: {', '.join(failed)}" if failed
                                              else f"{stories} test stories passed on this model")

    def eval_thresholds(self, monitoring: Monitoring) -> tuple[bool, str]:
        scores = self._scores()
        results = [(target, score_at(scores, target.kpi)) for target in monitoring.release]
        if not results:
            return False, "monitoring.yml sets no release thresholds"
        statuses = [(target, value, compare(target, value)) for target, value in results]
        evidence = "; ".join(f"{t.kpi} {'no data' if v is None else f'{v:.3f}'} ({t.comparator} {t.value:g}): {s}"
                             for t, v, s in statuses)
        return all(status == "met" for _, _, status in statuses), evidence

    def redaction(self) -> tuple[bool, str]:
        parts = self._scores().get("redaction") or {}
        part = next((name for name in REDACTION_RECORD_PARTS if name in parts), None)
        if part is None:
            return False, "make eval's scores hold no redaction measurement"
        missed = [target for target, met in parts[part]["targets"].items() if not met]
        return not missed, (f"redaction on {part}: targets missed: {', '.join(missed)}" if missed
                            else f"redaction on {part}: every target met")

    def audit_trail(self) -> tuple[bool, str]:
        verification = verify_trail(Database(self.settings.database_url), self.settings)
        return verification.ok, verification.describe().splitlines()[0]

    # -- MEASURE -----------------------------------------------------------------------------------

    def monitoring(self, monitoring: Monitoring) -> tuple[bool, str]:
        rollback = monitoring.rollback
        return True, (f"monitoring.yml version {monitoring.version}: drift thresholds, rollback on deflection "
                      f"-{rollback.deflection_drop_points:g} points, escalations +{rollback.escalation_rise_points:g}, "
                      f"CSAT < {rollback.csat_min:g}, p95 > {rollback.p95_latency_ms_max:g} ms")

    def retraining(self, monitoring: Monitoring) -> tuple[bool, str]:
        retrain = monitoring.retrain
        return True, f"every {retrain.every}: {'; '.join(retrain.commands)}"

    def metrics(self) -> tuple[bool, str]:
        configured = bool(self.settings.insights.metrics_token)
        return configured, ("GET /metrics answers Prometheus with FRONTDESK_METRICS_TOKEN" if configured
                            else "FRONTDESK_METRICS_TOKEN is not set: /metrics is off, nothing watches live figures")

    def retention(self) -> tuple[bool, str]:
        hours = self.settings.privacy.retention_every_hours
        return hours > 0, (f"`frontdesk serve` runs retention every {hours} h" if hours > 0 else
                           "FRONTDESK_RETENTION_EVERY_HOURS=0: schedule `frontdesk privacy retention run` and set it, "
                           "or this stays unmet")

    def run(self) -> list[Item]:
        items = [_item(ALIGN, "goals and target KPIs declared", self.goals)]
        items += [_item(BUILD, "model trained from the current data and config", self.trained_from_current_inputs)]
        items += [_item(BUILD, f"integration reachable: {name}", check) for name, check in (
            ("database", self.database), ("e-mail (SMTP)", self.smtp), ("ticketing", self.ticketing),
            ("event broker", self.event_broker), ("service status", self.status_source))]
        try:
            monitoring = load_monitoring(self.settings.insights.monitoring_file)
        except SettingsError as problem:
            monitoring, broken = None, str(problem)
        items += [_item(TEST, "escalation paths covered by test stories", self.escalation_paths),
                  _item(TEST, "test stories pass on this model", self.stories_pass)]
        if monitoring is not None:
            items.append(_item(TEST, "make eval above its thresholds", lambda: self.eval_thresholds(monitoring)))
        items += [_item(TEST, "redaction meets its targets", self.redaction),
                  _item(TEST, "privacy: the audit trail verifies", self.audit_trail)]
        if monitoring is None:
            items.append(Item(MEASURE, "monitoring and rollback criteria configured", False, broken))
        else:
            items += [
                _item(MEASURE, "monitoring and rollback criteria configured", lambda: self.monitoring(monitoring)),
                _item(MEASURE, "retraining cadence set", lambda: self.retraining(monitoring))]
        items += [_item(MEASURE, "telemetry to an event broker", self.event_broker),
                  _item(MEASURE, "live metrics for Prometheus", self.metrics),
                  _item(MEASURE, "privacy: retention scheduled", self.retention)]
        return items
