"""One translation from a pydantic model's fields to user controls.

Configs are typed pydantic models validated once at the edge (CLI, app). Both edges need
the same reading of each field -- its kind, default, choices, bounds and help -- so it is
done here, once:

- :func:`specs` reads a model into :class:`FieldSpec` s (plain data);
- :func:`add_arguments` turns them into argparse flags (``step_size`` -> ``--step-size``,
  lists comma-separated) and :func:`values` reads the parsed flags back;
- :func:`widget` turns a spec and a current value into a plain widget description (the
  streamlit function's name and keyword arguments) that the app renders, and
  :func:`from_widget` turns what that widget returned back into the field's value.

The engine never imports streamlit: the app does ``getattr(st, w.pop("widget"))(**w)``.
Validation stays with the model; nothing here checks values beyond parsing text.
"""
from __future__ import annotations

import argparse
import json
import types
import typing
from dataclasses import dataclass, replace
from typing import Any, Iterable

import annotated_types
from pydantic import BaseModel

KINDS = ("int", "float", "str", "bool", "choice", "list", "multichoice", "dict")


class FieldError(ValueError):
    """A value typed by the user cannot be read as its field's type."""


@dataclass(frozen=True)
class FieldSpec:
    """What a user control for one config field needs to know.

    ``kind``: int | float | str | bool | choice (one of ``choices``) | list (of ``item``,
    comma-separated) | multichoice (a subset of ``choices``) | dict (``KEY=VALUE`` pairs).
    ``optional``: None is a valid value (a blank widget = the automatic default).
    ``suggestions``: known values offered by a widget that the field does not enforce
    (e.g. data set names, where ``folder:PATH`` is also valid).
    """

    name: str
    kind: str
    item: type = str
    default: Any = None
    optional: bool = False
    required: bool = False
    description: str = ""
    title: str = ""
    choices: tuple = ()
    suggestions: tuple = ()
    minimum: float | None = None
    maximum: float | None = None
    flag: str = ""

    @property
    def label(self) -> str:
        return self.title or self.name.replace("_", " ")

    @property
    def option(self) -> str:
        """The command-line flag (``--step-size`` unless the spec names another)."""
        return self.flag or "--" + self.name.replace("_", "-")


def _is_union(annotation) -> bool:
    return typing.get_origin(annotation) in (typing.Union, types.UnionType)


def spec(name: str, info) -> FieldSpec:
    """The :class:`FieldSpec` of one pydantic ``FieldInfo``."""
    annotation, optional = info.annotation, False
    if _is_union(annotation):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        optional = len(args) < len(typing.get_args(annotation))
        annotation = args[0]
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    choices: tuple = ()
    item: type = str
    if origin is typing.Literal:
        kind, choices, item = "choice", args, type(args[0])
    elif origin in (list, tuple):
        inner = args[0] if args else str
        if typing.get_origin(inner) is typing.Literal:
            kind, choices, item = "multichoice", typing.get_args(inner), type(typing.get_args(inner)[0])
        else:
            kind, item = "list", inner if inner in (int, float, str) else str
    elif origin is dict or annotation is dict:
        kind = "dict"
    elif annotation is bool:
        kind, item = "bool", bool
    elif annotation in (int, float):
        kind, item = annotation.__name__, annotation
    else:
        kind = "str"
    minimum = maximum = None
    for m in info.metadata:
        if isinstance(m, (annotated_types.Ge, annotated_types.Gt)):
            minimum = getattr(m, "ge", getattr(m, "gt", None))
        elif isinstance(m, (annotated_types.Le, annotated_types.Lt)):
            maximum = getattr(m, "le", getattr(m, "lt", None))
    required = info.is_required()
    default = None if required else info.get_default(call_default_factory=True)
    return FieldSpec(name=name, kind=kind, item=item, default=default, optional=optional, required=required,
                     description=info.description or "", title=info.title or "", choices=tuple(choices),
                     minimum=minimum, maximum=maximum)


