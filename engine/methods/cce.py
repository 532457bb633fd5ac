"""CCE, crossing collaborative ensemble (Bui et al. 2021), Eq. (5): each member n is
trained on the clean batch, on its own PGD adversarial examples x_aⁿ, and on every other
member's x_aⁱ, where it promotes (λpm·p_y·CE) or demotes (-λdm·(1-p_y)·H) robustness by
the detached soft indicator p_y = p(y | x_aⁱ, fⁿ).

Modes: ``rm`` robustness (λpm = λdm = 1) and ``dm`` detection (λpm = 0, λdm = 5).
"""
from __future__ import annotations

from typing import Literal

import torch
from pydantic import Field, model_validator

from ..attacks import pgd
from ..ensemble import attack_mode
from ..losses import cce_member_losses
from .base import Batch, Losses, Method, Params, member_list, register_method
from .dverge import advt_budget

MODES = {"rm": (1.0, 1.0), "dm": (0.0, 5.0)}


class CCEParams(Params):
    mode: Literal["rm", "dm"] = Field("rm", description="rm = robustness mode, dm = detection mode")
    lambda_pm: float | None = Field(None, ge=0, description="promoting weight (default from mode)")
    lambda_dm: float | None = Field(None, ge=0, description="demoting weight (default from mode)")
    advt_eps: float | None = Field(None, gt=0, le=1)
    advt_step: float | None = Field(None, gt=0)
    advt_steps: int = Field(10, ge=1, le=1000)

    @model_validator(mode="after")
    def _fill_from_mode(self):
        pm, dm = MODES[self.mode]
        object.__setattr__(self, "lambda_pm", pm if self.lambda_pm is None else self.lambda_pm)
        object.__setattr__(self, "lambda_dm", dm if self.lambda_dm is None else self.lambda_dm)
        return self


@register_method()
class CCE(Method):
    name = "cce"
    Params = CCEParams

    def loss(self, ensemble, batch: Batch) -> Losses:
        budget = advt_budget(self.params, self.spec)
        with attack_mode(ensemble):
            adversarial = torch.stack([pgd(m, batch.x, batch.y, **budget)[0] for m in ensemble.members])
        k, b = adversarial.shape[:2]
        clean_logits = ensemble.member_logits(batch.x)
        flat = adversarial.flatten(0, 1)  # every member sees every member's examples
        adv_logits = torch.stack([m(flat).view(k, b, -1) for m in ensemble.members])
        per_member = cce_member_losses(clean_logits, adv_logits, batch.y,
                                       self.params.lambda_pm, self.params.lambda_dm)
        return Losses(per_member.sum(), member_list(per_member))
