"""`ProcessLimits`: what one isolated worker process may use."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["ProcessLimits"]


@dataclass(frozen=True, slots=True)
class ProcessLimits:
    """Bounds for each worker of a pool.

    ``ProcessLimits(memory_mb=512, cpu_s=10, max_output_bytes=4 << 20)``

    - ``memory_mb``: the worker's address-space limit (RLIMIT_AS), interpreter included; an
      allocation past it is a `WorkerMemoryError`.
    - ``cpu_s``: CPU seconds one call may use (RLIMIT_CPU, re-armed before every call); the
      wall-clock ``timeout_s`` of each call is enforced separately by the parent.
    - ``max_output_bytes``: the largest encoded result a call may return.
    """

    memory_mb: int
    cpu_s: float
    max_output_bytes: int

    def __post_init__(self) -> None:
        if self.memory_mb < 32:
            raise ValueError("memory_mb must be at least 32 (the interpreter needs it)")
        if self.cpu_s <= 0:
            raise ValueError("cpu_s must be positive")
        if self.max_output_bytes < 1024:
            raise ValueError("max_output_bytes must be at least 1024")
