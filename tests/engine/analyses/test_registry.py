"""Every registered analysis is well formed: its own module under ``engine/analyses`` binds
a pure computation of ``engine/evaluation`` to a typed config, a figure and a table; its
config's defaults validate; an unknown name is one clear error listing the choices.
(Each analysis is run end to end by its own test in ``tests/engine/evaluation`` and by
``tests/app/test_pages.py``.)"""
import inspect

import pytest

from engine import analyses
from engine.analyses import ANALYSES, Analysis, AnalysisConfig, AnalysisError
from engine.registry import UnknownName

#: fields without a default (the request must give them)
REQUIRED = {"transferability": {"eps": 0.1}}


def test_the_cli_and_app_order_is_kept():
    assert analyses.names()[:12] == ["transferability", "whitebox", "autoattack", "adaptive", "blackbox", "diversity",
                                     "distill", "decision-region", "saliency", "detection", "cce-subsets", "history"]


@pytest.mark.parametrize("name", ANALYSES.names())
def test_every_analysis_binds_a_config_figure_and_table(name):
    entry = analyses.get(name)
    assert isinstance(entry, Analysis) and entry.name == name and entry.title and entry.reference
    assert issubclass(entry.config, AnalysisConfig)
    config = analyses.parse_config(entry, REQUIRED.get(name, {}))
    assert config.samples >= 1 and config.dataset is None
    assert list(inspect.signature(entry.compute).parameters) == ["ctx", "config"]
    module = inspect.getmodule(entry.compute).__name__
    assert module.startswith("engine.analyses."), module
    assert callable(entry.figure) and callable(entry.table)


def test_an_unknown_analysis_is_one_error_with_the_choices():
    with pytest.raises(AnalysisError, match="unknown analysis 'nope'; choose from: transferability, ") as err:
        analyses.get("nope")
    assert isinstance(err.value, UnknownName) and err.value.choices == analyses.names()
