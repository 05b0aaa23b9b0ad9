"""aupgate: enforce an acceptable-use policy, with scoped exceptions and proof."""

__version__ = "0.1.0"
