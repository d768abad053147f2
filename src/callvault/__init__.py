"""callvault: consent-aware, encrypted, audited call recording and conversation intelligence."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("callvault")
except PackageNotFoundError:  # running from a source tree without an install
    __version__ = "0.0.0"

__all__ = ["__version__"]
