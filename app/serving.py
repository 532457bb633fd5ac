"""Serving safety, applied on every run of the app however it was started.

The 127.0.0.1 binding lives in ``.streamlit/config.toml``, which Streamlit reads only
when started from the repository root; started from elsewhere (``streamlit run
/path/to/app/main.py``) it would listen on every interface and let anyone on the network
train, upload and delete. By the time this script runs the socket is already bound, so
:func:`harden` refuses to render for any client that is not on this machine unless the
address was chosen explicitly (``--server.address`` or ``STREAMLIT_SERVER_ADDRESS``, or a
config file that sets it): explicit is the operator's decision, the default is local
only. ``python -m app`` starts the app bound to 127.0.0.1 from any directory.

The "Deploy" button and the developer menu are hidden (:data:`HIDE_DEPLOY`). Uncaught
exceptions show a generic message in the page (``client.showErrorDetails =
none``); Streamlit writes the full traceback to the server's log.
"""
from __future__ import annotations

import ipaddress

import streamlit as st

LOCAL_ADDRESSES = {"127.0.0.1", "::1", "localhost"}


def address_is_explicit() -> bool:
    """Whether ``server.address`` was set on purpose (flag, environment or config file)."""
    from streamlit import config

    return config.get_option("server.address") not in (None, "")


def is_local(ip: str | None) -> bool:
    if not ip:
        return True  # no socket (AppTest, bare mode): nothing is served over the network
    try:
        address = ipaddress.ip_address(ip.split("%", 1)[0])
        mapped = getattr(address, "ipv4_mapped", None)  # ::ffff:127.0.0.1 is the IPv4 loopback
        return (mapped or address).is_loopback
    except ValueError:
        return ip in LOCAL_ADDRESSES


#: Streamlit's "Deploy" button and developer menu: hidden however the app was started
#: (``client.toolbarMode = viewer`` takes effect from the next script run; the style hides
#: the button on the very first one too).
HIDE_DEPLOY = "<style>[data-testid='stAppDeployButton'] {display: none;}</style>"


def harden() -> None:
    for option, value in (("client.showErrorDetails", "none"), ("client.toolbarMode", "viewer")):
        try:
            st.set_option(option, value)
        except Exception:  # noqa: BLE001 - older Streamlit: the config file's setting applies
            pass
    st.html(HIDE_DEPLOY)
    if address_is_explicit():
        return
    ip = getattr(st.context, "ip_address", None)
    if not is_local(ip):
        st.error("This lab only serves its own machine. Open it on the computer it runs on, or start it with "
                 "`python -m app` (binds 127.0.0.1). To serve a network on purpose, pass "
                 "`--server.address ADDRESS` explicitly.")
        st.stop()