def specs(model: type[BaseModel], *, exclude: Iterable[str] = (), **overrides: dict[str, Any]) -> list[FieldSpec]:
    """One spec per field of ``model`` (in declaration order) minus ``exclude``.

    ``overrides``: spec attribute -> {field name: value}, e.g.
    ``choices={"method": [...]}`` or ``flag={"init_from": "--from"}``."""
    out = []
    for name, info in model.model_fields.items():
        if name in exclude:
            continue
        s = spec(name, info)
        changes = {attr: (tuple(v[name]) if attr in ("choices", "suggestions") else v[name])
                   for attr, v in overrides.items() if name in v}
        if changes.get("choices") and s.kind == "str":
            changes.setdefault("kind", "choice")
        out.append(replace(s, **changes))
    return out


# --------------------------------------------------------------------------- text

def parse_list(s: FieldSpec, text: str) -> list:
    """``"0.1, 0.2"`` -> ``[0.1, 0.2]`` (items of the field's type)."""
    try:
        return [s.item(v.strip()) for v in text.split(",") if v.strip()]
    except ValueError:
        raise FieldError(f"{s.name}: expected comma-separated {s.item.__name__} values, got {text!r}") from None


def parse_pairs(pairs: Iterable[str] | None, flag: str = "--param") -> dict:
    """``["eps=0.2", "mode=dm"]`` -> ``{"eps": 0.2, "mode": "dm"}`` (values read as JSON
    when they parse, else kept as text)."""
    out = {}
    for pair in pairs or []:
        if "=" not in pair:
            raise FieldError(f"{flag} expects KEY=VALUE, got {pair!r}")
        key, value = pair.split("=", 1)
        try:
            out[key] = json.loads(value)
        except json.JSONDecodeError:
            out[key] = value
    return out


