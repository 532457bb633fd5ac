"""Exports: every format of an analysis' figure and data, descriptive names, one archive;
and the ``export`` command end to end."""
from __future__ import annotations

import csv
import io
import json
import zipfile

import pytest

from engine import analyses, export
from engine.cli import main


@pytest.fixture(scope="module")
def results(quick_baseline):
    result = analyses.run("transferability", quick_baseline, {"eps": 0.1, "samples": 30, "steps": 3, "examples": 2},
                          device="cpu")
    return [(analyses.label(quick_baseline), result)]


def test_every_format_is_what_it_claims(results):
    a = analyses.get("transferability")
    data = {fmt: export.export_bytes(a, results, fmt) for fmt in ("png", "pdf", "svg", "html", "csv", "json")}
    assert data["png"][:8] == b"\x89PNG\r\n\x1a\n"
    assert data["pdf"][:5] == b"%PDF-"
    assert b"<svg" in data["svg"][:200]
    assert b"plotly" in data["html"] and b"<html" in data["html"][:200].lower()
    rows = list(csv.DictReader(io.StringIO(data["csv"].decode())))
    k = len(results[0][1]["matrix"])
    assert len(rows) == k * (k + 1) and {"source", "target", "success_rate", "eps"} <= set(rows[0])
    payload = json.loads(data["json"])
    assert payload["results"][0]["matrix"] == results[0][1]["matrix"]


def test_names_say_what_they_show_and_archives_hold_everything(results):
    name = export.filename("transferability", results, "png", eps=0.1)
    assert name == "transferability_baseline_fashion-mnist_eps=0.1.png"
    blob = export.archive({name: b"x", "b.csv": b"y"})
    assert sorted(zipfile.ZipFile(io.BytesIO(blob)).namelist()) == ["b.csv", name]


def test_export_command_writes_a_descriptive_file(quick_baseline, tmp_path, capsys):
    code = main(["export", "transferability", str(quick_baseline), "--eps", "0.1", "--samples", "30", "--steps", "3",
                 "--format", "csv", "--out", str(tmp_path) + "/", "--quiet", "--json"])
    assert code == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert out["file"].endswith("transferability_baseline_fashion-mnist_eps=0.1.csv")
    assert (tmp_path / out["file"].rsplit("/", 1)[1]).read_text().startswith("ensemble,method")
