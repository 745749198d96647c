"""Signed customer tokens: the support site vouches for the logged-in customer who is chatting.

The site signs a short-lived JWT (``sub`` = the account id; ``exp``, ``iss``, ``aud`` and ``jti``
required) and the widget passes it in the chat's metadata. The token never reaches the tracker
store: the chat channel checks it as the message arrives and replaces it with an *attestation*
-- the customer id, the token's ``jti`` and expiry, bound to the conversation by a MAC only our
servers can make. A ``jti`` belongs to the first conversation that presents it: the same token
replayed in another conversation is refused.

At the start of a session the action server reads the attestation, checks the MAC and that the
account exists, and binds the conversation. Anything else leaves the conversation anonymous; the
reason goes to the audit trail, never to the customer, so a token cannot probe which accounts
exist.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import jwt
from sqlalchemy import Column, DateTime, String, delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from frontdesk.accounts.identity import IdentityProvider
from frontdesk.core.audit import AuditLog, DecisionContext
from frontdesk.core.db import Database
from frontdesk.core.schema import Base, utcnow
from frontdesk.settings import CustomerTokenSettings

MAX_TOKEN_CHARS = 4096
MAX_JTI_CHARS = 128
# The metadata key a client sends its token under (the widget's customData, a REST message's
# metadata), and the one the channel puts the attestation under. Clients cannot set the latter:
# the channel drops every key of its own namespace from what a client sends.
TOKEN_KEY = "customer_token"  # noqa: S105 - a metadata key, not a secret
ATTESTATION_KEY = "frontdesk_customer"
RESERVED_PREFIX = "frontdesk_"
# Keys Rasa stamps on events itself (and keeps when a client already set them): the audit trail
# reads the model id from them.
RASA_KEYS = frozenset({"model_id", "assistant_id"})
SIGNED_OUT = "signed_out"
_ABSENT = object()


class TokenRejected(Exception):
    """The token does not prove who the customer is; ``reason`` is a short code for the audit."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class VerifiedCustomer:
    customer_id: str
    expires_at: datetime
    jti: str


class CustomerTokenVerifier:
    def __init__(self, settings: CustomerTokenSettings, clock: Callable[[], float] = time.time) -> None:
        self.settings = settings
        self.clock = clock
        # Pinning the algorithm family to the configured key stops the "alg: none" and
        # HS256-signed-with-the-public-key tricks.
        if settings.public_key:
            self._key, self._algorithms = settings.public_key, ["RS256", "ES256"]
        else:
            self._key, self._algorithms = settings.secret, ["HS256"]

    def verify(self, token: object) -> VerifiedCustomer:
        if not self.settings.configured:
            raise TokenRejected("not_configured")
        if not isinstance(token, str) or not token or len(token) > MAX_TOKEN_CHARS:
            raise TokenRejected("malformed")
        options = {"require": ["exp", "sub", "iss", "aud", "jti"], "verify_iat": False}
        try:
            claims = jwt.decode(
                token, self._key, algorithms=self._algorithms, options=options,
                issuer=self.settings.issuer or None, audience=self.settings.audience or None,
                leeway=self.settings.leeway_seconds,
            )
        except jwt.ExpiredSignatureError as exc:
            raise TokenRejected("expired") from exc
        except jwt.InvalidSignatureError as exc:
            raise TokenRejected("bad_signature") from exc
        except (jwt.InvalidIssuerError, jwt.InvalidAudienceError) as exc:
            raise TokenRejected("wrong_issuer_or_audience") from exc
        except jwt.PyJWTError as exc:
            raise TokenRejected("malformed") from exc
        if not (self.settings.issuer and self.settings.audience):
            raise TokenRejected("not_configured")  # Settings requires both; never accept a token without
        # PyJWT checks exp with our clock only indirectly (time.time); check again with ours.
        expires = float(claims["exp"])
        now = self.clock()
        if expires + self.settings.leeway_seconds < now:
            raise TokenRejected("expired")
        if expires - now > self.settings.max_lifetime_minutes * 60:
            raise TokenRejected("lifetime_too_long")
        subject, jti = claims["sub"], claims["jti"]
        if not isinstance(subject, str) or not subject or len(subject) > 16:
            raise TokenRejected("malformed")
        if not isinstance(jti, str) or not jti or len(jti) > MAX_JTI_CHARS:
            raise TokenRejected("malformed")
        return VerifiedCustomer(subject, datetime.fromtimestamp(expires, tz=timezone.utc), jti)

    def mint(self, customer_id: str, ttl_seconds: int = 900) -> str:
        """A token as the support site would sign it (shared-secret mode): for development,
        demos and tests. With a public key configured only the site can sign."""
        if not self.settings.secret:
            raise TokenRejected("not_configured")
        now = int(self.clock())
        claims: dict[str, object] = {"sub": customer_id, "iat": now, "exp": now + ttl_seconds,
                                     "iss": self.settings.issuer, "aud": self.settings.audience,
                                     "jti": secrets.token_urlsafe(16)}
        return jwt.encode(claims, self.settings.secret, algorithm="HS256")


