"""The deployment's audit secrets under `<home>/audit/`: checkpoint signing key, prompt HMAC key.

Files are created once, atomically (write a private temp file, then hard-link it into place),
so several processes starting together end up sharing one key rather than racing two.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from aupgate.audit.errors import AuditError
from aupgate.audit.note import Signer

SIGNER_FILE = "checkpoint.key"
VERIFIER_FILE = "checkpoint.vkey"
HMAC_FILE = "prompt-hmac.key"


def audit_dir(home: Path) -> Path:
    return home / "audit"


def _create_exclusive(path: Path, text: str) -> bool:
    """Write `text` to `path` unless it exists; True if this call created it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.link(tmp, path)
        return True
    except FileExistsError:
        return False
    finally:
        tmp.unlink(missing_ok=True)


def _read(path: Path) -> str:
    try:
        return path.read_text().strip()
    except OSError as exc:
        raise AuditError(f"cannot read audit key {path}: {exc.strerror}") from None


def generate_signer(home: Path, name: str) -> Signer:
    """Create the checkpoint signing key; refuse if one exists (it signs the whole history)."""
    signer = Signer.generate(name)
    key_path = audit_dir(home) / SIGNER_FILE
    if not _create_exclusive(key_path, signer.skey + "\n"):
        raise AuditError(f"an audit signing key already exists at {key_path}; not replacing it")
    (audit_dir(home) / VERIFIER_FILE).write_text(signer.verifier.vkey + "\n")
    return signer


def load_signer(home: Path, name: str) -> Signer:
    """The checkpoint signing key, created on first use."""
    key_path = audit_dir(home) / SIGNER_FILE
    if not key_path.exists():
        try:
            return generate_signer(home, name)
        except AuditError:
            pass  # another process created it first: use theirs
    signer = Signer.from_skey(_read(key_path))
    vkey_path = audit_dir(home) / VERIFIER_FILE
    if not vkey_path.exists():
        vkey_path.write_text(signer.verifier.vkey + "\n")
    return signer


def load_hmac_secret(home: Path) -> bytes:
    """The per-deployment secret for prompt digests, created on first use."""
    path = audit_dir(home) / HMAC_FILE
    _create_exclusive(path, secrets.token_hex(32) + "\n")
    secret = bytes.fromhex(_read(path))
    if len(secret) < 32:
        raise AuditError(f"prompt HMAC secret in {path} is shorter than 32 bytes")
    return secret
