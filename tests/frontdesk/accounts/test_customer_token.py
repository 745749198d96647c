"""Signed customer tokens: only a valid, unexpired token from the configured signer and for this
service (iss, aud), with an id (jti) no other conversation has used, for an existing account,
binds a conversation; every refusal is audited with its reason. What is stored is the channel's
attestation, never the token."""

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

from frontdesk.accounts.customer_token import (
    CustomerAttestations,
    CustomerBinding,
    CustomerTokenVerifier,
    TokenRejected,
    TokenReplayGuard,
    admitted_metadata,
)
from frontdesk.core.audit import DecisionContext
from frontdesk.settings import CustomerTokenSettings, Settings, SettingsError

SECRET = "s" * 40
NOW = 1_800_000_000.0
ISS, AUD = "https://support.example", "frontdesk"
SITE = {"iss": ISS, "aud": AUD}


def verifier(**overrides: object) -> CustomerTokenVerifier:
    settings = CustomerTokenSettings(**{"secret": SECRET, "issuer": ISS, "audience": AUD,  # type: ignore[arg-type]
                                        **overrides})
    return CustomerTokenVerifier(settings, clock=lambda: NOW)


def signed(claims: dict, key: str = SECRET, algorithm: str = "HS256") -> str:
    return jwt.encode({**SITE, "jti": "jti-1", **claims}, key, algorithm=algorithm)


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
        (jwt.encode({"sub": "AC-100001", "exp": NOW + 600, **SITE}, SECRET), "malformed"),  # no jti
        (jwt.encode({"sub": "AC-100001", "exp": NOW + 600, "aud": AUD, "jti": "j"}, SECRET), "malformed"),  # no iss
        (jwt.encode({"sub": "AC-100001", "exp": NOW + 600, "iss": ISS, "jti": "j"}, SECRET), "malformed"),  # no aud
        (jwt.encode({"sub": "AC-100001", "exp": NOW + 600}, None, algorithm="none"), "malformed"),
        ("not-a-jwt", "malformed"),
        ("", "malformed"),
        (None, "malformed"),
        ({"sub": "AC-100001"}, "malformed"),
        ("a" * 5000, "malformed"),
    ],
    ids=["expired", "other-key", "no-exp", "no-sub", "numeric-sub", "too-long-lived", "no-jti", "no-iss", "no-aud",
         "alg-none", "junk", "empty", "null", "object", "huge"],
)
def test_tokens_that_prove_nothing_are_refused(token, reason, monkeypatch):
    monkeypatch.setattr(time, "time", lambda: NOW)  # PyJWT's own expiry check uses time.time
    assert rejection(verifier(), token) == reason


def test_issuer_and_audience_are_checked(monkeypatch):
    monkeypatch.setattr(time, "time", lambda: NOW)
    strict = verifier()
    good = {"sub": "AC-100001", "exp": NOW + 600}
    assert strict.verify(signed(good)).customer_id == "AC-100001"
    assert rejection(strict, signed({**good, "aud": "another-app"})) == "wrong_issuer_or_audience"
    assert rejection(strict, signed({**good, "iss": "https://evil.example"})) == "wrong_issuer_or_audience"


def test_public_key_mode_refuses_tokens_signed_with_the_public_key_as_a_secret(monkeypatch):
    monkeypatch.setattr(time, "time", lambda: NOW)
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public_pem = private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    site = verifier(secret="", public_key=public_pem)
    claims = {"sub": "AC-100003", "exp": NOW + 600, "jti": "jti-rsa", **SITE}
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


