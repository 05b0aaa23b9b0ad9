"""Signed notes against the Go golang.org/x/mod/sumdb/note PeterNeumann vector."""

from __future__ import annotations

import pytest

from aupgate.audit.errors import VerificationError
from aupgate.audit.note import CheckpointBody, Signer, Verifier

VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
SKEY = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
TEXT = (
    "If you think cryptography is the answer to your problem,\n"
    "then you don't know what your problem is.\n"
)
SIG = (
    "\u2014 PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqd"
    "ngotpRZb6KE6RyyBwJnAM=\n"
)
NOTE = TEXT + "\n" + SIG


def test_go_vector_opens() -> None:
    assert Verifier.from_vkey(VKEY).open(NOTE) == TEXT


def test_signing_reproduces_the_go_note_byte_for_byte() -> None:
    signer = Signer.from_skey(SKEY)
    assert signer.sign(TEXT) == NOTE
    assert signer.verifier.vkey == VKEY
    assert signer.skey == SKEY


def test_tampered_text_is_rejected() -> None:
    with pytest.raises(VerificationError, match="bad signature"):
        Verifier.from_vkey(VKEY).open(NOTE.replace("problem,", "problem;"))


def test_other_keys_are_ignored_but_one_known_signature_is_required() -> None:
    other = Signer.generate("Witness")
    cosigned = NOTE + other.sign(TEXT).split("\n\n")[1]
    assert Verifier.from_vkey(VKEY).open(cosigned) == TEXT
    with pytest.raises(VerificationError, match="no signature by key PeterNeumann"):
        Verifier.from_vkey(VKEY).open(other.sign(TEXT))


@pytest.mark.parametrize(
    "vkey",
    [
        VKEY.replace("c74f20a3", "c74f20a4"),  # wrong key id
        VKEY.replace("Peter", "Paul"),  # name not bound to the id
        "PeterNeumann+c74f20a3",
        "PeterNeumann+c74f20a3+!!!",
    ],
)
def test_malformed_verifier_keys_are_refused(vkey: str) -> None:
    with pytest.raises(VerificationError):
        Verifier.from_vkey(vkey)


def test_checkpoint_body_round_trip_and_strictness() -> None:
    body = CheckpointBody("example.org/log", 42, bytes(range(32)))
    assert CheckpointBody.parse(body.text()) == body
    assert body.text().startswith("example.org/log\n42\n")
    for bad in ("o\n042\n" + body.text().split("\n")[2] + "\n", "o\n1\nAAAA\n", "o\n1\n"):
        with pytest.raises(VerificationError):
            CheckpointBody.parse(bad)
