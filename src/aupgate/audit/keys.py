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


def _temp_beside(path: Path) -> Path:
    """A private name in the same directory, so a link or rename into place is atomic."""
    return path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")


def _create_exclusive(path: Path, text: str) -> bool:
    """Write `text` to `path` unless it exists; True if this call created it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _temp_beside(path)
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


def _replace(path: Path, text: str) -> None:
    """Write `text` to `path` atomically: readers see the old file or the whole new one."""
    tmp = _temp_beside(path)
    tmp.write_text(text)
    os.replace(tmp, path)


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
    _replace(audit_dir(home) / VERIFIER_FILE, signer.verifier.vkey + "\n")
    return signer


def load_signer(home: Path, name: str) -> Signer:
    """The checkpoint signing key, created on first use.

    A missing signing key beside an existing verifier key is an error, never a reason to make
    a new one: a new key cannot sign the existing history, and would replace the published one.
    """
    key_path = audit_dir(home) / SIGNER_FILE
    vkey_path = audit_dir(home) / VERIFIER_FILE
    if not key_path.exists():
        if vkey_path.exists():
            raise AuditError(
                f"the audit signing key {key_path} is missing but its verifier key exists; "
                "restore the signing key (a new one cannot sign the existing history)"
            )
        try:
            return generate_signer(home, name)
        except AuditError:
            pass  # another process created it first: use theirs
    signer = Signer.from_skey(_read(key_path))
    if not vkey_path.exists():
        _replace(vkey_path, signer.verifier.vkey + "\n")
    elif _read(vkey_path) != signer.verifier.vkey:
        raise AuditError(f"{vkey_path} is not the verifier key of {key_path}")
    return signer


def load_hmac_secret(home: Path) -> bytes:
    """The per-deployment secret for prompt digests, created on first use.

    Load it before the signer: once a verifier key exists the deployment has a history whose
    digests only this secret reproduces, so a missing secret is an error, not a fresh start.
    """
    path = audit_dir(home) / HMAC_FILE
    if not path.exists() and (audit_dir(home) / VERIFIER_FILE).exists():
        raise AuditError(
            f"the prompt digest secret {path} is missing but the log has a signing key; "
            "restore it (a new secret would not reproduce the recorded digests)"
        )
    _create_exclusive(path, secrets.token_hex(32) + "\n")
    secret = bytes.fromhex(_read(path))
    if len(secret) < 32:
        raise AuditError(f"prompt HMAC secret in {path} is shorter than 32 bytes")
    return secret
