"""Writing an export: everything an auditor needs, with only the public key to trust.

Layout of the directory:
  manifest.json     format, origin, size, verifier key, checkpoint sizes
  log.vkey          the verifier key (informational; the auditor brings their own copy)
  entries.jsonl     line i = the exact leaf bytes of entry i (canonical JSON, no newlines)
  leaf-hashes.bin   the leaf hash of every entry at export time (32 bytes each): lets the
                    verifier name the exact entry later changed in entries.jsonl (signed
                    roots alone only bound a change to the span between two checkpoints)
  checkpoints/N     the signed note of the checkpoint at tree size N
  consistency.jsonl consistency proofs between consecutive checkpoints
"""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import TYPE_CHECKING

from aupgate.audit.errors import AuditError
from aupgate.audit.merkle import leaf_hash
from aupgate.audit.model import Checkpoint

if TYPE_CHECKING:
    from aupgate.audit.storage.log import AuditLog

FORMAT = "aupgate-audit-export/1"


def write_export(log: AuditLog, directory: Path) -> Checkpoint:
    """Export the log up to a fresh checkpoint into an empty or new `directory`."""
    if directory.exists() and any(directory.iterdir()):
        raise AuditError(f"export directory {directory} is not empty")
    final = log.checkpoint()
    (directory / "checkpoints").mkdir(parents=True, exist_ok=True)
    notes = log.checkpoint_notes(final.size)
    for size, note in notes:
        (directory / "checkpoints" / str(size)).write_text(note)
    with (directory / "consistency.jsonl").open("w") as out:
        for (old, _), (new, _) in itertools.pairwise(notes):
            proof = log.prove_consistency(old, new)
            out.write(
                json.dumps({"old": old, "new": new, "hashes": [h.hex() for h in proof.hashes]})
            )
            out.write("\n")
    with (
        (directory / "entries.jsonl").open("wb") as entries,
        (directory / "leaf-hashes.bin").open("wb") as hashes,
    ):
        for data in log.iter_entries(final.size):
            entries.write(data + b"\n")
            hashes.write(leaf_hash(data))
    vkey = log.verifier.vkey
    (directory / "log.vkey").write_text(vkey + "\n")
    manifest = {
        "format": FORMAT,
        "origin": log.origin,
        "size": final.size,
        "vkey": vkey,
        "checkpoints": [size for size, _ in notes],
    }
    (directory / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    return final
