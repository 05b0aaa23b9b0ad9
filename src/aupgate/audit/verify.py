"""Offline verification of an export, trusting nothing but the verifier key.

Every leaf hash and every checkpoint root is recomputed from the entries; every checkpoint
signature and every consecutive consistency proof is checked. The report names the first bad
index (or checkpoint) and what is wrong with it.
"""

from __future__ import annotations

import hashlib
import itertools
import json
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import Any

from aupgate.audit.entries import index_of
from aupgate.audit.errors import VerificationError
from aupgate.audit.export import FORMAT
from aupgate.audit.merkle import (
    CompactRange,
    fold,
    range_nodes,
    subtree_levels,
    verify_consistency,
)
from aupgate.audit.model import Checkpoint, InclusionProof
from aupgate.audit.note import Verifier

CHUNK_LEVEL = 14
CHUNK = 1 << CHUNK_LEVEL


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with an export: at an entry index, a checkpoint, or the whole."""

    what: str
    index: int | None = None
    checkpoint: int | None = None

    def __str__(self) -> str:
        return self.what


@dataclass(slots=True)
class VerifyReport:
    entries: int = 0
    checkpoints: int = 0
    size: int = 0
    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def first_bad_index(self) -> int | None:
        return next((p.index for p in self.problems if p.index is not None), None)

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "entries": self.entries,
            "checkpoints": self.checkpoints,
            "size": self.size,
            "problems": [
                {"what": p.what, "index": p.index, "checkpoint": p.checkpoint}
                for p in self.problems
            ],
        }


def _read_manifest(directory: Path) -> dict[str, Any]:
    try:
        manifest = json.loads((directory / "manifest.json").read_text())
    except (OSError, ValueError) as exc:
        raise VerificationError(f"{directory} is not an audit export: {exc}") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise VerificationError(f"{directory} is not an {FORMAT} export")
    return manifest


def _checkpoints(
    directory: Path, verifier: Verifier, origin: str, report: VerifyReport
) -> dict[int, Checkpoint]:
    found: dict[int, Checkpoint] = {}
    folder = directory / "checkpoints"
    files = sorted(folder.iterdir(), key=lambda p: (len(p.name), p.name)) if folder.is_dir() else []
    for path in files:
        if not path.name.isdigit():
            report.problems.append(Problem(f"unexpected file checkpoints/{path.name}"))
            continue
        size = int(path.name)
        try:
            cp = Checkpoint.open(path.read_text(), verifier)
        except (VerificationError, UnicodeDecodeError) as exc:
            report.problems.append(Problem(f"checkpoint {size}: {exc}", checkpoint=size))
            continue
        if cp.size != size:
            what = f"checkpoint file {size} holds a checkpoint of size {cp.size}"
            report.problems.append(Problem(what, checkpoint=size))
        elif cp.origin != origin:
            what = f"checkpoint {size} is for origin {cp.origin!r}, not {origin!r}"
            report.problems.append(Problem(what, checkpoint=size))
        else:
            found[size] = cp
    return found


def _check_consistency(
    directory: Path, checkpoints: dict[int, Checkpoint], report: VerifyReport
) -> None:
    proofs: dict[tuple[int, int], list[bytes]] = {}
    path = directory / "consistency.jsonl"
    lines = path.read_text().splitlines() if path.exists() else []
    for number, line in enumerate(lines, 1):
        try:
            item = json.loads(line)
            hashes = [bytes.fromhex(h) for h in item["hashes"]]
            proofs[(int(item["old"]), int(item["new"]))] = hashes
        except (ValueError, KeyError, TypeError):
            report.problems.append(Problem(f"consistency.jsonl line {number} is malformed"))
    sizes = sorted(checkpoints)
    for old, new in itertools.pairwise(sizes):
        proof = proofs.get((old, new))
        a, b = checkpoints[old], checkpoints[new]
        if proof is None or not verify_consistency(old, new, proof, a.root, b.root):
            what = f"checkpoint {new} is not proven consistent with checkpoint {old}"
            report.problems.append(Problem(what, checkpoint=new))


def _misplaced(i: int, claimed: int | None) -> str:
    if claimed is None:
        return f"entry {i} is not a log entry (malformed line)"
    if claimed > i:
        return f"entry {i} is missing or out of order: its place holds entry {claimed}"
    return f"an extra entry sits at index {i}: it claims index {claimed} (inserted or repeated)"


def _root_at(edge: CompactRange, lo: int, levels: list[list[bytes]], size: int) -> bytes:
    """Root of the first `size` leaves: the edge up to `lo`, then this chunk's nodes."""
    inner = [levels[level][index - (lo >> level)] for level, index in range_nodes(lo, size)]
    return fold([*edge.hashes, *inner])


