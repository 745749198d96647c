"""``frontdesk``: the operator CLI. Subcommands by domain; every listing takes ``--json``.

Each command acts as the holder of ``FRONTDESK_AGENT_TOKEN``, with that token's roles
(docs/roles.md); a refusal exits with ``REFUSED`` and is an audit record."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from frontdesk.agents.roles import ROLES
from frontdesk.entrypoints.cli_audit import add_audit_commands
from frontdesk.entrypoints.cli_insights import (
    add_insights_commands,
    add_kpi_commands,
    add_model_commands,
    add_release_commands,
)
from frontdesk.entrypoints.cli_privacy import add_privacy_commands
from frontdesk.entrypoints.cli_retention import add_retention_commands
from frontdesk.settings import PROJECT_ROOT, Settings, SettingsError
from frontdesk.status.port import IMPACTS, INCIDENT_STATUSES

REFUSED = 77  # exit status: not signed in (401) or not allowed (403); sysexits' EX_NOPERM
# Who a development CLI without a token acts as: every role, so `make run` needs no token first.
DEVELOPMENT_OPERATOR = "development operator"


def _print_rows(rows: list[dict[str, Any]], as_json: bool, columns: Sequence[str]) -> None:
    if as_json:
        print(json.dumps(rows, indent=2, default=str))
        return
    if not rows:
        print("(none)")
        return
    widths = {c: max(len(c), *(len(str(r.get(c, ""))) for r in rows)) for c in columns}
    print("  ".join(c.upper().ljust(widths[c]) for c in columns))
    for row in rows:
        print("  ".join(str(row.get(c, "")).ljust(widths[c]) for c in columns))


def _alembic_config(settings: Settings) -> Any:
    from alembic.config import Config

    config = Config(str(PROJECT_ROOT / "alembic.ini"))
    config.set_main_option("script_location", str(PROJECT_ROOT / "migrations"))
    config.set_main_option("sqlalchemy.url", settings.database_url.replace("%", "%%"))
    return config


def cmd_db_upgrade(settings: Settings, args: argparse.Namespace) -> int:
    from alembic import command
    from sqlalchemy import func, select

    from frontdesk.core.db import Database, get_engine
    from frontdesk.handoff.escalation import EscalationRow

    get_engine(settings.database_url)  # creates the SQLite directory when needed
    command.upgrade(_alembic_config(settings), "head")
    with Database(settings.database_url).transaction() as session:
        waiting = session.execute(select(func.count()).select_from(EscalationRow)
                                  .where(EscalationRow.status == "open")).scalar_one()
    adopted = 0
    if waiting:  # cases an earlier version filed where no agent looked
        from frontdesk.bootstrap import build_services

        services = build_services(settings)
        with services.db.transaction() as session:
            adopted = services.password_reset.adopt_legacy_escalations(session)
    print("database schema is up to date" + (f"; {adopted} old escalations are now security tickets"
                                              if adopted else ""))
    return 0


def cmd_db_seed(settings: Settings, args: argparse.Namespace) -> int:
    from frontdesk.core.db import Database
    from frontdesk.dev.demo_data import load_demo_billing, load_demo_customers

    with Database(settings.database_url).transaction() as session:
        added = load_demo_customers(session)
        session.flush()
        billed = load_demo_billing(session)
    print(f"demo customers loaded ({added} new, {billed} with new billing history)")
    return 0


def cmd_accounts_list(settings: Settings, args: argparse.Namespace) -> int:
    from sqlalchemy import select

    from frontdesk.accounts.identity import AccountRow
    from frontdesk.core.db import Database

    with Database(settings.database_url).transaction() as session:
        rows = [
            {"id": a.id, "email": a.email, "name": a.full_name, "plan": a.plan, "tier": a.tier,
             "sign_in": a.auth_method, "status": a.status}
            for a in session.execute(select(AccountRow).order_by(AccountRow.id)).scalars()
        ]
    _print_rows(rows, args.json, ["id", "email", "name", "plan", "tier", "sign_in", "status"])
    return 0


def cmd_accounts_token(settings: Settings, args: argparse.Namespace) -> int:
    """Signs a customer token as the support site would (shared-secret mode), for trying the
    authenticated chat by hand: pass it as ``metadata.customer_token`` on the first message."""
    from frontdesk.accounts.customer_token import CustomerTokenVerifier, TokenRejected

    try:
        token = CustomerTokenVerifier(settings.customer_token).mint(args.account_id, args.ttl * 60)
    except TokenRejected:
        print("CUSTOMER_TOKEN_SECRET is not set: only the support site can sign tokens", file=sys.stderr)
        return 2
    print(json.dumps({"customer_token": token}) if args.json else token)
    return 0


def cmd_audit_list(settings: Settings, args: argparse.Namespace) -> int:
    from frontdesk.bootstrap import build_services

    services = build_services(settings)
    with services.db.transaction() as session:
        records = services.audit.list(session, args.conversation, args.decision, args.limit)
    rows = [r.as_dict() for r in records]
    _print_rows(rows, args.json, ["id", "recorded_at", "conversation_id", "decision", "intent",
                                  "confidence", "action", "reason", "model_id"])
    return 0


def cmd_handoffs_list(settings: Settings, args: argparse.Namespace) -> int:
    from sqlalchemy import select

    from frontdesk.core.db import Database
    from frontdesk.handoff.service import HandoffRow, handoff_summary

    with Database(settings.database_url).transaction() as session:
        query = select(HandoffRow).order_by(HandoffRow.id.desc()).limit(args.limit)
        if not args.all:
            query = query.where(HandoffRow.status == "open")
        rows = [handoff_summary(row) for row in session.execute(query).scalars()]
    _print_rows(rows, args.json, ["reference", "created_at", "conversation_id", "reason", "category", "queue",
                                  "priority", "ticket", "first_response_due", "status"])
    return 0


def cmd_outbox_list(settings: Settings, args: argparse.Namespace) -> int:
    from sqlalchemy import select

    from frontdesk.core.db import Database
    from frontdesk.mail.outbox import OutboxEmailRow

    with Database(settings.database_url).transaction() as session:
        query = select(OutboxEmailRow).order_by(OutboxEmailRow.id.desc()).limit(args.limit)
        rows = [
            {"id": r.id, "kind": r.kind, "account_id": r.account_id, "status": r.status,
             "attempts": r.attempts, "created_at": r.created_at, "sent_at": r.sent_at,
             "last_error": r.last_error}
            for r in session.execute(query).scalars()
        ]
    _print_rows(rows, args.json, ["id", "kind", "account_id", "status", "attempts", "created_at", "sent_at"])
    return 0


def cmd_outbox_drain(settings: Settings, args: argparse.Namespace) -> int:
    from frontdesk.bootstrap import build_services

    services = build_services(settings)
    report = services.outbox.dispatch_due(services.db, services.mailer)
    print(json.dumps(report.__dict__) if args.json else report)
    return 0


def cmd_agent_token_create(settings: Settings, args: argparse.Namespace) -> int:
    from frontdesk.agents import roles as access
    from frontdesk.bootstrap import build_services
    from frontdesk.core.audit import DecisionContext

    services = build_services(settings)
    roles, queues = set(args.role or ["agent"]), set(args.queue) if args.queue else None
    operator = args.operator
    if operator is None and roles != {"admin"}:
        print("refused (401): no admin token exists yet, so only the first admin's can be issued without one "
              "(--role admin); then set FRONTDESK_AGENT_TOKEN to it", file=sys.stderr)
        return REFUSED
    if operator is not None and not access.may_grant(operator.roles, roles):
        print(f"refused (403): {operator.name} may grant only roles that allow nothing their own token does not "
              f"({', '.join(sorted(operator.roles))}; docs/roles.md)", file=sys.stderr)
        return REFUSED
    unknown = sorted((queues or set()) - set(services.handoff.policy.queues))
    if unknown:
        print(f"error: no such queue: {', '.join(unknown)} (queues are in handoff.yml)", file=sys.stderr)
        return 2
    try:
        with services.db.transaction() as session:
            token_id, token = services.agents.issue_token(session, args.name, roles, args.days, queues)
            services.audit.record(session, DecisionContext(conversation_id=None), "access.token_issued",
                                  reason=",".join(sorted(roles)), who=operator.name if operator else "first admin",
                                  to=args.name.strip(), token_id=token_id, queues=sorted(queues or []))
    except ValueError as problem:
        print(f"error: {problem}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps({"id": token_id, "token": token}))
    else:
        print(f"token {token_id} for {args.name} (shown once; store it now; it expires in "
              f"{args.days or settings.agent_token_days} days):\n{token}")
    return 0


def cmd_agent_token_list(settings: Settings, args: argparse.Namespace) -> int:
    from frontdesk.bootstrap import build_services

    services = build_services(settings)
    with services.db.transaction() as session:
        rows = services.agents.list_tokens(session)
    _print_rows(rows, args.json, ["id", "agent", "roles", "created_at", "expires_at", "expired", "last_used_at",
                                  "revoked"])
    return 0


def cmd_agent_token_revoke(settings: Settings, args: argparse.Namespace) -> int:
    from frontdesk.bootstrap import build_services
    from frontdesk.core.audit import DecisionContext

    services = build_services(settings)
    with services.db.transaction() as session:
        revoked = services.agents.revoke(session, args.token_id)
        if revoked:
            services.audit.record(session, DecisionContext(conversation_id=None), "access.token_revoked",
                                  who=args.operator.name, token_id=args.token_id)
    print("revoked" if revoked else "no such active token")
    return 0 if revoked else 1


def cmd_agent_api(settings: Settings, args: argparse.Namespace) -> int:
    """The agent commands that work tickets go through the agent API, as the inbox page does."""
    import httpx

    token = settings.agent_token
    if not token:
        print("set FRONTDESK_AGENT_TOKEN (see `frontdesk agent token create`)", file=sys.stderr)
        return 2
    base = (args.url or settings.public_url).rstrip("/") + "/api/agent"
    method, path, body = args.request(args)
    try:
        reply = httpx.request(method, base + path, json=body, timeout=30,
                              headers={"Authorization": f"Bearer {token}"})
    except httpx.HTTPError as problem:
        print(f"cannot reach the agent API at {base}: {type(problem).__name__}", file=sys.stderr)
        return 3
    data = reply.json() if reply.headers.get("content-type", "").startswith("application/json") else reply.text
    if reply.status_code >= 400:
        message = data.get("error") if isinstance(data, dict) else data
        print(f"error {reply.status_code}: {message}", file=sys.stderr)
        return 1
    if args.json or not isinstance(data, list | dict):
        print(json.dumps(data, indent=2, default=str))
    elif isinstance(data, list):
        columns = args.columns or (list(data[0]) if data else [])
        _print_rows(data, False, columns)
    else:
        for key, value in data.items():
            if key == "transcript":
                print("transcript:")
                for turn in value:
                    who = f"agent {turn['agent']}" if turn["speaker"] == "agent" else turn["speaker"]
                    print(f"  {who}: {turn['text']}")
            else:
                print(f"{key}: {value}")
    return 0


def cmd_data_export_training(settings: Settings, args: argparse.Namespace) -> int:
    from frontdesk.agents.feedback import RARE_INTENT_EXAMPLES
    from frontdesk.bootstrap import build_services

    services = build_services(settings)
    redactor = services.handoff.redactor  # the one redactor, with the configured identifiers
    rare_below = RARE_INTENT_EXAMPLES if args.rare_below is None else args.rare_below
    with services.db.transaction() as session:
        export = services.workspace.feedback.training_export(session, redactor.redact, rare_below=rare_below)
    text = (export.as_rasa_nlu() if args.format == "rasa"
            else json.dumps(export.as_dict(), indent=2, ensure_ascii=False) + "\n")
    if args.output:
        Path(args.output).write_text(text, encoding="utf-8")
        rare = [i.intent for i in export.intents if i.rare]
        print(f"{len(export.candidates)} training candidates written to {args.output}"
              + (f"; rare intents (write synthetic examples): {', '.join(rare)}" if rare else ""))
    else:
        print(text, end="")
    return 0


def _articles(settings: Settings) -> list[Any] | None:
    """Every article, checked; None (the first problem printed, with its file and field) if one
    is broken."""
    from frontdesk.knowledge.articles import ArticleError, load_articles

    try:
        return load_articles(settings.kb_dir)
    except ArticleError as problem:
        print(f"knowledge base error: {problem}", file=sys.stderr)
        return None


def cmd_kb_list(settings: Settings, args: argparse.Namespace) -> int:
    if (articles := _articles(settings)) is None:
        return 1
    _print_rows([a.listing() for a in articles][: args.limit], args.json, ("id", "audience", "updated", "title"))
    return 0


def cmd_kb_check(settings: Settings, args: argparse.Namespace) -> int:
    if (articles := _articles(settings)) is None:
        return 1
    print(f"{len(articles)} articles in {settings.kb_dir}: every one valid")
    return 0


_INCIDENT_COLUMNS = ["id", "status", "impact", "component", "title", "started_at", "updated_at", "tag"]


def _print_incident(incident: Any, as_json: bool) -> None:
    if as_json:
        print(json.dumps(incident.as_dict(), indent=2, default=str))
    else:
        print(f"incident {incident.id} ({incident.tag}): {incident.status}, {incident.impact} impact on "
              f"{', '.join(incident.components)}: {incident.title}")


def _incident_change(settings: Settings, args: argparse.Namespace, change: Callable[..., Any]) -> int:
    from frontdesk.bootstrap import build_services
    from frontdesk.status.incidents import IncidentError

    services = build_services(settings)
    try:
        with services.db.transaction() as session:
            incident = change(services.status.incidents, session)
    except IncidentError as problem:
        print(f"error: {problem}", file=sys.stderr)
        return 1
    _print_incident(incident, args.json)
    return 0


def cmd_status_incident_open(settings: Settings, args: argparse.Namespace) -> int:
    return _incident_change(settings, args, lambda incidents, session: incidents.open(
        session, args.title, args.component, args.impact, args.message))


def cmd_status_incident_update(settings: Settings, args: argparse.Namespace) -> int:
    return _incident_change(settings, args, lambda incidents, session: incidents.update(
        session, args.incident_id, args.status, args.message, impact=args.impact))


def cmd_status_incident_resolve(settings: Settings, args: argparse.Namespace) -> int:
    return _incident_change(settings, args, lambda incidents, session: incidents.resolve(
        session, args.incident_id, args.message))


def cmd_status_incident_list(settings: Settings, args: argparse.Namespace) -> int:
    from frontdesk.bootstrap import build_services

    services = build_services(settings)
    with services.db.transaction() as session:
        incidents = services.status.incidents.list(session, open_only=not args.all, limit=args.limit)
    rows = [{**incident.as_dict(), "component": ", ".join(incident.components)} for incident in incidents]
    _print_rows(rows, args.json, _INCIDENT_COLUMNS)
    return 0


def cmd_status_show(settings: Settings, args: argparse.Namespace) -> int:
    from frontdesk.bootstrap import build_services

    status = build_services(settings).status.current()
    if args.json:
        print(json.dumps(status.as_dict(), indent=2, default=str))
        return 0
    as_of = status.as_of.strftime("%Y-%m-%d %H:%M UTC") if status.as_of else "never read"
    print(f"{status.description} (indicator {status.indicator}; source {status.source}; as of {as_of}"
          + ("; STALE: the source could not be read" if status.stale else "") + ")")
    for component in status.affected:
        print(f"  {component.name}: {component.status.replace('_', ' ')}")
    _print_rows([incident.as_dict() for incident in status.incidents], False,
                ["id", "status", "impact", "title", "updated_at", "tag"])
    return 0


def cmd_web(settings: Settings, args: argparse.Namespace) -> int:
    from frontdesk.bootstrap import build_services
    from frontdesk.entrypoints.web import create_app

    app = create_app(build_services(settings))
    app.run(host=settings.bind_host, port=settings.web_port, access_log=False, workers=1)
    return 0


def cmd_serve(settings: Settings, args: argparse.Namespace) -> int:
    from frontdesk.entrypoints.launcher import serve

    return serve(settings, Path(args.model), shell=args.shell)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="frontdesk", description=__doc__)
    domains = parser.add_subparsers(dest="domain", required=True)

    def command(
        group: argparse._SubParsersAction, name: str, handler: Callable[..., int], help_text: str,
        listing: bool = False,
    ) -> argparse.ArgumentParser:
        sub = group.add_parser(name, help=help_text)
        # "agent token create": what the role list (frontdesk/agents/roles.py) calls the command.
        sub.set_defaults(handler=handler, command_path=sub.prog.split(" ", 1)[1])
        if listing:
            sub.add_argument("--json", action="store_true", help="machine-readable output")
            sub.add_argument("--limit", type=int, default=100)
        return sub

    db = domains.add_parser("db", help="database schema and demo data").add_subparsers(dest="cmd", required=True)
    command(db, "upgrade", cmd_db_upgrade, "apply Alembic migrations")
    command(db, "seed", cmd_db_seed, "load the synthetic demo customers")

    accounts = domains.add_parser("accounts", help="customer accounts").add_subparsers(dest="cmd", required=True)
    command(accounts, "list", cmd_accounts_list, "list accounts", listing=True)
    token = command(accounts, "token", cmd_accounts_token, "sign a customer token (development, shared secret)")
    token.add_argument("account_id")
    token.add_argument("--ttl", type=int, default=15, help="minutes the token is valid")
    token.add_argument("--json", action="store_true")

    audit = domains.add_parser("audit", help="the audit trail").add_subparsers(dest="cmd", required=True)
    audit_list = command(audit, "list", cmd_audit_list, "list automated decisions", listing=True)
    audit_list.add_argument("--conversation")
    audit_list.add_argument("--decision")
    add_audit_commands(audit, command)

    handoffs = domains.add_parser("handoffs", help="conversations handed to a person, and their tickets")
    ho = handoffs.add_subparsers(dest="cmd", required=True)
    ho_list = command(ho, "list", cmd_handoffs_list, "list handoffs", listing=True)
    ho_list.add_argument("--all", action="store_true", help="include closed ones")

    outbox = domains.add_parser("outbox", help="the e-mail outbox").add_subparsers(dest="cmd", required=True)
    command(outbox, "list", cmd_outbox_list, "list e-mails", listing=True)
    drain = command(outbox, "drain", cmd_outbox_drain, "send the e-mails that are due, once")
    drain.add_argument("--json", action="store_true")

    agent = domains.add_parser("agent", help="the agent workspace: tokens, and working handed-off tickets")
    ag = agent.add_subparsers(dest="cmd", required=True)
    tokens = ag.add_parser("token", help="agent API tokens").add_subparsers(dest="token_cmd", required=True)
    create = command(tokens, "create", cmd_agent_token_create, "issue a token (shown once)")
    create.add_argument("name")
    create.add_argument("--role", action="append", choices=ROLES,
                        help="repeatable; default agent (docs/roles.md says what each may do)")
    create.add_argument("--queue", action="append",
                        help="repeatable: the queues the holder works (default: every unrestricted queue)")
    create.add_argument("--days", type=int, help="lifetime in days (default FRONTDESK_AGENT_TOKEN_DAYS, 90)")
    create.add_argument("--json", action="store_true")
    command(tokens, "list", cmd_agent_token_list, "list tokens (never the tokens themselves)", listing=True)
    revoke = command(tokens, "revoke", cmd_agent_token_revoke, "revoke a token")
    revoke.add_argument("token_id", type=int)

    def api_command(name: str, help_text: str, request: Callable[[argparse.Namespace], tuple],
                    columns: list[str] | None = None) -> argparse.ArgumentParser:
        sub = command(ag, name, cmd_agent_api, help_text)
        sub.add_argument("--json", action="store_true")
        sub.add_argument("--url", help="the web app's base URL (default FRONTDESK_PUBLIC_URL)")
        sub.set_defaults(request=request, columns=columns)
        return sub

    api_command("queues", "queues with open, unclaimed and overdue counts", lambda a: ("GET", "/queues", None))
    listing = api_command(
        "list", "open handoffs, most urgent first",
        lambda a: ("GET", "/handoffs" + (f"?queue={a.queue}" if a.queue else ""), None),
        ["reference", "queue", "priority", "tier", "sla_minutes_left", "claimed_by", "subject"])
    listing.add_argument("--queue")
    for name, help_text, suffix in (
        ("show", "a handoff with agent assist and live transcript", ""),
        ("claim", "claim a handoff", "/claim"),
        ("close", "close: the bot resumes", "/close"),
    ):
        sub = api_command(name, help_text, lambda a, s=suffix, n=name: (
            "GET" if n == "show" else "POST", f"/handoffs/{a.reference}{s}", None))
        sub.add_argument("reference")
    for name, help_text, suffix in (("reply", "reply to the customer in their channel", "/reply"),
                                    ("note", "add an internal note", "/notes")):
        sub = api_command(name, help_text, lambda a, s=suffix: (
            "POST", f"/handoffs/{a.reference}{s}", {"text": a.text}))
        sub.add_argument("reference")
        sub.add_argument("text")
    feedback = api_command("feedback", "say whether the bot read the intent right", lambda a: (
        "POST", f"/handoffs/{a.reference}/feedback",
        {"intent_correct": a.correct_intent is None, "correct_intent": a.correct_intent}))
    feedback.add_argument("reference")
    feedback.add_argument("--correct-intent", help="the right intent, when the bot's was wrong")

    data = domains.add_parser("data", help="training data from agents' reviews").add_subparsers(
        dest="cmd", required=True)
    training = command(data, "export-training", cmd_data_export_training,
                       "reviewed messages as training candidates: redacted, de-duplicated, least confident first")
    training.add_argument("--format", choices=("json", "rasa"), default="json",
                          help="json (with predictions and confidences) or Rasa NLU YAML for review")
    training.add_argument("--output", help="write to this file instead of standard output")
    training.add_argument("--rare-below", type=int, default=None,
                          help="flag intents with fewer examples than this for synthetic examples (default 5)")

    add_kpi_commands(domains, command)

    add_insights_commands(domains, command)
    add_model_commands(domains, command)
    add_release_commands(domains, command)

    kb = domains.add_parser("kb", help="the knowledge base: help-centre articles in kb/").add_subparsers(
        dest="cmd", required=True)
    command(kb, "list", cmd_kb_list, "the articles: id, audience, last update, title", listing=True)
    command(kb, "check", cmd_kb_check, "check every article's front matter and short answer")

    status = domains.add_parser("status", help="service status and incidents (docs/status.md)").add_subparsers(
        dest="cmd", required=True)
    show = command(status, "show", cmd_status_show, "the service status customers are told, from the configured source")
    show.add_argument("--json", action="store_true")
    incident = status.add_parser("incident", help="incidents operators declare").add_subparsers(
        dest="incident_cmd", required=True)
    opened = command(incident, "open", cmd_status_incident_open, "declare an incident (status investigating)")
    opened.add_argument("--title", required=True)
    opened.add_argument("--component", required=True, help="the affected component, e.g. API or Billing")
    opened.add_argument("--impact", required=True, choices=IMPACTS)
    opened.add_argument("--message", required=True, help="what customers are told")
    opened.add_argument("--json", action="store_true")
    update = command(incident, "update", cmd_status_incident_update, "post an update on an open incident")
    update.add_argument("incident_id", type=int)
    update.add_argument("--status", required=True, choices=INCIDENT_STATUSES)
    update.add_argument("--message", required=True, help="what customers are told")
    update.add_argument("--impact", choices=IMPACTS, help="change the impact")
    update.add_argument("--json", action="store_true")
    resolve = command(incident, "resolve", cmd_status_incident_resolve, "resolve an incident")
    resolve.add_argument("incident_id", type=int)
    resolve.add_argument("--message", required=True, help="what customers are told")
    resolve.add_argument("--json", action="store_true")
    incident_list = command(incident, "list", cmd_status_incident_list, "list incidents, newest first", listing=True)
    incident_list.add_argument("--all", action="store_true", help="include resolved ones")

    privacy = add_privacy_commands(domains, command)
    add_retention_commands(privacy, command)

    web = domains.add_parser("web", help="run the web app (reset page + outbox worker)")
    web.set_defaults(handler=cmd_web, command_path="web")
    serve = domains.add_parser("serve", help="run everything: action server, web app, Rasa server")
    serve.add_argument("--shell", action="store_true", help="talk in the terminal instead of serving HTTP")
    serve.add_argument("--model", default=str(PROJECT_ROOT / "models" / "frontdesk.tar.gz"))
    serve.set_defaults(handler=cmd_serve, command_path="serve")
    return parser


def authorise(settings: Settings, args: argparse.Namespace) -> str | None:
    """Why this command is refused to whoever runs it (None: go ahead), and the operator on args.

    The CLI acts as the holder of FRONTDESK_AGENT_TOKEN with that token's roles (docs/roles.md).
    Development without a token acts as the development operator, with every role. Production
    without any admin token lets `agent token create … --role admin` make the first one."""
    from frontdesk.agents import roles as access

    path = args.command_path
    args.operator = None
    if path not in access.CLI_COMMANDS:  # closed until the role list names who may use it
        return f"refused: `frontdesk {path}` is not in the role list (frontdesk/agents/roles.py)"
    permission = access.CLI_COMMANDS[path]
    if permission is None:
        return None
    from frontdesk.agents.directory import AgentDirectory, Principal, record_denial
    from frontdesk.core.db import Database

    db, directory = Database(settings.database_url), AgentDirectory()
    principal: Principal | None = None
    with db.transaction() as session:
        if settings.agent_token:
            principal = directory.authenticate(session, settings.agent_token)
        elif settings.is_development:
            principal = Principal(0, DEVELOPMENT_OPERATOR, frozenset(access.ROLES), 0)
        elif path == "agent token create" and not directory.has_active_admin(session):
            return None  # the first admin (cmd_agent_token_create allows the admin role only)
        if principal is None:
            record_denial(session, "unauthenticated", permission, "cli", path)
            return ("refused (401): FRONTDESK_AGENT_TOKEN is not a valid token (mistyped, expired or revoked)"
                    if settings.agent_token else
                    f"refused (401): `frontdesk {path}` acts as you: set FRONTDESK_AGENT_TOKEN to your token")
        if not principal.may(permission):
            record_denial(session, principal.name, permission, "cli", path)
            return (f"refused (403): {principal.name}'s token does not allow `frontdesk {path}`: it needs a role "
                    f"that may {access.PERMISSIONS[permission]} (docs/roles.md)")
    args.operator = principal
    return None


def main(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    args = build_parser().parse_args(argv)
    try:
        settings = Settings.from_env()
    except SettingsError as problem:
        print(f"configuration error: {problem}", file=sys.stderr)
        return 2
    from sqlalchemy.exc import OperationalError, ProgrammingError

    try:
        refusal = authorise(settings, args)
        if refusal:
            print(refusal, file=sys.stderr)
            return REFUSED
        return int(args.handler(settings, args))
    except SettingsError as problem:  # a configuration file a command reads (goals.yml, monitoring.yml …)
        print(f"configuration error: {problem}", file=sys.stderr)
        return 2
    except (OperationalError, ProgrammingError) as problem:
        # An operator gets the cause and the fix, not a stack trace.
        print(f"database error: {problem.orig}\nIs the database reachable and migrated? "
              "Run `frontdesk db upgrade`.", file=sys.stderr)
        return 3


if __name__ == "__main__":
    sys.exit(main())
