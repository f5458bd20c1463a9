"""``sactui soak``: 48 hours of market time through a real trader process under seeded chaos, in minutes.

Exit 0 when every invariant held; 1 when one failed or the soak lost lockstep (the report
says which and where); 2 for a bad option, 3 when the candle file is missing or too short.
"""

from __future__ import annotations

import asyncio
import shlex
import shutil
import sys
from pathlib import Path

from trader_core.errors import ConfigError, DataError, ExitCode

from ..arguments import Parser, say

NAME = "soak"
HELP = "48 h of market time through a real session under seeded faults and kill -9; checks nothing was lost"

DATA_NAME = "binance_usdm_BTCUSDT_1m_20230718_20230817.csv"


def default_data() -> Path | None:
    """The 1m candles: the repository's data/btcusdt/, or the shared data set beside the repository."""
    here = Path(__file__).resolve().parents[2]
    for folder in (Path("data/btcusdt"), here / "data" / "btcusdt", here.parent / "shared" / "data" / "btcusdt"):
        if (folder / DATA_NAME).is_file():
            return folder / DATA_NAME
    return None


def run(argv: list[str]) -> int:
    from ..soak.schedule import PROFILES

    p = Parser(prog="sactui soak", description="Replay days of real 1m candles through a real sactui process "
               "against the simulator, inject seeded faults, kill and restart it, then check the exchange's "
               "records against every journal.")
    p.add_argument("--profile", choices=sorted(PROFILES), default="full",
                   help="full: 2,880 1m candles (48 h); short: 240 candles (4 h) with a smaller schedule (default: full)")
    p.add_argument("--seed", type=int, default=1, help="the chaos schedule and the training seed (default: 1)")
    p.add_argument("--data", help=f"1m candle CSV (default: {DATA_NAME} in data/btcusdt/ or ../shared/data/btcusdt/)")
    p.add_argument("--out", default="soak-out", help="work folder: run, logs, journals, report (default: soak-out)")
    p.add_argument("--fresh", action="store_true", help="empty --out first (a new run, new journals)")
    p.add_argument("--schedule-only", action="store_true", help="print the schedule as JSON and exit")
    args = p.parse_args(argv)
    profile = PROFILES[args.profile]
    if args.schedule_only:
        from ..soak.harness import same_schedule

        print(same_schedule(args.seed, profile))
        return ExitCode.OK
    data = Path(args.data) if args.data else default_data()
    if data is None or not data.is_file():
        raise DataError(f"1m candle file not found ({args.data or DATA_NAME}): pass --data FILE")
    out = Path(args.out)
    if out.exists() and any(out.iterdir()):
        if not args.fresh:
            raise ConfigError(f"{out}/ is not empty: pass --fresh to replace it, or another --out")
        shutil.rmtree(out)
    from ..soak.harness import Soak
    from ..soak.report import write_report
    from ..soak.settings import SoakAborted, SoakOptions

    options = SoakOptions(seed=args.seed, profile=profile, data=data, workdir=out, say=say)
    command = "sactui soak " + " ".join(shlex.quote(a) for a in argv)
    try:
        result = asyncio.run(Soak(options).run())
    except SoakAborted as exc:  # before the trader ever ran: no report to write
        say(f"soak aborted before it started: {exc}")
        return ExitCode.ERROR
    json_path, md_path = write_report(result, out, command)
    for r in result.verdict.results:
        say(f"  {'ok  ' if r.ok else 'FAIL'} {r.name}: {r.detail}")
    say(f"{'PASSED' if result.ok else 'FAILED'}: {result.steps} candles in {result.wall_s:.0f} s; report {md_path} "
        f"and {json_path}")
    sys.stdout.flush()
    return ExitCode.OK if result.ok else ExitCode.ERROR
