"""Analysis jobs (engine/jobs/analysis.py): a registered analysis runs in a real worker
process under the training jobs' executor, reports progress with a whole-job ETA, and its
results land in the normal result cache, identical to a synchronous run; cancel keeps the
finished results and resume computes only the rest."""
import json
import time
from pathlib import Path

import numpy as np
import pytest

from engine import analyses, cli, jobs
from engine.cache import ResultCache, default_cache
from engine.jobs import analysis as aj
from tests import helpers

REPO = Path(__file__).resolve().parents[3]
BASELINE, DVERGE, ADP = (str(REPO / "checkpoints" / m) for m in ("baseline", "dverge", "adp"))
#: transferability on a handful of samples: a few seconds per ensemble on a loaded CPU
CHEAP = {"eps": 0.1, "samples": 6, "steps": 2, "seed": 3}


@pytest.fixture
def store(tmp_path, monkeypatch):
    monkeypatch.setenv("ROBUST_ENSEMBLES_HOME", str(tmp_path))
    monkeypatch.delenv(jobs.MAX_JOBS_ENV, raising=False)
    monkeypatch.delenv(jobs.MAX_ANALYSIS_JOBS_ENV, raising=False)
    return jobs.JobStore()


def wait_for(executor, job_id, predicate, timeout=120.0):
    return helpers.wait_for(executor, job_id, predicate, timeout=timeout)


def fresh(config: dict) -> dict:
    """A config no earlier test computed (the session's result cache is shared)."""
    return dict(config, seed=int(time.time() * 1000) % 1_000_000)


def test_an_analysis_job_computes_into_the_result_cache_what_a_synchronous_run_computes(store, tmp_path):
    config = fresh(CHEAP)
    items = aj.request_items("transferability", [BASELINE, DVERGE], config)
    assert [i["checkpoint"] for i in items] == [BASELINE, DVERGE]
    assert all(i["key"] not in default_cache() for i in items)
    executor = jobs.LocalProcessExecutor(store)
    job = executor.submit_analysis(items)
    assert job.kind == "analysis" and job.state == "running" and job.slot.endswith("#analysis0")

    job = wait_for(executor, job.id, lambda j: j.state not in jobs.ACTIVE)
    assert job.state == "done", job.error
    progress = store.progress(job.id)
    assert progress["finished"] == [i["key"] for i in items] and progress["errors"] == []
    assert progress["last"]["fraction"] == 1.0 and progress["last"]["done_items"] == 2
    assert jobs.fraction_done(job, progress) == 1.0

    # the page reads the job's results from the normal cache; a synchronous run computes the same
    separate = ResultCache(tmp_path / "sync-cache")
    for path in (BASELINE, DVERGE):
        from_job = analyses.cached("transferability", path, config)
        assert from_job is not None
        synchronous = analyses.run("transferability", path, config, cache=separate)
        np.testing.assert_array_equal(np.asarray(from_job["matrix"]), np.asarray(synchronous["matrix"]))

    assert separate.misses == 2  # computed here, not read from the job's cache

    # what the job measured makes the next request's expected time known
    expected = aj.estimate(aj.request_items("transferability", [BASELINE], fresh(CHEAP)), store)
    assert expected.known and expected.seconds > 0 and "estimate" in expected.text
    row = jobs.summary(job, progress)
    assert row["kind"] == "analysis" and row["analyses"] == ["transferability"] and row["items_done"] == 2


def test_cancel_keeps_finished_results_and_resume_computes_only_the_rest(store):
    config = fresh(dict(CHEAP, samples=10))
    items = aj.request_items("transferability", [BASELINE, DVERGE, ADP], config)
    executor = jobs.LocalProcessExecutor(store, grace_seconds=3)
    job = executor.submit_analysis(items)
    job = wait_for(executor, job.id, lambda j: len(store.progress(j.id).get("finished", [])) >= 1)
    running = store.progress(job.id)["last"]
    assert running["eta_seconds"] is not None and running["eta_seconds"] >= 0  # a whole-job ETA while it runs
    assert "ETA" in jobs.status_text(job, store.progress(job.id))

    cancelled = executor.cancel(job.id)
    assert cancelled.state == "cancelled" and not jobs._proc_running(job.pid, job.id)
    done_before = store.progress(job.id)["finished"]
    assert 1 <= len(done_before) < 3
    assert all(k in default_cache() for k in done_before)

    resumed = executor.resume(job.id)
    assert resumed.state == "running" and resumed.attempts == 2
    job = wait_for(executor, job.id, lambda j: j.state not in jobs.ACTIVE)
    assert job.state == "done", job.error
    assert store.progress(job.id)["finished"] == [i["key"] for i in items]
    # every item was computed exactly once over both attempts: the cached ones were skipped
    costs = json.loads((store.root / aj.COSTS_FILE).read_text())
    assert sum(len(e["seconds_per_sample"]) for e in costs.values()) == 3


