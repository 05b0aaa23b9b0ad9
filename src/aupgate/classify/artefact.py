"""Save and load the embedded model's artefact folder (no pickle: npz + JSON).

Files: `model.npz` (heads, calibration), `manifest.json` (version, features, categories, data
summary), and for the static featuriser `static_vectors.npz` + `tokenizer.json`. The artefact's
identity is the SHA-256 over the files it lists, in order.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Final

import numpy as np

from aupgate.classify.backend import ClassifyError
from aupgate.classify.features import Featuriser, NgramFeatures, StaticFeatures
from aupgate.classify.model import Calibration, LinearHead, LinearModel

DEFAULT_DIR: Final = Path(__file__).resolve().parent / "artefacts"
STATIC_FILES: Final = ("static_vectors.npz", "tokenizer.json")
# The optional second stage (`classify/encoder.py`): the ONNX model and its calibration.
ENCODER_FILES: Final = ("encoder.onnx", "encoder.npz")


class ArtefactError(ClassifyError):
    """The artefact is missing, incomplete or does not match its manifest."""


def make_featurisers(names: list[str], folder: Path) -> tuple[Featuriser, ...]:
    out: list[Featuriser] = []
    for name in names:
        if name == "ngram":
            out.append(NgramFeatures())
        elif name == "static":
            out.append(StaticFeatures.load(folder))
        else:
            raise ArtefactError(f"unknown featuriser {name!r} in {folder / 'manifest.json'}")
    return tuple(out)


def files_of(manifest: dict[str, Any]) -> list[str]:
    """The files an artefact with this manifest consists of, in hashing order."""
    static = STATIC_FILES if "static" in manifest["features"] else ()
    second = ENCODER_FILES if "second_stage" in manifest else ()
    return ["manifest.json", "model.npz", *static, *second]


def sha256_of(folder: Path, names: list[str]) -> str:
    digest = hashlib.sha256()
    for name in names:
        digest.update(name.encode() + b"\0")
        digest.update((folder / name).read_bytes())
    return digest.hexdigest()


def save(model: LinearModel, folder: Path, manifest: dict[str, Any]) -> str:
    """Write `model` into `folder` (static vectors must already be there); returns its hash."""
    folder.mkdir(parents=True, exist_ok=True)
    names = [f.name for f in model.featurisers]
    np.savez_compressed(
        folder / "model.npz",
        prohibited_w=model.prohibited.weights.astype(np.float16),
        prohibited_b=model.prohibited.bias,
        category_w=model.category.weights.astype(np.float16),
        category_b=model.category.bias,
        slope=model.calibration.slope,
        intercept=model.calibration.intercept,
    )
    full = {**manifest, "features": names, "categories": list(model.categories)}
    (folder / "manifest.json").write_text(json.dumps(full, indent=2) + "\n", "utf-8")
    return sha256_of(folder, files_of(full))


def load(folder: Path = DEFAULT_DIR) -> tuple[LinearModel, dict[str, Any], str]:
    """The model, its manifest and its SHA-256; raises `ArtefactError` with the reason."""
    try:
        manifest: dict[str, Any] = json.loads((folder / "manifest.json").read_text("utf-8"))
        features = [str(f) for f in manifest["features"]]
        categories = tuple(str(c) for c in manifest["categories"])
        with np.load(folder / "model.npz") as npz:
            arrays = {k: npz[k].astype(np.float32) for k in npz.files}
        featurisers = make_featurisers(features, folder)
        sha = sha256_of(folder, files_of(manifest))
    except (OSError, KeyError, ValueError) as exc:
        raise ArtefactError(f"cannot load classifier artefact from {folder}: {exc}") from exc
    if arrays["category_w"].shape[1] != len(categories):
        raise ArtefactError(f"{folder}: category head does not match the manifest's categories")
    model = LinearModel(
        categories=categories,
        featurisers=featurisers,
        prohibited=LinearHead(arrays["prohibited_w"], arrays["prohibited_b"]),
        category=LinearHead(arrays["category_w"], arrays["category_b"]),
        calibration=Calibration(arrays["slope"], arrays["intercept"]),
    )
    return model, manifest, sha
