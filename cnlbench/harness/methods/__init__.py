"""Noisy-label methods, one file each, behind :class:`cnlbench.harness.methods.base.Method`."""

from cnlbench.harness.methods.base import (
    Batch,
    Method,
    MethodSetup,
    StepOutput,
    get_method,
    method_names,
    register_method,
)

__all__ = ["Batch", "Method", "MethodSetup", "StepOutput", "get_method", "method_names", "register_method"]
