"""formalpi: privileged information in LLM post-training, with strict Lean 4 verification at its centre."""

__version__ = "0.1.0"
