"""Signed customer tokens: only a valid, unexpired token from the configured signer, for an
existing account, binds a conversation; every refusal is audited with its reason."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from frontdesk.audit import DecisionContext
from frontdesk.customer_token import CustomerBinding, CustomerTokenVerifier, TokenRejected
from frontdesk.settings import CustomerTokenSettings, Settings, SettingsError

SECRET = "s" * 40
NOW = 1_800_000_000.0


def verifier(**overrides: object) -> CustomerTokenVerifier:
    settings = CustomerTokenSettings(**{"secret": SECRET, **overrides})  # type: ignore[arg-type]
    return CustomerTokenVerifier(settings, clock=lambda: NOW)


def signed(claims: dict, key: str = SECRET, algorithm: str = "HS256") -> str:
    return jwt.encode(claims, key, algorithm=algorithm)


def rejection(verifier: CustomerTokenVerifier, token: object) -> str:
    with pytest.raises(TokenRejected) as rejected:
        verifier.verify(token)
    return rejected.value.reason


def test_a_valid_token_names_the_customer():
    customer = verifier().verify(signed({"sub": "AC-100001", "exp": NOW + 600}))
    assert customer.customer_id == "AC-100001"
    assert customer.expires_at.timestamp() == NOW + 600


def test_minted_tokens_verify():
    assert verifier().verify(verifier().mint("AC-100002")).customer_id == "AC-100002"


@pytest.mark.parametrize(
    ("token", "reason"),
    [
        (signed({"sub": "AC-100001", "exp": NOW - 120}), "expired"),
        (signed({"sub": "AC-100001", "exp": NOW + 600}, key="x" * 40), "bad_signature"),
        (signed({"sub": "AC-100001"}), "malformed"),  # no expiry: a token must expire
        (signed({"exp": NOW + 600}), "malformed"),  # no subject
        (signed({"sub": 100001, "exp": NOW + 600}), "malformed"),
        (signed({"sub": "AC-100001", "exp": NOW + 3 * 86400}), "lifetime_too_long"),
        (jwt.encode({"sub": "AC-100001", "exp": NOW + 600}, None, algorithm="none"), "malformed"),
        ("not-a-jwt", "malformed"),
        ("", "malformed"),
        (None, "malformed"),
        ({"sub": "AC-100001"}, "malformed"),
        ("a" * 5000, "malformed"),
    ],
    ids=["expired", "other-key", "no-exp", "no-sub", "numeric-sub", "too-long-lived", "alg-none", "junk",
         "empty", "null", "object", "huge"],
)
def test_tokens_that_prove_nothing_are_refused(token, reason, monkeypatch):
    monkeypatch.setattr(time, "time", lambda: NOW)  # PyJWT's own expiry check uses time.time
    assert rejection(verifier(), token) == reason


def test_issuer_and_audience_are_checked_when_configured(monkeypatch):
    monkeypatch.setattr(time, "time", lambda: NOW)
    strict = verifier(issuer="https://support.example", audience="frontdesk")
    good = {"sub": "AC-100001", "exp": NOW + 600, "iss": "https://support.example", "aud": "frontdesk"}
    assert strict.verify(signed(good)).customer_id == "AC-100001"
    assert rejection(strict, signed({**good, "aud": "another-app"})) == "wrong_issuer_or_audience"
    assert rejection(strict, signed({**good, "iss": "https://evil.example"})) == "wrong_issuer_or_audience"


def test_public_key_mode_refuses_tokens_signed_with_the_public_key_as_a_secret(monkeypatch):
    monkeypatch.setattr(time, "time", lambda: NOW)
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public_pem = private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    site = verifier(secret="", public_key=public_pem)
    claims = {"sub": "AC-100003", "exp": NOW + 600}
    assert site.verify(jwt.encode(claims, private, algorithm="RS256")).customer_id == "AC-100003"
    # The classic confusion attack: HS256 keyed with the (public) PEM text.
    # Built by hand: PyJWT itself refuses to sign with a PEM key as an HMAC secret.
    def b64(raw: bytes) -> str:
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    signing_input = b64(b'{"alg":"HS256","typ":"JWT"}') + "." + b64(json.dumps(claims).encode())
    mac = hmac.new(public_pem.encode(), signing_input.encode(), hashlib.sha256).digest()
    forged = f"{signing_input}.{b64(mac)}"
    assert rejection(site, forged) in {"malformed", "bad_signature"}
    with pytest.raises(TokenRejected):
        site.mint("AC-100003")  # only the site holds the private key


def test_without_configuration_every_token_is_refused():
    unconfigured = CustomerTokenVerifier(CustomerTokenSettings(), clock=lambda: NOW)
    assert rejection(unconfigured, signed({"sub": "AC-100001", "exp": NOW + 600})) == "not_configured"


def test_settings_refuse_a_short_secret_and_read_a_key_file(tmp_path):
    with pytest.raises(SettingsError, match="CUSTOMER_TOKEN_SECRET"):
        Settings.from_env({"CUSTOMER_TOKEN_SECRET": "short"})
    key_file = tmp_path / "site.pem"
    key_file.write_text("-----BEGIN PUBLIC KEY-----\nabc\n-----END PUBLIC KEY-----\n")
    settings = Settings.from_env({"CUSTOMER_TOKEN_PUBLIC_KEY": str(key_file)})
    assert settings.customer_token.public_key.startswith("-----BEGIN PUBLIC KEY-----")
    with pytest.raises(SettingsError, match="cannot read"):
        Settings.from_env({"CUSTOMER_TOKEN_PUBLIC_KEY": str(tmp_path / "missing.pem")})


def test_binding_audits_both_outcomes_and_refuses_unknown_accounts(services, db):
    binding = CustomerBinding(verifier(), services.identity, services.audit)
    context = DecisionContext("conv-token", action="action_session_start")
    with db.transaction() as session:
        assert binding.bind(session, verifier().mint("AC-100002"), context) == "AC-100002"
        assert binding.bind(session, verifier().mint("AC-999999"), context) is None
        assert binding.bind(session, "junk", context) is None
    with db.transaction() as session:
        records = services.audit.list(session, "conv-token", None, 10)
    outcomes = sorted((r.decision, r.reason) for r in records)
    assert outcomes == [("customer.token_rejected", "malformed"), ("customer.token_rejected", "unknown_customer"),
                        ("customer.verified", "signed_token")]
    assert all("AC-999999" not in str(r.details) for r in records)
