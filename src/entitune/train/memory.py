"""Freed memory handed back to the operating system after each training step on the CPU: the one
function lives in ``entitune.memory`` (the service calls it too); its docstring says why."""
from ..memory import release_freed_memory

__all__ = ["release_freed_memory"]
