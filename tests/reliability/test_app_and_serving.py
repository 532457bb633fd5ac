"""App entry points (Streamlit AppTest) and serving: a broken zoo entry is shown and can
be deleted from the app without breaking any page; the app serves only its own machine
unless an address was set on purpose; tracebacks stay out of the page."""
from __future__ import annotations

import json
import shutil
import tomllib

import pytest
from streamlit.testing.v1 import AppTest

from .conftest import REPO, SHIPPED_BASELINE, make_checkpoint, write_meta, read_meta_json


def _app(monkeypatch, home):
    monkeypatch.setattr("engine.zoo.SHIPPED", home / "none")
    return _zoo_page()


def _zoo_page() -> AppTest:
    at = AppTest.from_file(str(REPO / "app" / "main.py"), default_timeout=120)
    return at.switch_page(str(REPO / "pages" / "zoo.py")).run()


@pytest.mark.parametrize("damage", ["history-a-number", "members-1e9", "not-json"])
def test_a_broken_upload_is_listed_and_deletable_and_every_page_still_works(monkeypatch, tmp_path, damage):
    from engine.zoo import user_ensembles_dir

    shutil.copytree(SHIPPED_BASELINE, user_ensembles_dir() / "good")
    broken = make_checkpoint(user_ensembles_dir() / "broken")
    meta = read_meta_json(broken)
    write_meta(broken, {"history-a-number": lambda: json.dumps(dict(meta, history=5)),
                        "members-1e9": lambda: json.dumps(dict(meta, members=10**9)),
                        "not-json": lambda: "{"}[damage]())
    at = _app(monkeypatch, tmp_path / "home")
    assert not at.exception
    assert at.warning[0].value.startswith(f"Unreadable, skipped: {broken}: {broken / 'meta.json'} ")
    assert at.dataframe[0].value["name"].tolist() == ["good"]  # the sidebar and table list the good one
    at.button(key="delete_broken_0").click().run()
    assert not at.exception and not broken.exists() and (user_ensembles_dir() / "good").is_dir()
    assert not at.warning


def test_a_shipped_broken_entry_is_shown_but_not_deletable(monkeypatch, tmp_path):
    shipped = tmp_path / "shipped"
    broken = make_checkpoint(shipped / "broken")
    write_meta(broken, "{")
    monkeypatch.setattr("engine.zoo.SHIPPED", shipped)
    at = _zoo_page()
    assert not at.exception and at.warning[0].value.startswith("Unreadable, skipped:")
    assert not [b for b in at.button if b.key and b.key.startswith("delete_broken")]
    assert (broken / "meta.json").read_text() == "{"


@pytest.mark.parametrize("ip,local", [(None, True), ("127.0.0.1", True), ("::1", True), ("::ffff:127.0.0.1", True),
                                      ("192.168.1.20", False), ("10.0.0.1", False), ("fe80::1%eth0", False)])
def test_only_loopback_clients_count_as_local(ip, local):
    from app.serving import is_local

    assert is_local(ip) is local


def test_the_repository_config_binds_localhost_and_hides_tracebacks():
    config = tomllib.loads((REPO / ".streamlit" / "config.toml").read_text())
    assert config["server"]["address"] == "127.0.0.1"
    assert config["client"]["showErrorDetails"] == "none"
    assert config["client"]["toolbarMode"] == "viewer"  # no "Deploy" button, no developer menu


def test_python_m_app_binds_localhost_from_anywhere_unless_told_otherwise(monkeypatch, tmp_path):
    import sys

    import app.__main__ as launcher

    seen = []
    monkeypatch.setattr(launcher.cli, "main", lambda: seen.append(list(sys.argv)) or 0)
    monkeypatch.chdir(tmp_path)
    for argv, address in ((["python -m app"], "127.0.0.1"),
                          (["python -m app", "--server.address=0.0.0.0"], "0.0.0.0")):
        monkeypatch.setattr(sys, "argv", argv)
        with pytest.raises(SystemExit):
            launcher.main()
        args = seen[-1]
        assert args[:3] == ["streamlit", "run", str(REPO / "app" / "main.py")]
        assert [a for a in args if a.startswith("--server.address")] == [f"--server.address={address}"]
        assert "--client.showErrorDetails=none" in args and "--client.toolbarMode=viewer" in args


def test_a_remote_client_of_an_unconfigured_server_sees_only_the_refusal(monkeypatch):
    """Started from elsewhere (no config file, no flag) the server binds every interface:
    a client from the network gets the refusal and nothing else renders."""
    import streamlit as st

    from app import serving

    calls = []
    monkeypatch.setattr(serving, "address_is_explicit", lambda: False)
    monkeypatch.setattr(type(st.context), "ip_address", property(lambda self: "192.168.1.20"))
    monkeypatch.setattr(st, "error", lambda text: calls.append(("error", text)))
    monkeypatch.setattr(st, "stop", lambda: calls.append(("stop", None)))
    serving.harden()
    assert [c[0] for c in calls] == ["error", "stop"] and "only serves its own machine" in calls[0][1]
    calls.clear()
    monkeypatch.setattr(type(st.context), "ip_address", property(lambda self: "127.0.0.1"))
    serving.harden()
    assert calls == []


def test_the_deploy_button_is_hidden_however_the_app_was_started(monkeypatch):
    """No config file read (started from another directory): harden() still switches the
    toolbar to viewer mode and hides the "Deploy" button with a style."""
    import streamlit as st

    from app import serving

    shown = []
    monkeypatch.setattr(serving, "address_is_explicit", lambda: False)
    monkeypatch.setattr(st, "html", lambda body: shown.append(body))
    monkeypatch.setattr(st, "set_option", lambda key, value: shown.append((key, value)))
    serving.harden()
    assert ("client.toolbarMode", "viewer") in shown
    assert shown[-1] == serving.HIDE_DEPLOY and "stAppDeployButton" in shown[-1] and "display: none" in shown[-1]
