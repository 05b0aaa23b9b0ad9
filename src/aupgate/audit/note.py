"""C2SP signed notes (Ed25519) and C2SP tlog-checkpoint bodies.

Key formats follow golang.org/x/mod/sumdb/note, so Go tooling reads our keys and checkpoints:
verifier key `<name>+<hex key id>+<base64(0x01 || public key)>`, signer key
`PRIVATE+KEY+<name>+<hex key id>+<base64(0x01 || seed)>`, key id
`SHA-256(name || 0x0A || 0x01 || public key)[:4]`.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
)

from aupgate.audit.errors import VerificationError

ALG_ED25519 = 0x01
SIGNATURE_PREFIX = "\u2014 "  # em dash and a space start every signature line
MAX_SIGNATURES = 100


def _raw_public(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(Encoding.Raw, PublicFormat.Raw)


def key_id(name: str, public_key: bytes) -> bytes:
    """The 4-byte key id of an Ed25519 note key."""
    return hashlib.sha256(name.encode() + b"\n" + bytes([ALG_ED25519]) + public_key).digest()[:4]


def _check_name(name: str) -> str:
    if not name or "+" in name or any(c.isspace() for c in name):
        raise VerificationError(f"invalid note key name {name!r} (no '+', no whitespace)")
    return name


def _b64(text: str, what: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise VerificationError(f"{what} is not valid base64") from None


@dataclass(frozen=True, slots=True)
class Verifier:
    """A named Ed25519 public key that opens notes."""

    name: str
    key_id: bytes
    public_key: Ed25519PublicKey

    @classmethod
    def from_vkey(cls, vkey: str) -> Verifier:
        parts = vkey.strip().split("+", 2)
        if len(parts) != 3:
            raise VerificationError("verifier key must look like NAME+KEYID+BASE64")
        name, hex_id, b64 = parts
        raw = _b64(b64, "verifier key")
        if len(raw) != 33 or raw[0] != ALG_ED25519:
            raise VerificationError("verifier key is not an Ed25519 note key")
        if hex_id != key_id(_check_name(name), raw[1:]).hex():
            raise VerificationError("verifier key id does not match its name and key")
        return cls(name, bytes.fromhex(hex_id), Ed25519PublicKey.from_public_bytes(raw[1:]))

    @property
    def vkey(self) -> str:
        raw = bytes([ALG_ED25519]) + _raw_public(self.public_key)
        return f"{self.name}+{self.key_id.hex()}+{base64.b64encode(raw).decode()}"

    def open(self, note: str) -> str:
        """The signed text of `note`, if this key signed it; else VerificationError."""
        text, sep, signatures = note.rpartition("\n\n")
        if not sep or not note.endswith("\n"):
            raise VerificationError("malformed note: no blank line before the signatures")
        text += "\n"
        lines = signatures.removesuffix("\n").split("\n")
        if len(lines) > MAX_SIGNATURES:
            raise VerificationError(f"note has more than {MAX_SIGNATURES} signatures")
        for line in lines:
            if not line.startswith(SIGNATURE_PREFIX):
                raise VerificationError(f"malformed signature line {line[:40]!r}")
            name, _, blob = line[len(SIGNATURE_PREFIX) :].partition(" ")
            sig = _b64(blob, "signature")
            if name != self.name or sig[:4] != self.key_id:
                continue  # another signer (a witness, a rotated key): ignored, as the spec says
            try:
                self.public_key.verify(sig[4:], text.encode())
            except InvalidSignature:
                raise VerificationError(f"bad signature by {self.name} on the note") from None
            return text
        raise VerificationError(f"note carries no signature by key {self.name}+{self.key_id.hex()}")


@dataclass(frozen=True, slots=True)
class Signer:
    """A named Ed25519 private key that signs notes."""

    name: str
    private_key: Ed25519PrivateKey

    @classmethod
    def generate(cls, name: str) -> Signer:
        return cls(_check_name(name), Ed25519PrivateKey.generate())

    @classmethod
    def from_skey(cls, skey: str) -> Signer:
        parts = skey.strip().split("+", 4)
        if len(parts) != 5 or parts[:2] != ["PRIVATE", "KEY"]:
            raise VerificationError("signer key must look like PRIVATE+KEY+NAME+KEYID+BASE64")
        _, _, name, hex_id, b64 = parts
        raw = _b64(b64, "signer key")
        if len(raw) != 33 or raw[0] != ALG_ED25519:
            raise VerificationError("signer key is not an Ed25519 note key")
        signer = cls(_check_name(name), Ed25519PrivateKey.from_private_bytes(raw[1:]))
        if signer.verifier.key_id.hex() != hex_id:
            raise VerificationError("signer key id does not match its name and key")
        return signer

    @property
    def skey(self) -> str:
        seed = self.private_key.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
        raw = bytes([ALG_ED25519]) + seed
        kid = self.verifier.key_id.hex()
        return f"PRIVATE+KEY+{self.name}+{kid}+{base64.b64encode(raw).decode()}"

    @property
    def verifier(self) -> Verifier:
        public = self.private_key.public_key()
        return Verifier(self.name, key_id(self.name, _raw_public(public)), public)

    def sign(self, text: str) -> str:
        """A signed note of `text` (which must end in a newline)."""
        if not text.endswith("\n") or "\n\n" in text:
            raise VerificationError("note text must end with a newline and have no blank line")
        sig = self.verifier.key_id + self.private_key.sign(text.encode())
        return f"{text}\n{SIGNATURE_PREFIX}{self.name} {base64.b64encode(sig).decode()}\n"


@dataclass(frozen=True, slots=True)
class CheckpointBody:
    """The signed text of a C2SP tlog-checkpoint: origin, tree size, root hash."""

    origin: str
    size: int
    root: bytes

    def text(self) -> str:
        return f"{self.origin}\n{self.size}\n{base64.b64encode(self.root).decode()}\n"

    @classmethod
    def parse(cls, text: str) -> CheckpointBody:
        lines = text.split("\n")
        if len(lines) < 4 or lines[-1] != "":
            raise VerificationError("checkpoint must have origin, size and root lines")
        origin, size, root = lines[0], lines[1], lines[2]
        if not origin or not size.isdigit() or (size != "0" and size.startswith("0")):
            raise VerificationError(f"malformed checkpoint size or origin: {size!r}")
        raw = _b64(root, "checkpoint root")
        if len(raw) != 32:
            raise VerificationError("checkpoint root is not a SHA-256 hash")
        return cls(origin, int(size), raw)
