"""ES256 signing keys: the active key signs, every listed key is published in the JWKS.

Rotation without logging anyone out: put the new key first and keep the old one listed
until the last token it signed has expired (access_ttl_seconds); then drop it.
"""

from __future__ import annotations

import json
import os
import secrets
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from jwt.algorithms import ECAlgorithm

from zipbob_platform.settings import ConfigError

from ..settings import GatewaySettings

ALGORITHM = "ES256"
KEY_FILE_NAME = "jwt-keys.json"


@dataclass(frozen=True)
class SigningKey:
    kid: str
    private_key: ec.EllipticCurvePrivateKey

    @classmethod
    def generate(cls) -> SigningKey:
        kid = time.strftime("%Y%m%d") + "-" + secrets.token_hex(4)
        return cls(kid, ec.generate_private_key(ec.SECP256R1()))

    @classmethod
    def from_pem(cls, kid: str, pem: str) -> SigningKey:
        key = serialization.load_pem_private_key(pem.encode(), password=None)
        if not isinstance(key, ec.EllipticCurvePrivateKey) or key.curve.name != "secp256r1":
            raise ValueError(f"key {kid!r} is not an EC P-256 private key (ES256)")
        return cls(kid, key)

    def pem(self) -> str:
        return self.private_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode()

    def public_jwk(self) -> dict[str, Any]:
        jwk: dict[str, Any] = ECAlgorithm.to_jwk(self.private_key.public_key(), as_dict=True)
        jwk.update({"kid": self.kid, "alg": ALGORITHM, "use": "sig"})
        return jwk


class KeyRing:
    def __init__(self, keys: list[SigningKey]) -> None:
        if not keys:
            raise ValueError("a key ring needs at least one key")
        kids = [k.kid for k in keys]
        if len(set(kids)) != len(kids):
            raise ValueError("key ids must be unique")
        self.keys = keys

    @property
    def active(self) -> SigningKey:
        return self.keys[0]

    def jwks(self) -> dict[str, Any]:
        return {"keys": [key.public_jwk() for key in self.keys]}


def parse_private_keys(raw: str) -> list[SigningKey]:
    """``[{"kid": "...", "pem": "-----BEGIN PRIVATE KEY-----..."}, ...]`` -> keys."""
    entries = json.loads(raw)
    if not isinstance(entries, list):
        raise ValueError("expected a JSON list of {kid, pem}")
    return [SigningKey.from_pem(str(entry["kid"]), str(entry["pem"])) for entry in entries]


def dump_private_keys(keys: list[SigningKey]) -> str:
    return json.dumps([{"kid": k.kid, "pem": k.pem()} for k in keys], indent=2)


def _load_or_create_local(path: Path) -> list[SigningKey]:
    if path.is_file():
        return parse_private_keys(path.read_text())
    path.parent.mkdir(parents=True, exist_ok=True)
    keys = [SigningKey.generate()]
    # Written with 0600 before any content lands, so the private key is never world-readable.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(dump_private_keys(keys))
    return keys


def load_key_ring(settings: GatewaySettings) -> KeyRing:
    """Keys from ZIPBOB_JWT__PRIVATE_KEYS; in local/test a persisted generated key instead."""
    raw = settings.jwt.private_keys.get_secret_value().strip()
    try:
        if raw:
            return KeyRing(parse_private_keys(raw))
        if settings.relaxed:
            return KeyRing(_load_or_create_local(settings.gateway_data_dir / KEY_FILE_NAME))
    except (ValueError, KeyError, TypeError) as exc:
        raise ConfigError(settings.service, [f"jwt.private_keys: {exc}"]) from None
    raise ConfigError(
        settings.service,
        ["jwt.private_keys: no signing keys; set ZIPBOB_JWT__PRIVATE_KEYS"],
    )
