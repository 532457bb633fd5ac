"""app/ui.py: the Settings expander of every analysis, drawn from engine.fields specs, starts at
the config's defaults (what the result cache is keyed on) and its values validate."""
from streamlit.testing.v1 import AppTest


def _every_analysis_settings():
    import streamlit as st

    from app import ui
    from engine import analyses

    out = {}
    for name in analyses.names():
        config = analyses.get(name).config
        required = {k: 0.1 for k, f in config.model_fields.items() if f.is_required()}
        out[name] = ui.settings(analyses.get(name), fixed=required)
        config(**{k: v for k, v in out[name].items() if v is not None})
    st.session_state["settings"] = out


def test_settings_start_at_each_configs_defaults_and_validate():
    from engine import analyses

    at = AppTest.from_function(_every_analysis_settings, default_timeout=120).run()
    assert not at.exception
    settings = at.session_state["settings"]
    assert set(settings) == set(analyses.names())
    for name, values in settings.items():
        config = analyses.get(name).config
        defaults = {k: f.get_default(call_default_factory=True) for k, f in config.model_fields.items()
                    if not f.is_required() and k != "dataset"}
        assert {k: v for k, v in values.items() if k in defaults} == defaults, name