class TokenUseRow(Base):
    """Which conversation presented a token first. Kept until the token expires."""

    __tablename__ = "customer_token_uses"

    jti_hash = Column(String(64), primary_key=True)
    conversation_id = Column(String(128), nullable=False)
    expires_at = Column(DateTime, nullable=False, index=True)


class TokenReplayGuard:
    """A token belongs to the conversation that presented it first; in any other it is refused.

    The widget sends the token with every message, so the answer is remembered in the process
    (bounded) and the database is asked once per token and process."""

    def __init__(self, db: Database, max_remembered: int = 20_000) -> None:
        self.db = db
        self.max_remembered = max_remembered
        self._owners: OrderedDict[str, str] = OrderedDict()
        self._lock = threading.Lock()

    def claim(self, jti: str, conversation_id: str, expires_at: datetime) -> bool:
        key = hashlib.sha256(jti.encode("utf-8")).hexdigest()
        with self._lock:
            owner = self._owners.get(key)
        if owner is None:
            owner = self._claim_in_database(key, conversation_id, expires_at.replace(tzinfo=None))
            with self._lock:
                self._owners[key] = owner
                while len(self._owners) > self.max_remembered:
                    self._owners.popitem(last=False)
        return hmac.compare_digest(owner, conversation_id)

    def _claim_in_database(self, key: str, conversation_id: str, expires_at: datetime) -> str:
        try:
            with self.db.transaction() as session:
                existing = session.get(TokenUseRow, key)
                if existing is not None:
                    return str(existing.conversation_id)
                session.add(TokenUseRow(jti_hash=key, conversation_id=conversation_id, expires_at=expires_at))
            return conversation_id
        except IntegrityError:  # another process claimed it first
            with self.db.transaction() as session:
                return str(session.execute(select(TokenUseRow.conversation_id)
                                           .where(TokenUseRow.jti_hash == key)).scalar_one())



class CustomerAttestations:
    """What the chat channel stores instead of the token, and how the action server checks it."""

    def __init__(self, verifier: CustomerTokenVerifier, replay_guard: TokenReplayGuard | None,
                 secret_key: str, clock: Callable[[], float] = time.time) -> None:
        self.verifier = verifier
        self.replay_guard = replay_guard
        self._key = hmac.new(secret_key.encode("utf-8"), b"frontdesk customer attestation v1", "sha256").digest()
        self.clock = clock

    def _mac(self, conversation_id: str, customer_id: str, jti: str, expires: int) -> str:
        message = json.dumps([conversation_id, customer_id, jti, expires]).encode("utf-8")
        return hmac.new(self._key, message, "sha256").hexdigest()

    def attest(self, token: object, conversation_id: str) -> dict[str, Any]:
        """In the channel, as a message arrives: the token checked, the attestation to store."""
        try:
            verified = self.verifier.verify(token)
            if self.replay_guard is not None and not self.replay_guard.claim(
                    verified.jti, conversation_id, verified.expires_at):
                raise TokenRejected("replayed_in_another_conversation")
        except TokenRejected as rejected:
            return {"rejected": rejected.reason}
        expires = int(verified.expires_at.timestamp())
        return {"customer_id": verified.customer_id, "jti": verified.jti, "expires": expires,
                "mac": self._mac(conversation_id, verified.customer_id, verified.jti, expires)}

    @property
    def leeway(self) -> int:
        return self.verifier.settings.leeway_seconds

    def check(self, attestation: object, conversation_id: str) -> VerifiedCustomer:
        """In the action server: the customer an attestation vouches for in this conversation."""
        if not isinstance(attestation, dict):
            raise TokenRejected("malformed")
        if "rejected" in attestation:
            raise TokenRejected(str(attestation["rejected"])[:40])
        customer_id, jti, expires, mac = (attestation.get(k) for k in ("customer_id", "jti", "expires", "mac"))
        if not (isinstance(customer_id, str) and isinstance(jti, str) and isinstance(expires, int)
                and isinstance(mac, str)):
            raise TokenRejected("malformed")
        if not hmac.compare_digest(mac, self._mac(conversation_id, customer_id, jti, expires)):
            raise TokenRejected("forged_attestation")
        if expires + self.leeway < self.clock():
            raise TokenRejected("expired")
        return VerifiedCustomer(customer_id, datetime.fromtimestamp(expires, tz=timezone.utc), jti)


