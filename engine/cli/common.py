"""What every command shares: the user-facing error, JSON/text output, ``KEY=VALUE`` lists,
and one flag per field of a pydantic config."""
from __future__ import annotations

import argparse
import json
import math

from ..fields import FieldError, FieldSpec, add_arguments, parse_pairs, specs, values


class CLIError(RuntimeError):
    """An error whose message is shown to the user as is (exit code 2)."""


def _emit(result: dict, as_json: bool, render) -> None:
    if as_json:
        print(json.dumps(_nan_to_none(result)))
    else:
        render(result)


def _nan_to_none(obj):
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {k: _nan_to_none(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_nan_to_none(v) for v in obj]
    return obj



def _parse_params(pairs: list[str] | None, flag: str = "--param") -> dict:
    try:
        return parse_pairs(pairs, flag)
    except FieldError as exc:
        raise CLIError(str(exc)) from None


def config_values(args: argparse.Namespace, specs: list[FieldSpec]) -> dict:
    """The config fields given on the command line (absent flags left out)."""
    try:
        return values(args, specs)
    except FieldError as exc:
        raise CLIError(str(exc)) from None


def add_fields(parser: argparse.ArgumentParser, specs: list[FieldSpec], **options) -> None:
    """One flag per field spec (:func:`engine.fields.add_arguments`)."""
    add_arguments(parser, specs, **options)


def add_config_arguments(parser: argparse.ArgumentParser, model) -> None:
    """One flag per field of a pydantic config (``step_size`` -> ``--step-size``); lists
    are comma-separated. Validation stays with the model."""
    add_arguments(parser, specs(model))
