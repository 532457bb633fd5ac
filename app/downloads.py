"""Export buttons that download what the page shows, even when clicked just as it reruns.

Every export button (``st.download_button`` with a callable ``data``: a PNG is rendered by
kaleido on click, not on every run) registers its callable under a new id on each script
run, and Streamlit 1.67 forgets the previous run's ids as soon as the new run ends
(``MediaFileManager.remove_orphaned_files``). The browser, though, swaps in the new run's
copy of a button a few hundred milliseconds after it has drawn the new figure: a click in
between (right after the heatmap changed when ε moved, after a background job's poll
reran the page, or on a run that was interrupted before it redrew the buttons) sends the
forgotten id. The server logs "Deferred file ... not found", the button shows an error for
five seconds, and the file never comes (tests/app/test_browser.py's PNG download timed out
that way on about one "move ε, then click PNG" in three).

:func:`keep_recent_downloads` changes two things in Streamlit's media file manager:

* a click with a superseded id gets the file of the same button as the page now draws it
  (same session and widget id, or place when the button has no id): the new ε's figure
  under the new ε's file name, as on screen;
* a callable no run references any more is kept for :data:`GRACE_SECONDS` (Streamlit keeps
  static downloads for one more sweep the same way), so a click on a button that no run
  has redrawn yet (an interrupted run) still gets that button's file.

Buttons drawn disabled still drop theirs at once (Streamlit's ``remove_deferred``, untouched).
"""
from __future__ import annotations

import time

#: how long a download button's callable outlives the last run that drew the button
GRACE_SECONDS = 60.0

_clock = time.monotonic  # tests move time forward here
_SINCE = "_robust_ensembles_orphaned_since"  # {file id: when a sweep first found it unreferenced}
_SWEEP = "_remove_orphaned_deferred_callables"
_EXECUTE = "execute_deferred"
#: Streamlit's own methods, as keep_recent_downloads found them
ORIGINALS: dict[str, object] = {}


def _drawn(manager, session_id: str) -> set[str]:
    """The file ids the session's current run references (its buttons on screen)."""
    return set(manager._files_by_session_and_coord.get(session_id, {}).values())


def _sweep(manager) -> None:
    """Drop the deferred callables no session has referenced for GRACE_SECONDS. Replaces
    ``MediaFileManager._remove_orphaned_deferred_callables``; its caller holds the lock."""
    referenced = {file_id for by_place in manager._files_by_session_and_coord.values()
                  for file_id in by_place.values()}
    since = manager.__dict__.setdefault(_SINCE, {})
    now = _clock()
    for file_id in list(manager._deferred_callables):
        if file_id in referenced:
            since.pop(file_id, None)
        elif now - since.setdefault(file_id, now) >= GRACE_SECONDS:
            manager._drop_deferred_id(file_id)
    for file_id in [f for f in since if f not in manager._deferred_callables]:  # dropped by anyone
        del since[file_id]


def current_id(manager, file_id: str) -> str:
    """The id of the button ``file_id`` was registered for, as the session's current run drew
    it; ``file_id`` itself while it is current, unknown, or not redrawn (yet)."""
    with manager._lock:
        entry = manager._deferred_callables.get(file_id)
        if entry is None:
            return file_id
        drawn = _drawn(manager, entry["session_id"])
        if file_id in drawn:
            return file_id
        for candidate in drawn:
            other = manager._deferred_callables.get(candidate)
            if other is None:
                continue
            if (other.get("element_id") == entry.get("element_id") if entry.get("element_id")
                    else other["coordinates"] == entry["coordinates"]):
                return candidate
        return file_id


def _execute(manager, file_id: str) -> str:
    """``MediaFileManager.execute_deferred`` on the button's current id (:func:`current_id`)."""
    return ORIGINALS[_EXECUTE](manager, current_id(manager, file_id))


def keep_recent_downloads() -> bool:
    """Install both changes (once per process; idempotent). False when this Streamlit's media
    file manager is not the one this was written for (then nothing changes)."""
    from streamlit.runtime.media_file_manager import MediaFileManager

    if not all(hasattr(MediaFileManager, name) for name in (_SWEEP, _EXECUTE, "_drop_deferred_id")):
        return False
    for name, replacement in ((_SWEEP, _sweep), (_EXECUTE, _execute)):
        if getattr(MediaFileManager, name) is not replacement:
            ORIGINALS[name] = getattr(MediaFileManager, name)
            setattr(MediaFileManager, name, replacement)
    return True
