"""The colocated engine's guard on torch's process-wide numeric switches (CPU; the engine itself: test_colocate_gpu.py)."""

import torch

from formalpi.engine.colocate import numeric_settings, restore_numeric_settings


def test_switches_changed_after_a_snapshot_are_set_back_and_named():
    before = numeric_settings()
    try:
        torch.backends.cuda.matmul.allow_bf16_reduced_precision_reduction = not before[
            "cuda.matmul.allow_bf16_reduced_precision_reduction"
        ]
        torch.backends.cuda.enable_flash_sdp(not before["sdp.flash"])
        torch.set_default_dtype(torch.float64)
        changed = restore_numeric_settings(before)
        assert set(changed) == {"cuda.matmul.allow_bf16_reduced_precision_reduction", "sdp.flash", "default_dtype"}
        assert changed["default_dtype"] == (torch.float64, torch.float32)
        assert numeric_settings() == before
        assert restore_numeric_settings(before) == {}
    finally:
        torch.set_default_dtype(torch.float32)
        torch.backends.cuda.matmul.allow_bf16_reduced_precision_reduction = before[
            "cuda.matmul.allow_bf16_reduced_precision_reduction"
        ]
        torch.backends.cuda.enable_flash_sdp(before["sdp.flash"])
