"""``sactui sweep``: a grid of learning rate, batch size, window and seed on Ray Tune."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..arguments import Parser, add_common, positive_float, positive_int, runs_dir, say

NAME = "sweep"
HELP = "hyper-parameter sweep on Ray Tune (local or a cluster); selection on validation, never on the test span"


def _list_of(kind):
    def parse(text: str) -> tuple:
        try:
            values = tuple(kind(part) for part in text.split(",") if part.strip())
        except argparse.ArgumentTypeError:
            raise
        if not values:
            raise argparse.ArgumentTypeError(f"empty list: {text!r}")
        return values

    return parse


def _seed(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None


def parser() -> Parser:
    p = Parser(
        prog="sactui sweep",
        description="Train one run per combination of the lists given, on Ray Tune, and name the best by its "
                    "validation return (the validation slice lies inside the training split; the held-out test "
                    "figures are shown, never used). Needs the optional extra: pip install -e '.[sweep]'.",
    )
    p.add_argument("--data", required=True, help="candle CSV (6 columns, or Binance's 12-column kline dump)")
    p.add_argument("--funding",
                   help="funding CSV (funding_time_ms,funding_rate) to charge funding (default: none charged)")
    p.add_argument("--lr", type=_list_of(positive_float), default=(3e-4,),
                   help="learning rates, comma-separated (default: 3e-4)")
    p.add_argument("--batch-size", type=_list_of(positive_int), default=(256,),
                   help="batch sizes, comma-separated (default: 256)")
    p.add_argument("--window", type=_list_of(positive_int), default=(30,),
                   help="windows, comma-separated (default: 30)")
    p.add_argument("--seeds", type=_list_of(_seed), default=(0,), help="seeds, comma-separated (default: 0)")
    p.add_argument("--timesteps", type=positive_int, default=20_000, help="SAC steps per trial (default: %(default)s)")
    p.add_argument("--start", help="first candle to use, YYYY-MM-DD (UTC; default: the file's first)")
    p.add_argument("--end", help="stop before this date, YYYY-MM-DD (UTC; default: the file's end)")
    p.add_argument("--symbol", default="BTCUSDT", help="(default: %(default)s)")
    p.add_argument("--test-fraction", type=float, default=0.2, help="held-out tail of the data (default: %(default)s)")
    p.add_argument("--validation-fraction", type=float, default=0.15,
                   help="tail of the training split that selects checkpoints and trials (default: %(default)s)")
    p.add_argument("--eval-every", type=positive_int, default=5_000,
                   help="steps between validation evaluations (default: %(default)s)")
    p.add_argument("--deadband", type=float, default=0.05,
                   help="minimum exposure change that trades (default: %(default)s)")
    p.add_argument("--address", help="an existing Ray cluster (e.g. ray://head:10001 or auto); default: a local "
                   "Ray started for this sweep. Every node needs sactui installed and these paths")
    p.add_argument("--cpus-per-trial", type=positive_float, default=1.0, help="(default: %(default)s)")
    p.add_argument("--gpus-per-trial", type=float, default=0.0, help="(default: %(default)s)")
    p.add_argument("--max-concurrent", type=positive_int, help="trials at once (default: as resources allow)")
    p.add_argument("--sweep-id", help="name the sweep yourself (default: the naming convention "
                   "sweep_{SYMBOL}_{start}_{end}_{created})")
    add_common(p)
    return p


def run(argv: list[str]) -> int:
    args = parser().parse_args(argv)
    from trader_core.training.sweep import SweepRequest, import_tune, run_sweep
    from trader_core.training.trainer import TrainingRequest

    import_tune()  # before anything else: without the extra, one line saying how to install it
    training = TrainingRequest(
        data=Path(args.data), symbol=args.symbol, start=args.start, end=args.end, timesteps=args.timesteps,
        funding=Path(args.funding) if args.funding else None, test_fraction=args.test_fraction,
        validation_fraction=args.validation_fraction, eval_every=args.eval_every, deadband=args.deadband,
        runs_dir=runs_dir(args), progress_bar=False,
    )
    report = run_sweep(
        SweepRequest(training, args.lr, args.batch_size, args.window, args.seeds, args.address,
                     args.cpus_per_trial, args.gpus_per_trial, args.max_concurrent, args.sweep_id),
        say=say,
    )
    for line in report_lines(report):
        say(line)
    return 0 if report.get("best") else 1


def report_lines(report: dict) -> list[str]:
    from trader_core.runs import format_learning_rate

    def pct(value) -> str:
        return "-" if value is None else f"{value:+.2%}"

    best = (report.get("best") or {}).get("trial")
    lines = ["", f"{'':2}{'trial':>5} {'lr':>7} {'bs':>5} {'ws':>4} {'seed':>5} {'validation':>11} {'ckpt':>7} "
                 f"{'test*':>8} {'b&h*':>8} {'secs':>6}  train id"]
    for t in report["trials"]:
        mark = "> " if t["trial"] == best else "  "
        head = (f"{mark}{t['trial']:>5} {format_learning_rate(t['learning_rate']):>7} {t['batch_size']:>5} "
                f"{t['window_size']:>4} {t['seed']:>5}")
        if t["status"] != "done":
            lines.append(f"{head} {t['status'].upper()}: {t.get('error', '')}")
            continue
        lines.append(f"{head} {pct(t['validation_return']):>11} {t['checkpoint_step']!s:>7} "
                     f"{pct(t['test_return']):>8} {pct(t['test_buy_and_hold']):>8} {t['seconds']:>6.0f}  "
                     f"{t['train_id']}")
    lines.append("* held-out test figures, shown for the record: selection never reads them")
    if best is None:
        lines.append("no trial finished: nothing selected")
    else:
        lines.append(f"best (highest validation return): trial {best}, run {report['best']['train_id']} "
                     f"(validation {pct(report['best']['validation_return'])})")
    lines.append(f"sweep id: {report['sweep_id']}")
    return lines
