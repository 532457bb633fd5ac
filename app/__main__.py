"""``python -m app [streamlit flags]``: start the lab bound to 127.0.0.1 from any
directory (``streamlit run app/main.py`` reads ``.streamlit/config.toml`` only when started
from the repository root). An explicit ``--server.address`` still wins."""
import sys
from pathlib import Path

from streamlit.web import cli


def main() -> None:
    main_py = Path(__file__).resolve().parent / "main.py"
    args = sys.argv[1:]
    defaults = {"--server.address": "127.0.0.1", "--server.headless": "true",
                "--browser.gatherUsageStats": "false", "--client.showErrorDetails": "none", "--client.toolbarMode": "viewer"}
    flags = [f"{k}={v}" for k, v in defaults.items() if not any(a.split("=")[0] == k for a in args)]
    sys.argv = ["streamlit", "run", str(main_py), *flags, *args]
    sys.exit(cli.main())


if __name__ == "__main__":
    main()
