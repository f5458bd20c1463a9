"""One module per command; each has ``NAME``, ``HELP`` and ``run(argv) -> exit code``."""
