"""What every command shares: the user-facing error, JSON/text output, ``KEY=VALUE`` lists,
and one flag per field of a pydantic config."""
from __future__ import annotations

import argparse
import json
import math


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



def _parse_params(pairs: list[str] | None) -> dict:
    params = {}
    for pair in pairs or []:
        if "=" not in pair:
            raise CLIError(f"--param expects KEY=VALUE, got {pair!r}")
        key, value = pair.split("=", 1)
        try:
            params[key] = json.loads(value)
        except json.JSONDecodeError:
            params[key] = value
    return params


def add_config_arguments(parser: argparse.ArgumentParser, model) -> None:
    """One flag per field of a pydantic config (``step_size`` -> ``--step-size``); lists
    are comma-separated. Validation stays with the model."""
    import typing

    for name, info in model.model_fields.items():
        annotation = info.annotation
        args = typing.get_args(annotation)
        if typing.get_origin(annotation) is typing.Union:
            annotation = next(a for a in args if a is not type(None))
            args = typing.get_args(annotation)
        kwargs: dict = {"help": info.description}
        origin = typing.get_origin(annotation)
        if origin is typing.Literal:
            kwargs["choices"] = list(args)
            kwargs["type"] = type(args[0])
        elif origin in (list, tuple):
            item = args[0] if args else str
            if typing.get_origin(item) is typing.Literal:
                item = type(typing.get_args(item)[0])
                kwargs["help"] = f"{info.description or ''} (any of: {', '.join(map(str, typing.get_args(args[0])))})"
            kwargs["type"] = lambda text, item=item: [item(v) for v in text.split(",") if v.strip()]
            kwargs["metavar"] = "V1,V2,..."
        elif annotation is bool:
            kwargs["type"] = lambda text: text.lower() in ("1", "true", "yes", "on")
            kwargs["metavar"] = "true|false"
        else:
            kwargs["type"] = annotation if annotation in (int, float, str) else str
        if info.is_required():
            kwargs["required"] = True
        elif info.default is not None:
            kwargs["help"] = f"{info.description or ''} (default: {info.default})".strip()
        parser.add_argument("--" + name.replace("_", "-"), dest=name, **kwargs)