def admitted_metadata(client_metadata: object, conversation_id: str,
                      attestations: CustomerAttestations | None) -> dict[str, Any]:
    """A message's metadata as it may be stored: the client's own keys minus anything in our
    namespace, the customer token replaced by its attestation."""
    metadata = dict(client_metadata) if isinstance(client_metadata, dict) else {}
    token = metadata.pop(TOKEN_KEY, _ABSENT)
    for key in [k for k in metadata if not isinstance(k, str) or k.startswith(RESERVED_PREFIX) or k in RASA_KEYS]:
        del metadata[key]
    if token is None:  # the page says nobody is signed in (the widget sends null then)
        metadata[ATTESTATION_KEY] = {"rejected": SIGNED_OUT}
    elif token is not _ABSENT:
        metadata[ATTESTATION_KEY] = (attestations.attest(token, conversation_id) if attestations is not None
                                     else {"rejected": "not_configured"})
    return metadata


@dataclass(frozen=True)
class Proof:
    """Who the conversation's customer is now, and until when a signed token vouches for it
    (None: verified in the conversation itself, by an e-mail code, for the session)."""

    customer_id: str | None
    valid_until: float | None = None


class CustomerBinding:
    """Turns attestations into the verified customer, and audits every decision.

    ``bind`` at the start of a session. ``recheck`` before anything uses the verified customer:
    a binding that came from a signed token lasts only while it is proven -- until the token
    expires, and not after a later message says nobody (or someone else) is signed in on that
    page, as when a shared browser changes hands."""

    def __init__(self, attestations: CustomerAttestations, identity: IdentityProvider, audit: AuditLog,
                 clock: Callable[[], float] = time.time) -> None:
        self.attestations = attestations
        self.identity = identity
        self.audit = audit
        self.clock = clock

    def _verified(self, session: Session, attestation: object, context: DecisionContext) -> VerifiedCustomer:
        verified = self.attestations.check(attestation, context.conversation_id)
        if self.identity.get(session, verified.customer_id) is None:
            raise TokenRejected("unknown_customer")
        return verified

    def _audit_verified(self, session: Session, context: DecisionContext, verified: VerifiedCustomer) -> None:
        self.audit.record(session, context, "customer.verified", reason="signed_token",
                          customer_id=verified.customer_id, expires_at=verified.expires_at.isoformat(),
                          jti_sha256=hashlib.sha256(verified.jti.encode("utf-8")).hexdigest()[:16])

    def bind(self, session: Session, attestation: object, context: DecisionContext) -> Proof:
        try:
            verified = self._verified(session, attestation, context)
        except TokenRejected as rejected:
            self.audit.record(session, context, "customer.token_rejected", reason=rejected.reason)
            return Proof(None)
        self._audit_verified(session, context, verified)
        return Proof(verified.customer_id, verified.expires_at.timestamp())

    def recheck(self, session: Session, current: Proof, latest_attestation: object,
                context: DecisionContext) -> Proof:
        """The proof as it stands for the latest message: the same, another customer's, or none."""
        if latest_attestation is not None:
            try:
                verified = self._verified(session, latest_attestation, context)
            except TokenRejected as rejected:
                if current.customer_id is None or current.valid_until is None:
                    return current  # a code-verified conversation does not depend on the page
                self.audit.record(session, context, "customer.unbound", reason=rejected.reason)
                return Proof(None)
            if verified.customer_id != current.customer_id:
                self._audit_verified(session, context, verified)
            return Proof(verified.customer_id, verified.expires_at.timestamp())
        if current.valid_until is not None and current.valid_until + self.attestations.leeway < self.clock():
            self.audit.record(session, context, "customer.unbound", reason="expired")
            return Proof(None)
        return current


def purge_expired_token_uses(session: Session) -> int:
    """Forgets the conversations of tokens that have expired: they cannot be presented again."""
    return int(session.execute(delete(TokenUseRow).where(TokenUseRow.expires_at < utcnow())).rowcount or 0)
