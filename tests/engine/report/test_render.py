"""engine/report/render.py: the HTML page (a jinja2 template) carries every claim, verdict and
number of the report, escaped, with plotly.js once; the JSON and CSV files carry the same."""
import csv
import json
from html.parser import HTMLParser

import plotly.graph_objects as go

from engine import report as rep


def small_report() -> rep.Report:
    """A fixed two-section report, made by hand (no training): what the page must show."""
    rows = [rep.Row("dverge-lowest-transfer", "dverge", "dverge 0.050 < baseline 0.800", "paper <quote> & more",
                    "DVERGE, Fig. 3", "CIFAR-10, ResNet-20", rep.REPRODUCED, "ours: rate at ε=0.1", "q"),
            rep.Row("dverge-fig3", "dverge", "0.050", "0.045", "DVERGE, Fig. 3", "CIFAR-10, ResNet-20",
                    rep.NOT_COMPARABLE_DATA, "paper: CIFAR-10, ours: Fashion-MNIST")]
    measured = [{"ensemble": "base", "method": "baseline", "members": 3, "transferability": 0.8},
                {"ensemble": "dv", "method": "dverge", "members": 3, "transferability": None}]
    fig = go.Figure(go.Bar(x=["base", "dv"], y=[0.8, 0.05]))
    sections = [rep.Section("transferability", "Within-ensemble transferability", rows, measured,
                            [("Transfer matrix", fig)]),
                rep.Section("blackbox", "Black-box accuracy", error="needs surrogates <none>")]
    meta = {"dataset": "fashion_mnist", "eps": 0.1, "samples": 40, "protocol": "quick",
            "transfer_attack": {"steps": 20, "restarts": 1, "step_size": "ε/5"}, "created": "2026-01-01 00:00:00",
            "ensembles": [{"name": "base", "method": "baseline", "members": 3, "surrogate": False},
                          {"name": "sur", "method": "baseline", "members": 2, "surrogate": True}]}
    return rep.Report(sections, meta)


class _Cells(HTMLParser):
    """Texts of the page: table rows (lists of cell texts), headings, paragraphs."""

    def __init__(self):
        super().__init__()
        self.rows, self.headings, self.paragraphs, self.styles = [], [], [], []
        self._text, self._tag = None, None

    def handle_starttag(self, tag, attrs):
        if tag == "tr":
            self.rows.append([])
        if tag in ("td", "th", "h1", "h2", "h3", "p"):
            self._text, self._tag = [], tag
            if tag == "td":
                self.styles.append(dict(attrs).get("style"))

    def handle_endtag(self, tag):
        if tag == self._tag and self._text is not None:
            text = "".join(self._text).strip()
            if tag in ("td", "th"):
                self.rows[-1].append(text)
            elif tag == "p":
                self.paragraphs.append(" ".join(text.split()))
            else:
                self.headings.append(text)
            self._text = self._tag = None

    def handle_data(self, data):
        if self._text is not None:
            self._text.append(data)


def test_the_page_shows_every_claim_verdict_and_number():
    report = small_report()
    page = rep.report_html(report)
    parsed = _Cells()
    parsed.feed(page)
    assert parsed.headings == ["Reproduction report", "Within-ensemble transferability", "Transfer matrix",
                               "Black-box accuracy"]
    header = ["claim", "method", "ours", "paper", "source", "paper setting", "verdict", "detail"]
    assert parsed.rows[0] == header
    assert parsed.rows[1] == ["dverge-lowest-transfer", "dverge", "dverge 0.050 < baseline 0.800",
                              "paper <quote> & more", "DVERGE, Fig. 3", "CIFAR-10, ResNet-20", rep.REPRODUCED,
                              "ours: rate at ε=0.1"]
    assert parsed.rows[2][6] == rep.NOT_COMPARABLE_DATA
    assert parsed.rows[3:] == [["ensemble", "method", "members", "transferability"],
                               ["base", "baseline", "3", "0.800"], ["dv", "dverge", "3", "–"]]
    assert f"background:{rep.VERDICT_COLORS[rep.REPRODUCED]}" in parsed.styles
    intro = parsed.paragraphs[0]
    assert intro == ("Data set Fashion-MNIST, report ε = 0.1, 40 test samples per analysis, protocol quick "
                     "(transfer attacks: PGD-20 × 1 restart(s), step ε/5). Generated 2026-01-01 00:00:00.")
    counts = report.verdict_counts()
    assert parsed.paragraphs[1] == "Verdicts: " + ", ".join(f"{v} {n}" for v, n in counts.items()) + "."
    assert parsed.paragraphs[2].endswith("Ensembles: base (baseline, 3 members), sur (baseline, 2 members, "
                                         "surrogate).")
    assert "needs surrogates <none>" in parsed.paragraphs
    # escaped in the source, plotly.js embedded once, the figure drawn
    assert "paper &lt;quote&gt; &amp; more" in page and "<quote>" not in page
    assert page.count("<script type='text/javascript'>") == 1 and page.count("Plotly.newPlot") == 1


def test_written_files_carry_the_same_rows(tmp_path):
    report = small_report()
    files = rep.write_report(report, tmp_path)
    assert set(files) == {"report.html", "report.json", "transferability.csv", "transferability_measured.csv",
                          "blackbox.csv", "blackbox_measured.csv"}
    written, fresh = _Cells(), _Cells()
    written.feed((tmp_path / "report.html").read_text())
    fresh.feed(rep.report_html(report))
    assert (written.rows, written.paragraphs, written.headings) == (fresh.rows, fresh.paragraphs, fresh.headings)
    data = json.loads((tmp_path / "report.json").read_text())
    assert [r["verdict"] for r in data["sections"][0]["rows"]] == [rep.REPRODUCED, rep.NOT_COMPARABLE_DATA]
    assert data["sections"][1]["error"] == "needs surrogates <none>"
    with open(tmp_path / "transferability.csv", newline="") as f:
        assert [r["claim"] for r in csv.DictReader(f)] == ["dverge-lowest-transfer", "dverge-fig3"]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]
