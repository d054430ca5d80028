"""Password hashing (argon2id) and the password rules the apps' sign-up forms apply.

Parameters: argon2id, 19 MiB memory, 2 passes, 1 lane (the OWASP Password Storage baseline).
``bench/auth.py`` prints the hash/verify time on the machine at hand; it is ~20 ms on the 2-core
development box, well under the 100 ms ceiling, and leaves room for a slower Lambda vCPU.
Hashing is CPU-bound, so async callers use ``hash_password_async`` / ``verify_password_async``
which run it in a worker thread and keep the event loop answering other requests.
"""
from __future__ import annotations

import asyncio
import string

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

MIN_LENGTH = 8
MAX_LENGTH = 128

_HASHER = PasswordHasher(time_cost=2, memory_cost=19456, parallelism=1, hash_len=32, salt_len=16, type=Type.ID)

# A hash verified against when the e-mail is unknown, so that a login for an unknown account costs
# the same time as one for a known account (no user enumeration by timing). Made on first use, not
# at import: a Lambda's cold start should not pay for a hash it may never need.
_DUMMY_HASH: str | None = None


def _dummy_hash() -> str:
    global _DUMMY_HASH
    if _DUMMY_HASH is None:
        _DUMMY_HASH = _HASHER.hash("unamentis-dummy-password-for-timing")
    return _DUMMY_HASH

# The most common passwords that still pass the class rules.
_COMMON = frozenset(
    {
        "password", "password1", "password123", "12345678", "123456789", "1234567890", "qwerty123",
        "qwertyuiop", "iloveyou", "sunshine1", "princess1", "football1", "baseball1", "welcome1",
        "admin123", "letmein1", "abc12345", "passw0rd", "p@ssw0rd", "password!", "changeme",
        "trustno1", "11111111", "00000000", "1q2w3e4r", "qwerty12", "unamentis",
    }
)
_SPECIALS = set(string.punctuation) | {" "}


class PasswordRuleError(ValueError):
    """A password that breaks the rules; ``code`` is the API error code, ``suggestions`` how to fix it."""

    def __init__(self, code: str, message: str, suggestions: list[str]):
        super().__init__(message)
        self.code = code
        self.message = message
        self.suggestions = suggestions


def check_password(password: object) -> str:
    """Return ``password`` if it is acceptable, else raise PasswordRuleError.

    8–128 characters; at least two character classes (lower, upper, digit, other) unless it is
    16+ characters long (a passphrase); not one of the most common passwords; not one repeated
    character.
    """
    if not isinstance(password, str):
        raise PasswordRuleError("invalid_password", "The password must be a string.", ["Send the password as a JSON string."])
    if len(password) < MIN_LENGTH or len(password) > MAX_LENGTH:
        raise PasswordRuleError(
            "weak_password",
            f"The password must be {MIN_LENGTH} to {MAX_LENGTH} characters long.",
            [f"Use between {MIN_LENGTH} and {MAX_LENGTH} characters."],
        )
    suggestions: list[str] = []
    classes = sum(
        (
            any(c.islower() for c in password),
            any(c.isupper() for c in password),
            any(c.isdigit() for c in password),
            any(c in _SPECIALS or not c.isalnum() for c in password),
        )
    )
    if password.lower() in _COMMON:
        suggestions.append("Avoid common passwords.")
    if len(set(password)) == 1:
        suggestions.append("Do not repeat a single character.")
    if classes < 2 and len(password) < 16:
        suggestions.append("Mix letters with digits or symbols, or use a passphrase of 16+ characters.")
    if suggestions:
        raise PasswordRuleError("weak_password", "The password is too weak.", suggestions)
    return password


def hash_password(password: str) -> str:
    return _HASHER.hash(password)


def verify_password(stored_hash: str | None, password: str) -> bool:
    """True when ``password`` matches; a missing or malformed hash is a mismatch (same cost)."""
    if not stored_hash:
        try:
            _HASHER.verify(_dummy_hash(), password + "\x00")
        except VerificationError:
            pass
        return False
    try:
        return _HASHER.verify(stored_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(stored_hash: str) -> bool:
    try:
        return _HASHER.check_needs_rehash(stored_hash)
    except InvalidHashError:
        return True


async def hash_password_async(password: str) -> str:
    return await asyncio.to_thread(hash_password, password)


async def verify_password_async(stored_hash: str | None, password: str) -> bool:
    return await asyncio.to_thread(verify_password, stored_hash, password)