def test_a_black_box_job_shows_a_whole_job_eta_while_its_transfer_sets_are_computed(store):
    """Issue 14: the black-box analysis, the longest one, runs as a job whose status line
    carries an ETA while it runs (progress per transfer set, within the first target)."""
    surrogate = str(REPO / "checkpoints" / "surrogate_8")
    config = fresh({"samples": 40, "steps": 10, "eps": [0.05, 0.1, 0.15], "surrogates": [surrogate]})
    items = aj.request_items("blackbox", [BASELINE, DVERGE], config)
    executor = jobs.LocalProcessExecutor(store)
    job = executor.submit_analysis(items)
    seen = []

    def eta_shown(j):
        last = store.progress(j.id).get("last") or {}
        if j.state == "running" and last.get("eta_seconds") is not None:
            seen.append(jobs.status_text(j, store.progress(j.id)))
        return bool(seen) or j.state not in jobs.ACTIVE

    wait_for(executor, job.id, eta_shown, timeout=300)
    assert seen and "ETA" in seen[0], seen
    job = wait_for(executor, job.id, lambda j: j.state not in jobs.ACTIVE, timeout=600)
    assert job.state == "done", job.error
    assert all(item["key"] in default_cache() for item in items)


def test_an_item_that_fails_is_recorded_and_the_others_still_run(store):
    # a black-box "transfer" from the evaluated ensemble itself is refused: that item fails, the other lands
    items = aj.request_items("blackbox", [BASELINE], {"samples": 4, "surrogates": [BASELINE]})
    items += aj.request_items("transferability", [BASELINE], fresh(CHEAP))
    executor = jobs.LocalProcessExecutor(store)
    job = wait_for(executor, executor.submit_analysis(items).id, lambda j: j.state not in jobs.ACTIVE)
    progress = store.progress(job.id)
    assert job.state == "failed" and job.error.startswith("1 of 2 run(s) failed; first: blackbox")
    assert "is the evaluated ensemble itself" in job.error
    assert progress["finished"] == [items[1]["key"]] and items[1]["key"] in default_cache()
    assert items[0]["key"] not in default_cache()


def test_expected_time_is_samples_times_the_measured_cost_per_sample(store):
    [item] = aj.request_items("transferability", [BASELINE], fresh(dict(CHEAP, samples=40)))
    unknown = aj.estimate([item], store)
    assert not unknown.known and "no measured cost" in unknown.text
    assert aj.runs_as_job("transferability", unknown)  # unknown cost: never block the page
    aj.record_cost(store, dict(item, samples=10), seconds=5.0)  # 0.5 s per sample measured
    known = aj.estimate([item], store)
    assert known.seconds == pytest.approx(40 * 0.5)
    assert aj.runs_as_job("transferability", known)
    aj.record_cost(store, dict(item, samples=10), seconds=0.01)  # a median of two measurements
    assert aj.estimate([item], store).seconds == pytest.approx(40 * (0.5 + 0.001) / 2)
    cheap = aj.estimate([dict(item, samples=2)], store)
    assert not aj.runs_as_job("transferability", cheap) and aj.runs_as_job("blackbox", cheap)
    # another configuration of the same analysis and architecture: its median, said so
    [other] = aj.request_items("transferability", [BASELINE], fresh(dict(CHEAP, samples=40, steps=7)))
    loose = aj.estimate([other], store)
    assert loose.known and "another configuration" in loose.text


def test_the_progress_fraction_weights_items_by_expected_time_and_the_eta_covers_the_whole_job(store):
    items = [{"key": f"k{i}", "analysis": "a", "label": f"e{i}"} for i in range(2)]
    job = store.create_analysis(items, "two")
    expected = aj.Estimate(40.0, [30.0, 10.0], "test")
    writer = aj.AnalysisProgress(store, job.id, items, expected, interval=0)
    writer.start(0)
    writer(1, 2)
    assert writer.data["last"]["fraction"] == pytest.approx(15 / 40)
    assert writer.data["last"]["eta_seconds"] == pytest.approx(40 * (1 - 15 / 40), abs=1.0)  # the prior, at first
    writer.finish(items[0])
    writer(1, 2)
    assert writer.data["last"]["fraction"] == pytest.approx(35 / 40) and writer.data["last"]["done_items"] == 1
    writer.rate_from = (time.time() - 35.0, 0.0)  # 35 s measured for 35/40 of the work
    writer(1, 2)
    assert writer.data["last"]["eta_seconds"] == pytest.approx(5.0, abs=0.5)
    assert store.progress(job.id)["last"]["eta_seconds"] == writer.data["last"]["eta_seconds"]


