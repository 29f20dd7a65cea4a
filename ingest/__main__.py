"""``python -m ingest`` runs the ``rag`` command line."""

from __future__ import annotations

from ingest.cli.main import main

main()
