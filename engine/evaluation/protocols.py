"""The attack protocols of the evaluations, by name: ``paper`` is DVERGE's (Sec. 4.3 and
appendix C.3: white-box PGD with 50 steps and 5 random starts, black-box transfer attacks
with 100 iterations), ``quick`` is sized for interactive use on a CPU (and under-estimates
the attacks slightly). Every step size is ε / :data:`engine.attacks.pgd.STEP_RATIO`."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Protocol:
    name: str
    pgd_steps: int  # white-box and within-ensemble PGD
    pgd_restarts: int
    transfer_steps: int  # black-box transfer attacks on the surrogates

    def describe(self) -> str:
        return (f"PGD-{self.pgd_steps}, {self.pgd_restarts} start{'s' if self.pgd_restarts > 1 else ''}; "
                f"transfer attacks {self.transfer_steps} iterations")


PROTOCOLS: dict[str, Protocol] = {
    "quick": Protocol("quick", pgd_steps=20, pgd_restarts=1, transfer_steps=20),
    "paper": Protocol("paper", pgd_steps=50, pgd_restarts=5, transfer_steps=100),
}
