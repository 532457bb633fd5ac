"""engine/fields.py: one reading of a pydantic model's fields for the CLI flags and the app's
widgets; the train / jobs submit flags and the Train page form come from TrainConfig."""
from typing import Literal, Optional

import pytest
from pydantic import BaseModel, Field

from engine import fields
from engine.cli import build_parser
from engine.config import TrainConfig, make_config, train_fields
from engine.methods import METHODS

STREAMLIT_WIDGETS = {"selectbox", "multiselect", "checkbox", "number_input", "text_input"}


class Example(BaseModel):
    eps: Optional[float] = Field(None, gt=0, le=1, description="budget")
    steps: int = Field(20, ge=1, le=1000, description="PGD steps")
    grid: list[float] = Field(default_factory=lambda: [0.0, 0.1], description="ε grid")
    attacks: list[Literal["pgd", "fgsm"]] = Field(["pgd"], description="attacks")
    mode: Literal["rm", "dm"] = "rm"
    flag: bool = False
    name: str


def _sub(parser, *path):
    for name in path:
        action = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction")
        parser = action.choices[name]
    return parser


def _flags(parser) -> set[str]:
    return {o for a in parser._actions for o in a.option_strings}


def test_specs_read_kind_default_optional_bounds_and_choices():
    s = {x.name: x for x in fields.specs(Example)}
    assert (s["eps"].kind, s["eps"].optional, s["eps"].minimum, s["eps"].maximum) == ("float", True, 0, 1)
    assert (s["steps"].kind, s["steps"].default, s["steps"].minimum, s["steps"].maximum) == ("int", 20, 1, 1000)
    assert (s["grid"].kind, s["grid"].item, s["grid"].default) == ("list", float, [0.0, 0.1])
    assert (s["attacks"].kind, s["attacks"].choices) == ("multichoice", ("pgd", "fgsm"))
    assert (s["mode"].kind, s["mode"].choices) == ("choice", ("rm", "dm"))
    assert s["flag"].kind == "bool" and s["name"].required and s["name"].option == "--name"


def test_flags_parse_to_the_model_and_absent_flags_stay_unset():
    import argparse

    parser = argparse.ArgumentParser()
    specs = fields.specs(Example)
    fields.add_arguments(parser, specs)
    args = parser.parse_args(["--name", "x", "--grid", "0.1,0.2", "--attacks", "pgd,fgsm", "--flag", "yes",
                              "--steps", "7"])
    given = fields.values(args, specs)
    assert given == {"name": "x", "grid": [0.1, 0.2], "attacks": ["pgd", "fgsm"], "flag": True, "steps": 7}
    assert Example(**given).eps is None  # absent: the model's default
    with pytest.raises(SystemExit):
        parser.parse_args(["--name", "x", "--mode", "zz"])
    assert "(default: 0.0,0.1)" in parser.format_help()


def test_widgets_round_trip_text_and_blank_optional_fields_mean_automatic():
    s = {x.name: x for x in fields.specs(Example)}
    w = fields.widget(s["grid"], [0.0, 0.1])
    assert w["widget"] == "text_input" and w["value"] == "0.0, 0.1"
    assert fields.from_widget(s["grid"], " 0.05, 0.2 ") == [0.05, 0.2]
    assert fields.widget(s["eps"], None)["widget"] == "text_input"
    assert fields.from_widget(s["eps"], "  ") is None and fields.from_widget(s["eps"], "0.3") == 0.3
    with pytest.raises(fields.FieldError, match="eps: expected a number, got 'abc'"):
        fields.from_widget(s["eps"], "abc")
    w = fields.widget(s["steps"], 20)
    assert (w["widget"], w["value"], w["min_value"], w["max_value"], w["step"]) == ("number_input", 20, 1, 1000, 1)
    w = fields.widget(s["mode"], "dm")
    assert (w["widget"], w["options"], w["index"]) == ("selectbox", ["rm", "dm"], 1)
    assert fields.widget(s["attacks"], ["fgsm"])["default"] == ["fgsm"]
    assert fields.widget(s["flag"], True)["value"] is True


