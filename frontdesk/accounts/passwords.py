"""Password hashing (scrypt, memory-hard, from the standard library) and the password policy.

The policy follows NIST SP 800-63B: a minimum length, no composition rules, and a refusal of
passwords that are common or contain the account's own e-mail name.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

# 2**15 * 8 * 128 bytes = 32 MiB of memory per hash: expensive to brute-force on GPUs, 84 ms
# on one core here (`python -m timeit -s "from frontdesk.accounts.passwords import hash_password"
# "hash_password('x' * 12)"`, 4 Dec).
_SCRYPT_N = 2**15
_SCRYPT_R = 8
_SCRYPT_P = 1
_MAXMEM = 64 * 1024 * 1024

MIN_LENGTH = 12
MAX_LENGTH = 128

# A short deny-list of the most common long passwords; a deployment can extend it.
_COMMON = frozenset(
    {
        "password", "password1", "password123", "passw0rd", "123456789012", "qwertyuiopas",
        "111111111111", "letmein12345", "welcome12345", "iloveyou1234", "adminadmin12", "changeme1234",
        "administrator", "qwerty123456", "123456123456", "abc123abc123", "passwordpassword", "1q2w3e4r5t6y",
        "zaq12wsxcde3",
    }
)


class PasswordPolicyError(ValueError):
    """The new password breaks the policy; the message is safe to show the customer."""


def check_password_policy(password: str, email: str | None = None) -> None:
    if len(password) < MIN_LENGTH:
        raise PasswordPolicyError(f"Use at least {MIN_LENGTH} characters.")
    if len(password) > MAX_LENGTH:
        raise PasswordPolicyError(f"Use at most {MAX_LENGTH} characters.")
    lowered = password.lower()
    if lowered in _COMMON or len(set(lowered)) < 4:
        raise PasswordPolicyError("That password is too easy to guess. Choose something less common.")
    if email:
        local_part = email.split("@", 1)[0].lower()
        if len(local_part) >= 4 and local_part in lowered:
            raise PasswordPolicyError("Don't use your e-mail address in your password.")


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(
        password.encode("utf-8"), salt=salt, n=_SCRYPT_N, r=_SCRYPT_R, p=_SCRYPT_P, maxmem=_MAXMEM
    )
    encode = base64.b64encode
    return f"scrypt${_SCRYPT_N}${_SCRYPT_R}${_SCRYPT_P}${encode(salt).decode()}${encode(digest).decode()}"


def verify_password(password: str, stored: str | None) -> bool:
    if not stored:
        return False
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        expected = base64.b64decode(digest)
        actual = hashlib.scrypt(
            password.encode("utf-8"),
            salt=base64.b64decode(salt),
            n=int(n),
            r=int(r),
            p=int(p),
            maxmem=_MAXMEM,
            dklen=len(expected),
        )
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(actual, expected)
