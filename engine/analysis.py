"""The old name of :mod:`engine.analyses`, kept only until the CLI and the report (being
split into packages) import the new one; nothing else may import it."""
from .analyses import *  # noqa: F401,F403
from .analyses import AnalysisError, available, get, label, run  # noqa: F401  (what they use)
