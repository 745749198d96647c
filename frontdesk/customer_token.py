"""Signed customer tokens: the support site vouches for the logged-in customer who is chatting.

The site signs a short-lived JWT (``sub`` = the account id, ``exp`` required) and the widget
passes it in the chat session's metadata. The bot binds the conversation to that customer only
when the signature, expiry and (when configured) issuer and audience check out and the account
exists. Anything else leaves the conversation anonymous; the reason goes to the audit trail,
never to the customer, so a token cannot be used to probe which accounts exist.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone

import jwt
from sqlalchemy.orm import Session

from frontdesk.audit import AuditLog, DecisionContext
from frontdesk.identity import IdentityProvider
from frontdesk.settings import CustomerTokenSettings

MAX_TOKEN_CHARS = 4096


class TokenRejected(Exception):
    """The token does not prove who the customer is; ``reason`` is a short code for the audit."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class VerifiedCustomer:
    customer_id: str
    expires_at: datetime


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
        options = {"require": ["exp", "sub"], "verify_iat": False}
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
        # PyJWT checks exp with our clock only indirectly (time.time); check again with ours.
        expires = float(claims["exp"])
        now = self.clock()
        if expires + self.settings.leeway_seconds < now:
            raise TokenRejected("expired")
        if expires - now > self.settings.max_lifetime_minutes * 60:
            raise TokenRejected("lifetime_too_long")
        subject = claims["sub"]
        if not isinstance(subject, str) or not subject or len(subject) > 16:
            raise TokenRejected("malformed")
        return VerifiedCustomer(subject, datetime.fromtimestamp(expires, tz=timezone.utc))

    def mint(self, customer_id: str, ttl_seconds: int = 900) -> str:
        """A token as the support site would sign it (shared-secret mode): for development,
        demos and tests. With a public key configured only the site can sign."""
        if not self.settings.secret:
            raise TokenRejected("not_configured")
        now = int(self.clock())
        claims: dict[str, object] = {"sub": customer_id, "iat": now, "exp": now + ttl_seconds}
        if self.settings.issuer:
            claims["iss"] = self.settings.issuer
        if self.settings.audience:
            claims["aud"] = self.settings.audience
        return jwt.encode(claims, self.settings.secret, algorithm="HS256")


class CustomerBinding:
    """Turns the token in a chat session's metadata into the verified customer id, or None."""

    def __init__(self, verifier: CustomerTokenVerifier, identity: IdentityProvider, audit: AuditLog) -> None:
        self.verifier = verifier
        self.identity = identity
        self.audit = audit

    def bind(self, session: Session, token: object, context: DecisionContext) -> str | None:
        try:
            verified = self.verifier.verify(token)
            account = self.identity.get(session, verified.customer_id)
            if account is None:
                raise TokenRejected("unknown_customer")
        except TokenRejected as rejected:
            self.audit.record(session, context, "customer.token_rejected", reason=rejected.reason)
            return None
        self.audit.record(session, context, "customer.verified", reason="signed_token",
                          customer_id=verified.customer_id, expires_at=verified.expires_at.isoformat())
        return verified.customer_id