def _text_bool(text: str) -> bool:
    if text.lower() in ("1", "true", "yes", "on"):
        return True
    if text.lower() in ("0", "false", "no", "off"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")


# --------------------------------------------------------------------------- argparse

def _shown(default: Any) -> str:
    """A default as typed on the command line ("" when there is none to show)."""
    if default is None or default == {}:
        return ""
    if isinstance(default, (list, tuple)):
        return ",".join(map(str, default))
    return str(default)


def add_arguments(parser: argparse.ArgumentParser, fields: Iterable[FieldSpec], *, switches: bool = False,
                  show_defaults: bool = True) -> None:
    """One flag per spec. No flag has an argparse default: an absent flag reads as None,
    so the model's (or a preset's) default applies.

    ``switches``: bool fields are ``--flag`` switches (``store_true``) instead of
    ``--flag true|false``. ``show_defaults``: append the model's default to the help."""
    for s in fields:
        kwargs: dict[str, Any] = {"help": s.description or None}
        if s.kind == "choice":
            kwargs["choices"] = list(s.choices)
            kwargs["type"] = s.item
        elif s.kind in ("list", "multichoice"):
            if s.kind == "multichoice":
                kwargs["help"] = f"{s.description} (any of: {', '.join(map(str, s.choices))})"
            kwargs["type"] = lambda text, s=s: parse_list(s, text)
            kwargs["metavar"] = "V1,V2,..."
        elif s.kind == "dict":
            kwargs["action"] = "append"
            kwargs["metavar"] = "KEY=VALUE"
            kwargs["help"] = f"{s.description} (KEY=VALUE, repeatable)".strip()
        elif s.kind == "bool" and switches:
            kwargs["action"] = "store_true"
            kwargs["default"] = None
        elif s.kind == "bool":
            kwargs["type"] = _text_bool
            kwargs["metavar"] = "true|false"
            kwargs["nargs"] = "?"  # ``--flag`` alone means true
            kwargs["const"] = True
        else:
            kwargs["type"] = s.item if s.kind in ("int", "float") else str
        if s.required:
            kwargs["required"] = True
        elif show_defaults and _shown(s.default) != "":
            kwargs["help"] = f"{s.description} (default: {_shown(s.default)})".strip()
        if kwargs.get("help"):
            kwargs["help"] = kwargs["help"].replace("%", "%%")  # argparse formats help with %
        parser.add_argument(s.option, dest=s.name, **kwargs)


def values(args: argparse.Namespace, fields: Iterable[FieldSpec]) -> dict[str, Any]:
    """The fields given on the command line ({name: value}; absent flags are left out)."""
    out = {}
    for s in fields:
        value = getattr(args, s.name, None)
        if value is None:
            continue
        out[s.name] = parse_pairs(value, s.option) if s.kind == "dict" else value
    return out


# --------------------------------------------------------------------------- widgets

def widget(s: FieldSpec, value: Any = None, *, label: str | None = None) -> dict[str, Any]:
    """A plain description of the streamlit widget for ``s`` showing ``value``:
    ``{"widget": <streamlit function name>, **its keyword arguments}``.

    choice -> selectbox; multichoice -> multiselect; bool -> checkbox; a number with a
    value -> number_input (bounded by the field's constraints); lists, text, dicts and
    optional numbers -> text_input, where blank means the automatic default."""
    label = label or s.label
    help_text = s.description or None
    if s.kind == "choice" or (s.kind == "str" and s.suggestions):
        options = list(s.choices or s.suggestions)
        if s.optional and None not in options:
            options.insert(0, None)
        if value not in options:
            options.insert(0, value)
        return {"widget": "selectbox", "label": label, "options": options, "index": options.index(value),
                "help": help_text}
    if s.kind == "multichoice":
        return {"widget": "multiselect", "label": label, "options": list(s.choices),
                "default": [v for v in (value or []) if v in s.choices], "help": help_text}
    if s.kind == "bool":
        return {"widget": "checkbox", "label": label, "value": bool(value), "help": help_text}
    if s.kind in ("int", "float") and not s.optional and value is not None:
        cast = s.item
        w = {"widget": "number_input", "label": label, "value": cast(value), "help": help_text}
        if s.minimum is not None and cast(value) >= s.minimum:
            w["min_value"] = cast(s.minimum)
        if s.maximum is not None and cast(value) <= s.maximum:
            w["max_value"] = cast(s.maximum)
        w.update({"step": 1} if cast is int else {"format": "%g"})
        return w
    if s.kind in ("list", "multichoice"):
        text, hint = ", ".join(str(v) for v in (value or [])), "comma-separated" + ("; blank: automatic"
                                                                                    if s.optional else "")
    elif s.kind == "dict":
        text, hint = json.dumps(value or {}), "JSON object"
    else:
        text, hint = ("" if value is None else str(value)), ("blank: automatic" if s.optional else "")
    help_text = f"{s.description} ({hint})".strip() if hint else help_text
    return {"widget": "text_input", "label": label, "value": text, "help": help_text,
            "placeholder": "automatic" if s.optional else None}


def from_widget(s: FieldSpec, raw: Any) -> Any:
    """The field's value from what its :func:`widget` returned (text is parsed; a blank
    optional field is None)."""
    if not isinstance(raw, str) or s.kind in ("choice",) or (s.kind == "str" and s.suggestions):
        if s.kind == "int" and raw is not None and not isinstance(raw, bool):
            return int(raw)
        return raw
    text = raw.strip()
    if s.kind in ("list", "multichoice"):
        items = parse_list(s, text)
        return None if s.optional and not items else items
    if s.kind == "dict":
        try:
            return json.loads(text or "{}")
        except json.JSONDecodeError as exc:
            raise FieldError(f"{s.name}: not a JSON object ({exc})") from None
    if not text:
        return None if s.optional or s.kind in ("int", "float") else text
    if s.kind in ("int", "float"):
        try:
            return s.item(text)
        except ValueError:
            raise FieldError(f"{s.name}: expected a number, got {text!r}") from None
    return text
