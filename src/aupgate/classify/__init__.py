"""Use classification: text -> calibrated scores for every AUP category.

Backends: `embedded` (default, shipped linear model on CPU), `llama_guard` (a Llama Guard server)
and `ensemble`. Training and evaluation live beside them (`dataset`, `train`, `evaluate`).
"""
