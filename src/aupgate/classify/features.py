"""Text -> feature vectors, the two cheap featurisers the embedded classifier can combine.

`NgramFeatures`: hashed word 1-2-grams and character 2-5-grams (no vocabulary to ship).
`StaticFeatures`: the mean of per-token vectors distilled from all-MiniLM-L6-v2 (see `distill`),
over the MiniLM WordPiece tokenizer. Both return L2-normalised rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, Final, Protocol

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp  # type: ignore[import-untyped]
from sklearn.feature_extraction.text import HashingVectorizer  # type: ignore[import-untyped]
from tokenizers import Tokenizer

# A dense array or a scipy CSR matrix (scipy ships no type information).
Matrix = Any
NGRAM_FEATURES: Final = 2**16


class Featuriser(Protocol):
    name: str

    def __call__(self, texts: Sequence[str]) -> Matrix: ...


class NgramFeatures:
    """Hashed n-grams; stateless, so the artefact holds only the head's weights."""

    name = "ngram"

    def __init__(self, n_features: int = NGRAM_FEATURES) -> None:
        half = n_features // 2
        self._words = HashingVectorizer(
            ngram_range=(1, 2), n_features=half, alternate_sign=False, norm=None,
            token_pattern=r"(?u)\b\w+\b", dtype=np.float32,
        )  # fmt: skip
        self._chars = HashingVectorizer(
            analyzer="char_wb", ngram_range=(2, 5), n_features=half, alternate_sign=False,
            norm=None, dtype=np.float32,
        )  # fmt: skip

    def __call__(self, texts: Sequence[str]) -> sp.csr_matrix:
        words = self._words.transform(texts)
        chars = self._chars.transform(texts)
        # Sub-linear counts, then per-block L2 so long texts and short texts weigh alike.
        blocks = []
        for block in (words, chars):
            block.data = np.log1p(block.data)
            norms = np.sqrt(np.asarray(block.multiply(block).sum(axis=1)).ravel())
            blocks.append(sp.diags(1.0 / np.maximum(norms, 1e-9)) @ block)
        return sp.hstack(blocks, format="csr", dtype=np.float32) / np.float32(np.sqrt(2.0))


class StaticFeatures:
    """Mean-pooled static token vectors (Model2Vec-style distillation of MiniLM)."""

    name = "static"

    def __init__(self, tokenizer: Tokenizer, vectors: npt.NDArray[np.float32]) -> None:
        self._tokenizer = tokenizer
        self._tokenizer.no_truncation()
        self._tokenizer.no_padding()
        self._vectors = vectors
        self._special = {tokenizer.token_to_id(t) for t in ("[CLS]", "[SEP]", "[PAD]")}

    @classmethod
    def load(cls, folder: Path) -> StaticFeatures:
        tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        with np.load(folder / "static_vectors.npz") as npz:
            vectors = npz["vectors"].astype(np.float32)
        return cls(tokenizer, vectors)

    @property
    def dims(self) -> int:
        return int(self._vectors.shape[1])

    def __call__(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        out = np.zeros((len(texts), self.dims), dtype=np.float32)
        for row, enc in enumerate(
            self._tokenizer.encode_batch(list(texts), add_special_tokens=False)
        ):
            ids = [i for i in enc.ids if i not in self._special]
            if ids:
                out[row] = self._vectors[ids].mean(axis=0)
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        normalised: npt.NDArray[np.float32] = out / np.maximum(norms, 1e-9)
        return normalised
