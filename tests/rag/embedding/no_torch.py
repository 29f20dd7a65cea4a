"""Run ``rag ARGS...`` as the torch-free install sees it: torch and transformers cannot be imported.

A finder first on ``sys.meta_path`` answers "no such module" for them, so any import of either on the
path under test fails as on a machine without them; at exit the script prints which of them were loaded
(``loaded: []`` is the pass).
"""

from __future__ import annotations

import atexit
import importlib.abc
import signal
import sys
from collections.abc import Sequence
from importlib.machinery import ModuleSpec
from types import ModuleType

BLOCKED = ("torch", "transformers")


class Blocker(importlib.abc.MetaPathFinder):
    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> ModuleSpec | None:
        if fullname.split(".")[0] in BLOCKED:
            raise ModuleNotFoundError(f"No module named {fullname!r} (blocked by the test)", name=fullname)
        return None


def _report() -> None:
    print(f"loaded: {sorted(name for name in BLOCKED if name in sys.modules)}", file=sys.stderr)


if __name__ == "__main__":
    sys.meta_path.insert(0, Blocker())
    atexit.register(_report)
    # uvicorn re-raises a SIGTERM after its graceful shutdown; exit normally then, so the report runs.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    sys.argv = ["rag", *sys.argv[1:]]
    from ingest.cli.main import main

    main()