def test_settings_refuse_a_short_secret_a_missing_issuer_and_read_a_key_file(tmp_path):
    dev = {"FRONTDESK_ENV": "development", "CUSTOMER_TOKEN_ISSUER": ISS, "CUSTOMER_TOKEN_AUDIENCE": AUD}
    with pytest.raises(SettingsError, match="CUSTOMER_TOKEN_SECRET"):
        Settings.from_env({**dev, "CUSTOMER_TOKEN_SECRET": "short"})
    with pytest.raises(SettingsError, match="CUSTOMER_TOKEN_ISSUER"):
        Settings.from_env({"FRONTDESK_ENV": "development", "CUSTOMER_TOKEN_SECRET": SECRET})
    key_file = tmp_path / "site.pem"
    key_file.write_text("-----BEGIN PUBLIC KEY-----\nabc\n-----END PUBLIC KEY-----\n")
    settings = Settings.from_env({**dev, "CUSTOMER_TOKEN_PUBLIC_KEY": str(key_file)})
    assert settings.customer_token.public_key.startswith("-----BEGIN PUBLIC KEY-----")
    with pytest.raises(SettingsError, match="cannot read"):
        Settings.from_env({**dev, "CUSTOMER_TOKEN_PUBLIC_KEY": str(tmp_path / "missing.pem")})


def attestations(db=None) -> CustomerAttestations:
    return CustomerAttestations(verifier(), TokenReplayGuard(db) if db is not None else None, "k" * 40,
                                clock=lambda: NOW)


def test_the_token_is_replaced_by_an_attestation_bound_to_its_conversation(monkeypatch):
    monkeypatch.setattr(time, "time", lambda: NOW)
    token = verifier().mint("AC-100002")
    stored = admitted_metadata({"customer_token": token, "frontdesk_customer": "forged"}, "conv-a", attestations())
    attestation = stored["frontdesk_customer"]
    assert token not in str(stored) and set(attestation) == {"customer_id", "jti", "expires", "mac"}
    assert attestations().check(attestation, "conv-a").customer_id == "AC-100002"
    with pytest.raises(TokenRejected, match="forged_attestation"):
        attestations().check(attestation, "conv-b")  # copied into another conversation
    with pytest.raises(TokenRejected, match="forged_attestation"):
        attestations().check({**attestation, "customer_id": "AC-100001"}, "conv-a")
    other_key = CustomerAttestations(verifier(), None, "x" * 40, clock=lambda: NOW)
    with pytest.raises(TokenRejected, match="forged_attestation"):
        other_key.check(attestation, "conv-a")
    # A client cannot send an attestation of its own (our namespace is dropped), nor the model id
    # the audit trail reads; a page with nobody signed in says so.
    assert admitted_metadata({"frontdesk_customer": attestation, "model_id": "x", "assistant_id": "y"},
                             "conv-a", attestations()) == {}
    assert admitted_metadata({"customer_token": None}, "conv-a", attestations()) == {
        "frontdesk_customer": {"rejected": "signed_out"}}


def test_a_token_replayed_in_another_conversation_is_refused(db, monkeypatch):
    monkeypatch.setattr(time, "time", lambda: NOW)
    token = verifier().mint("AC-100002")
    first, again = attestations(db), attestations(db)  # two processes: the database decides
    assert "customer_id" in first.attest(token, "conv-a")
    assert "customer_id" in first.attest(token, "conv-a")  # the widget sends it on every message
    assert again.attest(token, "conv-b") == {"rejected": "replayed_in_another_conversation"}
    assert "customer_id" in again.attest(token, "conv-a")


def test_binding_audits_both_outcomes_and_refuses_unknown_accounts(services, db, monkeypatch):
    monkeypatch.setattr(time, "time", lambda: NOW)
    binding = CustomerBinding(attestations(), services.identity, services.audit)
    context = DecisionContext("conv-token", action="action_session_start")

    def attested(account_id: str) -> dict:
        return attestations().attest(verifier().mint(account_id), "conv-token")

    with db.transaction() as session:
        bound = binding.bind(session, attested("AC-100002"), context)
        assert (bound.customer_id, bound.valid_until) == ("AC-100002", NOW + 900)  # until the token expires
        assert binding.bind(session, attested("AC-999999"), context).customer_id is None
        assert binding.bind(session, "junk", context).customer_id is None
        assert binding.bind(session, {"rejected": "expired"}, context).customer_id is None
    with db.transaction() as session:
        records = services.audit.list(session, "conv-token", None, 10)
    outcomes = sorted((r.decision, r.reason) for r in records)
    assert outcomes == [("customer.token_rejected", "expired"), ("customer.token_rejected", "malformed"),
                        ("customer.token_rejected", "unknown_customer"), ("customer.verified", "signed_token")]
    assert all("AC-999999" not in str(r.details) for r in records)