def test_a_page_finds_its_job_again_by_the_requests_cache_keys(store, monkeypatch):
    monkeypatch.setenv(jobs.MAX_JOBS_ENV, "0")  # paused: nothing starts
    executor = jobs.LocalProcessExecutor(store)
    items = aj.request_items("transferability", [BASELINE, DVERGE], fresh(CHEAP))
    job = executor.submit_analysis(items, label="transferability")
    assert job.state == "queued"
    assert aj.find_job(store, [items[1]["key"]]).id == job.id
    assert aj.find_job(store, [items[1]["key"]], "report") is None
    assert aj.find_job(store, ["another"]) is None
    assert executor.analysis_slots() == []  # a paused queue pauses analyses too
    monkeypatch.setenv(jobs.MAX_JOBS_ENV, "1")
    monkeypatch.setenv(jobs.MAX_ANALYSIS_JOBS_ENV, "2")
    assert jobs.LocalProcessExecutor(store).analysis_slots()[1].endswith("#analysis1")


def test_the_cli_submits_an_analysis_job_and_lists_it(store, monkeypatch, capsys):
    monkeypatch.setenv(jobs.MAX_JOBS_ENV, "0")
    assert cli.main(["jobs", "submit-analysis", "transferability", BASELINE, "--config",
                     json.dumps(fresh(CHEAP)), "--json"]) == 0
    submitted = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert submitted["kind"] == "analysis" and submitted["state"] == "queued" and submitted["items"] == 1
    assert cli.main(["jobs", "list"]) == 0
    assert "analysis: queued" in capsys.readouterr().out
    assert cli.main(["jobs", "cancel", submitted["id"], "--json"]) == 0
    capsys.readouterr()
    assert cli.main(["jobs", "submit-analysis", "transferability", BASELINE, "--config", "{samples"]) == 2
    assert "error: --config is not JSON" in capsys.readouterr().err
    assert cli.main(["jobs", "submit-analysis", "no-such-analysis", BASELINE]) == 2
    assert "no-such-analysis" in capsys.readouterr().err
    assert cli.main(["jobs", "submit-analysis", "transferability", BASELINE, "--config", '{"samples": 0}']) == 2
    assert "samples" in capsys.readouterr().err
    assert [j.state for j in store.list()] == ["cancelled"]  # refused requests queue nothing


def test_a_report_job_asks_for_exactly_the_requests_the_report_then_reads(monkeypatch):
    """report_items: the same (analysis, checkpoint, config) requests, hence cache keys, as
    engine.report.build_report makes with the same settings, so that once the job is done
    building the report only reads the cache."""
    from engine import report

    checkpoints = {name: str(REPO / "checkpoints" / name) for name in ("baseline", "dverge", "surrogate_3")}
    items = aj.report_items(checkpoints, eps=0.1, samples=30, protocol="quick")
    asked = []

    def record(name, checkpoint, config=None, **kw):
        asked.append(analyses.request_key(analyses.get(name), checkpoint,
                                          analyses.parse_config(analyses.get(name), config))[0])
        raise analyses.AnalysisError("recorded")  # the report records it and goes on

    monkeypatch.setattr(analyses, "run", record)
    report.build_report(checkpoints, eps=0.1, samples=30, protocol="quick")
    assert asked and set(asked) <= {i["key"] for i in items}
    assert {i["analysis"] for i in items} == {"transferability", "whitebox", "blackbox", "diversity"}
    assert {i["checkpoint"] for i in items} == {checkpoints["baseline"], checkpoints["dverge"]}  # not the surrogate


def test_the_reports_black_box_request_with_the_zoos_surrogates_is_the_robustness_pages():
    """With the zoo's own surrogates (the analysis' default) the report's black-box config
    names none: its cache key is the Robustness page's default request's, and holds no path of
    this checkout (surrogates enter the key by content hash), so it can be shipped; other
    surrogates are named."""
    names = ("baseline", "dverge", "surrogate_3", "surrogate_5", "surrogate_8")
    items = aj.report_items({n: str(REPO / "checkpoints" / n) for n in names}, eps=0.1, samples=500, protocol="quick")
    blackbox = analyses.get("blackbox")
    page = analyses.request_key(blackbox, REPO / "checkpoints" / "dverge", analyses.parse_config(blackbox, {}))[0]
    (item,) = [i for i in items if i["analysis"] == "blackbox" and i["checkpoint"].endswith("dverge")]
    assert item["config"]["surrogates"] == [] and item["key"] == page
    assert str(REPO) not in json.dumps(item["config"])
    few = aj.report_items({n: str(REPO / "checkpoints" / n) for n in names[:3]}, eps=0.1, samples=500)
    (item,) = [i for i in few if i["analysis"] == "blackbox" and i["checkpoint"].endswith("dverge")]
    assert item["config"]["surrogates"] == [str(REPO / "checkpoints" / "surrogate_3")] and item["key"] != page
