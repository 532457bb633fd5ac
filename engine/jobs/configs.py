"""Training configurations for jobs: validation with messages a page or the CLI can show,
and the defaults a form starts from."""
from __future__ import annotations

from typing import Any


from ..config import TrainConfig, make_config, problems
from .store import JobError


def build_config(method: str, preset: str | None = "quick", **fields: Any) -> TrainConfig:
    """:func:`engine.config.make_config`, with a validation failure turned into a
    :class:`JobError` that names each bad field (what the page and CLI show)."""
    from ..train import TrainingError, check_method

    try:
        config = make_config(method, preset, **fields)
        check_method(config)  # e.g. DVERGE layer=99 on a 5-layer LeNet: refused at submit, not in the worker
        return config
    except TrainingError as exc:
        raise JobError(str(exc)) from None
    except ValueError as exc:  # pydantic's ValidationError included
        raise JobError(f"invalid training configuration: {problems(exc)}") from None


def _as_config(config: TrainConfig | dict) -> TrainConfig:
    if isinstance(config, TrainConfig):
        return config
    values = dict(config)
    if "method" not in values:
        raise JobError("invalid training configuration: 'method' is required")
    return build_config(values.pop("method"), values.pop("preset", None), **values)


def pretrain_epochs(config: TrainConfig) -> int:
    """Baseline pre-training epochs this run does before its method (DVERGE Alg. 1, l. 1-4)."""
    from ..methods import get_method

    if get_method(config.method).starts_from_baseline and not config.init_from:
        return config.pretrain_epochs
    return 0


def form_defaults(method: str, preset: str | None) -> dict[str, Any]:
    """Every training field's value for ``method`` under ``preset`` (what a form shows as
    default), with the method's own learning rate when the preset leaves it, its optimizer's
    name and whether it starts from a trained baseline."""
    from ..methods import get_method

    values = build_config(method, preset).model_dump()
    recipe = get_method(method).optimizer
    if values["lr"] is None:
        values["lr"] = recipe.lr
    values["optimizer"] = recipe.name
    values["uses_pretrain"] = get_method(method).starts_from_baseline
    return values
