"""The app starts and its zoo page renders, empty or with a real ensemble."""
import shutil

from streamlit.testing.v1 import AppTest

from tests.conftest import REPO


def _app(monkeypatch, home):
    monkeypatch.setenv("ROBUST_ENSEMBLES_HOME", str(home))
    monkeypatch.setattr("engine.zoo.SHIPPED", home / "none")
    at = AppTest.from_file(str(REPO / "app" / "main.py"), default_timeout=60)
    return at.switch_page(str(REPO / "pages" / "zoo.py")).run()


def test_empty_zoo_says_how_to_train_one(monkeypatch, tmp_path):
    at = _app(monkeypatch, tmp_path)
    assert not at.exception
    assert "python -m engine train" in at.info[0].value


def test_zoo_lists_a_trained_ensemble(monkeypatch, tmp_path, quick_baseline):
    shutil.copytree(quick_baseline, tmp_path / "ensembles" / "baseline")
    at = _app(monkeypatch, tmp_path)
    assert not at.exception
    assert at.dataframe[0].value["method"].tolist() == ["baseline"]


def test_a_number_an_ensemble_has_not_measured_is_an_empty_cell_not_none(monkeypatch, tmp_path):
    """An imported checkpoint has no training history: its accuracy and transferability cells
    are "—" (Streamlit draws a missing value as the text "None" unless told otherwise)."""
    import json

    target = tmp_path / "ensembles" / "imported"
    shutil.copytree(REPO / "checkpoints" / "baseline", target)
    meta = json.loads((target / "meta.json").read_text())
    meta["history"] = []
    (target / "meta.json").write_text(json.dumps(meta))
    at = _app(monkeypatch, tmp_path)
    assert not at.exception, at.exception
    table = at.dataframe[0]
    assert table.value["accuracy"].isna().all()  # there is an empty cell to draw
    assert table.proto.HasField("placeholder") and table.proto.placeholder == "—"