def _scan_entries(
    directory: Path, checkpoints: dict[int, Checkpoint], final: int, report: VerifyReport
) -> None:
    """Check entries chunk by chunk (CHUNK leaves, a perfect subtree when full)."""
    hints_path = directory / "leaf-hashes.bin"
    hints = hints_path.read_bytes() if hints_path.exists() else b""
    edge = CompactRange()
    previous = 0
    sha256 = hashlib.sha256
    with (directory / "entries.jsonl").open("rb") as entries:
        while True:
            lines = list(islice(entries, CHUNK))
            if not lines:
                break
            lo = edge.size
            datas = [line[:-1] if line.endswith(b"\n") else line for line in lines]
            leaves = [sha256(b"\x00" + d).digest() for d in datas]
            bad = _first_structural_problem(lo, datas, leaves, hints)
            stop = lo + len(datas) if bad is None else bad.index
            assert stop is not None
            levels = subtree_levels(leaves)
            for size in sorted(s for s in checkpoints if lo < s <= stop):
                if _root_at(edge, lo, levels, size) != checkpoints[size].root:
                    what = (
                        f"entries {previous}..{size - 1} do not produce the root signed "
                        f"in checkpoint {size}"
                    )
                    report.problems.append(Problem(what, index=previous, checkpoint=size))
                    return
                previous = size
            if bad is not None:
                report.problems.append(bad)
                return
            report.entries = stop
            if len(datas) < CHUNK:
                break
            edge.append_subtree(CHUNK_LEVEL, levels[CHUNK_LEVEL][0])
    count = report.entries
    if checkpoints and count < max(checkpoints):
        signed = max(checkpoints)
        what = f"log truncated: checkpoint {signed} signs {signed} entries, {count} are present"
        report.problems.append(Problem(what, index=count))
    elif count > final:
        what = f"entries from index {final} on are not covered by any signed checkpoint"
        report.problems.append(Problem(what, index=final))
    elif hints and len(hints) != 32 * count:
        report.problems.append(Problem("leaf-hashes.bin does not match the number of entries"))


def _first_structural_problem(
    lo: int, datas: list[bytes], leaves: list[bytes], hints: bytes
) -> Problem | None:
    """The first entry of a chunk that claims the wrong index or differs from its hint."""
    misplaced = next(
        (offset for offset, data in enumerate(datas) if index_of(data) != lo + offset), None
    )
    checked = len(leaves) if misplaced is None else misplaced
    if hints and hints[32 * lo : 32 * (lo + checked)] != b"".join(leaves[:checked]):
        for offset in range(checked):
            i = lo + offset
            if hints[32 * i : 32 * i + 32] != leaves[offset]:
                what = f"entry {i} was altered: it does not match its logged leaf hash"
                return Problem(what, index=i)
    if misplaced is not None:
        i = lo + misplaced
        return Problem(_misplaced(i, index_of(datas[misplaced])), index=i)
    return None


def verify_export(directory: str | Path, public_key_text: str) -> VerifyReport:
    """Verify an export against a trusted verifier key (`NAME+ID+BASE64`)."""
    directory = Path(directory)
    verifier = Verifier.from_vkey(public_key_text)
    manifest = _read_manifest(directory)
    try:
        origin, final = str(manifest["origin"]), int(manifest["size"])
        listed = [int(size) for size in manifest["checkpoints"]]
    except (KeyError, ValueError, TypeError):
        raise VerificationError("manifest.json lacks origin, size or checkpoints") from None
    if not (directory / "entries.jsonl").is_file():
        raise VerificationError(f"{directory} has no entries.jsonl")
    report = VerifyReport(size=final)
    checkpoints = _checkpoints(directory, verifier, origin, report)
    report.checkpoints = len(checkpoints)
    for size in listed:
        if size not in checkpoints and not any(p.checkpoint == size for p in report.problems):
            report.problems.append(Problem(f"checkpoint {size} is missing", checkpoint=size))
    if final not in checkpoints and final > 0:
        report.problems.append(Problem(f"no valid checkpoint signs the final size {final}"))
    _check_consistency(directory, checkpoints, report)
    _scan_entries(directory, checkpoints, final, report)
    return report


def verify_inclusion_proof(proof_json: dict[str, Any], public_key_text: str) -> InclusionProof:
    """Check a proof from `aupgate audit prove` offline; returns it, or raises
    VerificationError naming what does not hold."""
    verifier = Verifier.from_vkey(public_key_text)
    try:
        proof = InclusionProof.from_json(proof_json, verifier)
    except (KeyError, ValueError, TypeError) as exc:
        raise VerificationError(f"malformed inclusion proof: {exc}") from None
    if index_of(proof.entry) != proof.index:
        raise VerificationError(f"the entry in the proof does not claim index {proof.index}")
    proof.verify(verifier)
    return proof
