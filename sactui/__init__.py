"""The ``sactui`` command line: one module per command in ``commands/``, one entry point in ``main``.

Headless commands never import Textual; only ``commands.session`` does, for the console.
"""
