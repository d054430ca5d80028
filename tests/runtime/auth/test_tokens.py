"""Pure tests of passwords and token formats: no database."""
from __future__ import annotations

import base64
import json
import time
import uuid

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from runtime.auth import passwords
from runtime.auth.tokens import (
    JwtCodec, TokenError, TokenExpired, is_beta_token, is_refresh_token, new_beta_token, new_refresh_token, token_hash,
)

SECRET = "s" * 64
IDS = dict(user_id=str(uuid.uuid4()), tenant_id=str(uuid.uuid4()), session_id=str(uuid.uuid4()), role="user", device_id=str(uuid.uuid4()))


def _b64(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def _claims(codec: JwtCodec, **changes) -> dict:
    now = int(time.time())
    claims = {"iss": codec.issuer, "aud": codec.audience, "iat": now, "exp": now + 900, "sub": IDS["user_id"],
              "tenant": IDS["tenant_id"], "sid": IDS["session_id"], "jti": "j1", "role": "user", "typ": "access",
              "device_id": IDS["device_id"]}
    claims.update(changes)
    return {k: v for k, v in claims.items() if v is not None}


# ------------------------------------------------------------------ passwords
@pytest.mark.parametrize("bad", ["short1A", "x" * 129, "aaaaaaaaaaaa", "password1", "abcdefgh", "12345678"])
def test_password_rules_refuse(bad):
    with pytest.raises(passwords.PasswordRuleError) as info:
        passwords.check_password(bad)
    assert info.value.code == "weak_password"
    assert info.value.suggestions


@pytest.mark.parametrize("good", ["Correct-Horse-42", "abcdefg1", "a long passphrase of words", "Ü" * 3 + "ber-2024!"])
def test_password_rules_accept(good):
    assert passwords.check_password(good) == good


def test_password_must_be_a_string():
    with pytest.raises(passwords.PasswordRuleError) as info:
        passwords.check_password(12345678)
    assert info.value.code == "invalid_password"


def test_argon2id_roundtrip_and_mismatch():
    stored = passwords.hash_password("Correct-Horse-42")
    assert stored.startswith("$argon2id$")
    assert passwords.verify_password(stored, "Correct-Horse-42")
    assert not passwords.verify_password(stored, "correct-horse-42")
    assert not passwords.verify_password(None, "anything")  # unknown user: same work, no match
    assert not passwords.verify_password("not-a-hash", "anything")
    assert not passwords.needs_rehash(stored)


# ------------------------------------------------------------------ opaque tokens
def test_opaque_token_formats():
    beta, refresh = new_beta_token(), new_refresh_token()
    assert is_beta_token(beta) and not is_refresh_token(beta)
    assert is_refresh_token(refresh) and not is_beta_token(refresh)
    assert beta != new_beta_token()
    assert len(token_hash(beta)) == 64 and beta not in token_hash(beta)
    assert not is_beta_token("uma_beta_short") and not is_beta_token(beta + "x")


# ------------------------------------------------------------------ access JWTs
def test_issue_and_verify():
    codec = JwtCodec(SECRET)
    token, issued = codec.issue(**IDS)
    claims = codec.verify(token)
    assert claims == issued
    assert claims.expires_at - claims.issued_at == 900
    raw = jwt.decode(token, options={"verify_signature": False})
    assert {"iss", "aud", "exp", "sub", "tenant", "device_id", "jti"} <= set(raw)


def test_short_secret_is_a_config_error():
    with pytest.raises(ValueError, match="UNAMENTIS_JWT_SECRET"):
        JwtCodec("short")


def test_forged_with_another_key():
    codec = JwtCodec(SECRET)
    forged = jwt.encode(_claims(codec), "t" * 48, algorithm="HS256")
    with pytest.raises(TokenError) as info:
        codec.verify(forged)
    assert info.value.code == "invalid_token"


def test_tampered_payload():
    codec = JwtCodec(SECRET)
    token, _ = codec.issue(**IDS)
    header, _payload, signature = token.split(".")
    other = _b64(_claims(codec, tenant=str(uuid.uuid4())))
    with pytest.raises(TokenError):
        codec.verify(f"{header}.{other}.{signature}")


def test_expired():
    codec = JwtCodec(SECRET)
    token, _ = codec.issue(**IDS, now=time.time() - 3600)
    with pytest.raises(TokenExpired) as info:
        codec.verify(token)
    assert info.value.code == "token_expired"


def test_alg_none_refused():
    codec = JwtCodec(SECRET)
    unsigned = _b64({"alg": "none", "typ": "JWT"}) + "." + _b64(_claims(codec)) + "."
    with pytest.raises(TokenError, match="algorithm"):
        codec.verify(unsigned)


@pytest.mark.parametrize("alg", ["HS384", "HS512"])
def test_other_hmac_algorithms_refused(alg):
    codec = JwtCodec(SECRET)
    token = jwt.encode(_claims(codec), SECRET, algorithm=alg)
    with pytest.raises(TokenError, match="algorithm"):
        codec.verify(token)


def test_rs256_signed_token_refused():
    codec = JwtCodec(SECRET)
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    token = jwt.encode(_claims(codec), key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                          serialization.NoEncryption()), algorithm="RS256")
    with pytest.raises(TokenError, match="algorithm"):
        codec.verify(token)


@pytest.mark.parametrize("change", [{"aud": "someone-else"}, {"iss": "evil"}, {"typ": "refresh"}, {"sub": "not-a-uuid"}])
def test_wrong_audience_issuer_type_or_claims(change):
    codec = JwtCodec(SECRET)
    token = jwt.encode(_claims(codec, **change), SECRET, algorithm="HS256")
    with pytest.raises(TokenError):
        codec.verify(token)


@pytest.mark.parametrize("missing", ["exp", "aud", "iss", "sub", "tenant", "sid", "jti"])
def test_required_claims(missing):
    codec = JwtCodec(SECRET)
    token = jwt.encode(_claims(codec, **{missing: None}), SECRET, algorithm="HS256")
    with pytest.raises(TokenError):
        codec.verify(token)


@pytest.mark.parametrize("garbage", ["", "abc", "a.b.c", "eyJhbGciOiJIUzI1NiJ9.e30", "x" * 5000])
def test_garbage_is_invalid_not_a_crash(garbage):
    with pytest.raises(TokenError):
        JwtCodec(SECRET).verify(garbage)


def test_verified_token_is_remembered_but_still_expires(monkeypatch):
    codec = JwtCodec(SECRET)
    token, issued = codec.issue(**IDS)
    assert codec.verify(token) == issued
    import jwt as pyjwt

    def no_second_check(*_args, **_kwargs):
        raise AssertionError("a token that verified is not checked again")

    monkeypatch.setattr(pyjwt, "decode", no_second_check)
    assert codec.verify(token) == issued
    # the remembered token stops working when it expires, as a fresh check would
    monkeypatch.setattr(time, "time", lambda: issued.expires_at + 60)
    with pytest.raises(TokenExpired):
        codec.verify(token)


def test_remembered_token_does_not_vouch_for_other_text():
    codec = JwtCodec(SECRET)
    token, _ = codec.issue(**IDS)
    codec.verify(token)
    header, payload, signature = token.split(".")
    other = _b64(_claims(codec, tenant=str(uuid.uuid4())))
    with pytest.raises(TokenError):
        codec.verify(f"{header}.{other}.{signature}")
    with pytest.raises(TokenError):
        codec.verify(f"{header}.{payload}.{signature[:-2]}AA")