# Every flag `train` and `jobs submit` had before they were generated from TrainConfig, with a
# value and what the command must read from it.
TRAIN_FLAGS_BEFORE = [
    ("--method", "dverge", "method", "dverge"), ("--dataset", "mnist", "dataset", "mnist"),
    ("--arch", "resnet20", "arch", "resnet20"), ("--members", "5", "members", 5), ("--preset", "paper", "preset", "paper"),
    ("--epochs", "3", "epochs", 3), ("--from", "/ckpt", "init_from", "/ckpt"), ("--seed", "2", "seed", 2),
    ("--device", "cpu", "device", "cpu"), ("--batch-size", "64", "batch_size", 64), ("--lr", "0.05", "lr", 0.05),
    ("--pretrain-epochs", "1", "pretrain_epochs", 1), ("--train-subset", "1000", "train_subset", 1000),
    ("--param", "eps=0.2", "method_params", {"eps": 0.2}), ("--bf16", None, "bf16", True),
    ("--data-dir", "/data", "data_dir", "/data"),
]
JOBS_SUBMIT_FLAGS_BEFORE = [f for f in TRAIN_FLAGS_BEFORE if f[0] not in ("--bf16", "--data-dir")] + [
    ("--eval-samples", "500", "eval_samples", 500), ("--history-samples", "50", "history_samples", 50)]


@pytest.mark.parametrize("command, flags, extra", [
    (("train",), TRAIN_FLAGS_BEFORE, ["--out", "/tmp/x", "--resume", "--json", "--quiet"]),
    (("jobs", "submit"), JOBS_SUBMIT_FLAGS_BEFORE, ["--name", "n", "--store", "/tmp/s", "--json"]),
])
def test_every_flag_that_existed_still_parses_to_the_same_value(command, flags, extra):
    argv = [*command, *extra]
    for flag, value, _, _ in flags:
        argv += [flag] if value is None else [flag, value]
    args = build_parser().parse_args(argv)
    given = fields.values(args, train_fields())
    for flag, _, name, expected in flags:
        assert given[name] == expected, flag


def test_jobs_submit_defaults_to_the_quick_preset_and_train_to_none():
    assert build_parser().parse_args(["jobs", "submit", "--method", "gal"]).preset == "quick"
    args = build_parser().parse_args(["train", "--method", "gal", "--out", "x"])
    assert args.preset is None and fields.values(args, train_fields()) == {"method": "gal"}


def test_no_drift_every_train_config_field_has_a_flag_in_both_commands_and_a_widget():
    parser = build_parser()
    specs = train_fields()
    assert [s.name for s in specs] == list(TrainConfig.model_fields)
    for command in (("train",), ("jobs", "submit")):
        sub = _sub(parser, *command)
        dests = {a.dest for a in sub._actions}
        assert set(TrainConfig.model_fields) <= dests, command
        assert {s.option for s in specs} <= _flags(sub)
    defaults = make_config("dverge", "quick").model_dump()
    for s in specs:
        assert fields.widget(s, defaults.get(s.name))["widget"] in STREAMLIT_WIDGETS, s.name


def test_the_new_flags_reach_the_config():
    args = build_parser().parse_args(["train", "--method", "baseline", "--out", "x", "--eval-samples", "300",
                                      "--history-samples", "20", "--history-eps", "0.05"])
    given = fields.values(args, train_fields())
    config = make_config(given.pop("method"), given.pop("preset", None), **given)
    assert (config.eval_samples, config.history_samples, config.history_eps) == (300, 20, 0.05)
    args = build_parser().parse_args(["jobs", "submit", "--method", "baseline", "--bf16", "--data-dir", "/d"])
    given = fields.values(args, train_fields())
    assert given["bf16"] is True and given["data_dir"] == "/d"


def test_a_bad_param_pair_is_one_clear_cli_error(capsys, monkeypatch, tmp_path):
    from engine.cli import main

    monkeypatch.setenv("ROBUST_ENSEMBLES_HOME", str(tmp_path))
    assert main(["jobs", "submit", "--method", "dverge", "--param", "steps"]) == 2
    assert capsys.readouterr().err.strip() == "error: --param expects KEY=VALUE, got 'steps'"
    assert not (tmp_path / "jobs").exists() or not any((tmp_path / "jobs").glob("*/job.json"))


def _shown_value(w: dict):
    """What a streamlit widget described by ``w`` returns before the user touches it."""
    if w["widget"] == "selectbox":
        return w["options"][w["index"]]
    return w["default"] if w["widget"] == "multiselect" else w["value"]


@pytest.mark.parametrize("method", list(METHODS))
def test_every_method_hyperparameter_widget_reads_back_its_default(method):
    """The Train page's hyperparameter expander: an untouched widget gives the paper default,
    so a one-click run trains with exactly the method's defaults."""
    from engine.methods import get_method

    for s in fields.specs(get_method(method).Params):
        w = fields.widget(s, s.default)
        assert w["widget"] in STREAMLIT_WIDGETS
        assert fields.from_widget(s, _shown_value(w)) == s.default, s.name
