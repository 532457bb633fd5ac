"""Export buttons generate their file on click (``st.download_button`` with a callable).
Streamlit registers the callable under a new id on every run of the page; a browser that
clicks a button before it has drawn the new run's copy sends the previous run's id. These
tests play that sequence on Streamlit's own media file manager, as its script runner does:
each run clears the session's references, draws the buttons again, then sweeps."""
from __future__ import annotations

import pytest
from streamlit.runtime.media_file_manager import MediaFileManager
from streamlit.runtime.media_file_storage import MediaFileStorageError
from streamlit.runtime.memory_media_file_storage import MemoryMediaFileStorage

from app import downloads

PNG, SVG = "[0, 4, 0, 0]", "[0, 4, 1, 0]"  # where the export buttons are on the page (delta paths)


def _draw(manager: MediaFileManager, eps: float, place: str = PNG) -> str:
    """One export button of a run, for ``eps``; returns the id the browser gets."""
    fmt = "png" if place == PNG else "svg"
    return manager.add_deferred(lambda: f"{fmt} at {eps}".encode(), f"image/{fmt}", place,
                                file_name=f"transferability_eps={eps}.{fmt}", element_id=f"$$ID-dl:{fmt}")


def _run(manager: MediaFileManager, eps: float | None) -> str | None:
    """One script run drawing the PNG and SVG buttons for ``eps`` (None: the run was
    interrupted before it drew them); returns the PNG button's id."""
    manager.clear_session_refs()
    png = None
    if eps is not None:
        png = _draw(manager, eps)
        _draw(manager, eps, SVG)
    manager.remove_orphaned_files()
    return png


@pytest.fixture
def manager(monkeypatch):
    # keep_recent_downloads patches the class for the whole process (an AppTest of app/main.py
    # installs it): each test starts from Streamlit's own methods; the class is restored after it
    for name in ("_remove_orphaned_deferred_callables", "execute_deferred"):
        monkeypatch.setattr(MediaFileManager, name, downloads.ORIGINALS.get(name, getattr(MediaFileManager, name)))
    clock = [1000.0]
    monkeypatch.setattr(downloads, "_clock", lambda: clock[0])
    manager = MediaFileManager(MemoryMediaFileStorage("/media"))
    manager.advance = lambda seconds: clock.__setitem__(0, clock[0] + seconds)
    return manager


def _download(manager: MediaFileManager, file_id: str) -> tuple[str, bytes]:
    """(file name, content) a click on the button with ``file_id`` gets."""
    url = manager.execute_deferred(file_id)
    file = manager.read_file(url.rsplit("/", 1)[-1].split(".")[0])
    return file.filename, file.content


def test_without_the_fix_a_click_with_the_previous_runs_id_finds_nothing(manager):
    """The failure itself: Streamlit forgets the previous run's callable when the next run ends."""
    shown = _run(manager, 0.1)
    _run(manager, 0.12)  # ε moved: the page reran; the browser has not drawn the new buttons yet
    with pytest.raises(MediaFileStorageError, match="not found"):
        manager.execute_deferred(shown)


def test_a_click_with_the_previous_runs_id_downloads_the_button_as_the_page_now_draws_it(manager):
    assert downloads.keep_recent_downloads()
    shown = _run(manager, 0.1)
    _run(manager, 0.12)
    for _ in range(5):  # a background job's poll sweeps every second meanwhile
        manager.advance(1.0)
        manager.remove_orphaned_files()
    assert _download(manager, shown) == ("transferability_eps=0.12.png", b"png at 0.12")
    current = _run(manager, 0.14)
    assert _download(manager, current) == ("transferability_eps=0.14.png", b"png at 0.14")
    assert _download(manager, shown) == ("transferability_eps=0.14.png", b"png at 0.14")  # clicked twice


def test_a_click_on_a_button_no_run_has_redrawn_yet_gets_that_buttons_file(manager):
    """A run interrupted before it drew the buttons leaves the browser with the old ones."""
    downloads.keep_recent_downloads()
    shown = _run(manager, 0.1)
    _run(manager, None)
    manager.advance(downloads.GRACE_SECONDS - 1)
    manager.remove_orphaned_files()
    assert _download(manager, shown) == ("transferability_eps=0.1.png", b"png at 0.1")


def test_a_callable_is_forgotten_once_no_run_has_drawn_it_for_the_grace_period(manager):
    downloads.keep_recent_downloads()
    shown = _run(manager, 0.1)
    _run(manager, None)
    manager.advance(downloads.GRACE_SECONDS)
    manager.remove_orphaned_files()
    with pytest.raises(MediaFileStorageError, match="not found"):
        manager.execute_deferred(shown)
    current = _run(manager, 0.12)  # a button on screen keeps its callable however long it stays
    manager.advance(10 * downloads.GRACE_SECONDS)
    manager.remove_orphaned_files()
    assert _download(manager, current)[0] == "transferability_eps=0.12.png"
    manager.clear_session_refs()  # the tab is closed: the session's references go
    manager.remove_orphaned_files()
    manager.advance(downloads.GRACE_SECONDS)
    manager.remove_orphaned_files()
    with pytest.raises(MediaFileStorageError, match="not found"):
        manager.execute_deferred(current)


def test_a_button_drawn_disabled_loses_its_callable_at_once(manager):
    """Streamlit's safeguard stays: a disabled button leaves nothing a client could still call."""
    downloads.keep_recent_downloads()
    shown = _run(manager, 0.1)
    manager.clear_session_refs()
    manager.remove_deferred(PNG, element_id="$$ID-dl:png")  # what st.download_button(disabled=True) does
    manager.remove_orphaned_files()
    with pytest.raises(MediaFileStorageError, match="not found"):
        manager.execute_deferred(shown)


def test_the_app_installs_the_fix_on_this_streamlit(manager):
    assert downloads.keep_recent_downloads() and downloads.keep_recent_downloads()  # idempotent
    assert MediaFileManager._remove_orphaned_deferred_callables is downloads._sweep
    assert MediaFileManager.execute_deferred is downloads._execute
    assert downloads.ORIGINALS["execute_deferred"] not in (downloads._execute, None)
