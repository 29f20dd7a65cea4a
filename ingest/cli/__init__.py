"""The ``rag`` command line (Typer). ``main.main`` is the console script."""
