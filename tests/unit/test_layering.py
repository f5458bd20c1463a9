"""The headless path runs without the terminal UI stack: nothing it imports loads Textual.

The import-linter contract (``lint-imports`` in ``make test``) checks the code's imports;
this checks what a real headless process actually has loaded.
"""

from __future__ import annotations

import subprocess
import sys


def test_headless_commands_load_no_textual_module(tmp_path):
    probe = (
        "import sys\n"
        "from sactui.main import main\n"
        "import sactui.commands.session, trader_core.headless, trader_core.launcher, trader_core.engine\n"
        f"main(['runs', '--runs-dir', {str(tmp_path)!r}])\n"
        "loaded = sorted(m for m in sys.modules if m.split('.')[0] in ('textual', 'textual_plotext', 'tui'))\n"
        "print('LOADED', loaded)\n"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "LOADED []" in result.stdout, result.stdout
