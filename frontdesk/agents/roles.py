"""Who may do what: roles, the permissions each grants, and the permission every agent-API endpoint
and every operator command needs (docs/roles.md is the written list; a test holds the two equal).

People act with a token (``frontdesk agent token create``): in the inbox and on the agent API,
and on the operator CLI, which acts as the token's holder (``FRONTDESK_AGENT_TOKEN``), not as
whoever can reach the database. An endpoint or command missing from the tables below is refused
to everyone: a new one is closed until someone writes down who may use it.

Queues: an agent works the unrestricted queues, or only the queues their token names; the
restricted ones (security, legal, privacy) only when the token names them. A supervisor sees
every queue.
"""

from __future__ import annotations

from collections.abc import Iterable

ROLES = ("agent", "supervisor", "analyst", "ml-engineer", "admin")

# What each permission allows, in the words docs/roles.md uses.
PERMISSIONS = {
    "self": "see their own name and roles",
    "tickets.work": "list, read, claim, reply to, note, close and review handed-off tickets in their queues",
    "tickets.all-queues": "work every queue, the restricted ones included",
    "tickets.oversee": "list every handoff with its conversation id",
    "kpi.read": "read KPI reports: aggregates only, never a transcript",
    "training.export": "export training candidates (redacted customer messages)",
    "audit.read": "read the audit trail and its explanations",
    "audit.verify": "verify the audit trail and write its checkpoints",
    "tokens.manage": "issue, list and revoke tokens (granting nothing they may not do themselves, unless admin)",
    "customers.read": "list customer accounts",
    "customers.sign-in": "sign a customer token (acting as a customer on the site)",
    "mail.operate": "list and send the e-mail outbox",
    "status.manage": "declare, update and resolve incidents",
    "privacy.export": "export everything held about a customer",
    "privacy.erase": "erase a customer",
    "privacy.retention": "run the retention job",
    "models.rollback": "make the running assistant load an earlier model (recorded with who and why)",
    "release.check": "run the release gate (it verifies the audit trail and reads the model's scores)",
}

GRANTS: dict[str, frozenset[str]] = {
    "agent": frozenset({"self", "tickets.work"}),
    "supervisor": frozenset({"self", "tickets.work", "tickets.all-queues", "tickets.oversee", "kpi.read",
                             "audit.read", "tokens.manage", "status.manage"}),
    "analyst": frozenset({"self", "kpi.read"}),
    "ml-engineer": frozenset({"self", "kpi.read", "training.export", "models.rollback", "release.check"}),
    "admin": frozenset({"self", "kpi.read", "tickets.oversee", "audit.read", "audit.verify", "tokens.manage",
                        "customers.read", "customers.sign-in", "mail.operate", "status.manage", "privacy.export",
                        "privacy.erase", "privacy.retention", "models.rollback", "release.check"}),
}

RESTRICTED_QUEUES = frozenset({"security", "legal", "privacy"})

# The agent API (frontdesk/entrypoints/agent_api.py), method and route as Sanic declares them.
API_ENDPOINTS: dict[tuple[str, str], str] = {
    ("GET", "/api/agent/me"): "self",
    ("GET", "/api/agent/queues"): "tickets.work",
    ("GET", "/api/agent/handoffs"): "tickets.work",
    ("GET", "/api/agent/handoffs/<reference:str>"): "tickets.work",
    ("POST", "/api/agent/handoffs/<reference:str>/claim"): "tickets.work",
    ("POST", "/api/agent/handoffs/<reference:str>/reply"): "tickets.work",
    ("POST", "/api/agent/handoffs/<reference:str>/notes"): "tickets.work",
    ("POST", "/api/agent/handoffs/<reference:str>/close"): "tickets.work",
    ("POST", "/api/agent/handoffs/<reference:str>/feedback"): "tickets.work",
    ("GET", "/api/agent/kpi"): "kpi.read",
    ("GET", "/api/agent/training-candidates"): "training.export",
}
# Public: the API's own description.
OPEN_ENDPOINTS = frozenset({("GET", "/api/agent/openapi.json")})

# The operator CLI. None: open to whoever runs it, because it reads no personal data (it installs,
# loads the synthetic demo customers, serves, or reads the public help centre and status), or
# because the command is itself an agent-API call, checked by the API with the caller's token.
CLI_COMMANDS: dict[str, str | None] = {
    "db upgrade": None,
    "db seed": None,
    "accounts list": "customers.read",
    "accounts token": "customers.sign-in",
    "audit list": "audit.read",
    "audit explain": "audit.read",
    "audit verify": "audit.verify",
    "audit checkpoint": "audit.verify",
    "handoffs list": "tickets.oversee",
    "outbox list": "mail.operate",
    "outbox drain": "mail.operate",
    "agent token create": "tokens.manage",
    "agent token list": "tokens.manage",
    "agent token revoke": "tokens.manage",
    "agent queues": None,
    "agent list": None,
    "agent show": None,
    "agent claim": None,
    "agent reply": None,
    "agent note": None,
    "agent close": None,
    "agent feedback": None,
    "data export-training": "training.export",
    "kpi report": "kpi.read",
    "kpi check": "kpi.read",
    "insights consume": None,
    "model register": None,
    "model scores": None,
    "model list": None,
    "model rollback": "models.rollback",
    "release check": "release.check",
    "kb list": None,
    "kb check": None,
    "status show": None,
    "status incident open": "status.manage",
    "status incident update": "status.manage",
    "status incident resolve": "status.manage",
    "status incident list": None,
    "privacy export": "privacy.export",
    "privacy erase": "privacy.erase",
    "privacy retention run": "privacy.retention",
    "web": None,
    "serve": None,
}


def permissions_of(roles: Iterable[str]) -> frozenset[str]:
    return frozenset().union(*(GRANTS.get(role, frozenset()) for role in roles))


def may(roles: Iterable[str], permission: str | None) -> bool:
    """Whether holders of these roles may do what needs ``permission`` (None: open to all)."""
    return permission is None or permission in permissions_of(roles)


def may_grant(holder_roles: Iterable[str], wanted: Iterable[str]) -> bool:
    """An admin grants any role; anyone else with tokens.manage only roles that allow nothing
    their own token does not (a supervisor makes agents and analysts, never an admin)."""
    held = set(holder_roles)
    return "admin" in held or permissions_of(wanted) <= permissions_of(held)


def queue_visible(roles: Iterable[str], granted_queues: frozenset[str] | None, queue: str) -> bool:
    """Whether a token with these roles (and queue grant: None = the unrestricted queues) sees a queue."""
    if "tickets.all-queues" in permissions_of(roles):
        return True
    if granted_queues is not None:
        return queue in granted_queues
    return queue not in RESTRICTED_QUEUES
