"""``sactui train``: train SAC on candles and write a run."""

from __future__ import annotations

from pathlib import Path

from ..arguments import Parser, add_common, runs_dir, say

NAME = "train"
HELP = "train a SAC agent on candles and write a run to entrenamientos/"


def parser() -> Parser:
    p = Parser(prog="sactui train", description="Train a SAC agent on candles and write a run.")
    p.add_argument("--data", required=True, help="candle CSV (6 columns, or Binance's 12-column kline dump)")
    p.add_argument("--symbol", default="BTCUSDT", help="(default: %(default)s)")
    p.add_argument("--interval", help="checked against the file's candle spacing (default: inferred)")
    p.add_argument("--start", help="first candle to use, YYYY-MM-DD (UTC; default: the file's first)")
    p.add_argument("--end", help="stop before this date, YYYY-MM-DD (UTC; default: the file's end)")
    p.add_argument("--timesteps", type=int, default=20_000, help="SAC steps (default: %(default)s)")
    p.add_argument("--lr", type=float, default=3e-4, help="learning rate (default: %(default)s)")
    p.add_argument("--batch-size", type=int, default=256, help="(default: %(default)s)")
    p.add_argument("--window", type=int, default=30, help="candles the model sees (default: %(default)s)")
    p.add_argument("--seed", type=int, default=0, help="(default: %(default)s)")
    p.add_argument("--funding", help="funding CSV (funding_time_ms,funding_rate) to charge funding (default: none charged)")
    p.add_argument("--test-fraction", type=float, default=0.2, help="held-out tail of the data (default: %(default)s)")
    p.add_argument("--max-leverage", type=float, default=1.0,
                   help="exposure at action +-1, x equity (default: %(default)s)")
    p.add_argument("--deadband", type=float, default=0.05,
                   help="minimum exposure change that trades (default: %(default)s)")
    p.add_argument("--train-id", help="name the run yourself (default: the naming convention train_{SYMBOL}_{start}_{end}_...)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_common(p)
    return p


def run(argv: list[str]) -> int:
    args = parser().parse_args(argv)
    from trader_core.training.trainer import TrainingRequest, train

    trained = train(
        TrainingRequest(
            data=Path(args.data), symbol=args.symbol, interval=args.interval, start=args.start,
            end=args.end, timesteps=args.timesteps, learning_rate=args.lr, batch_size=args.batch_size,
            window_size=args.window, seed=args.seed, funding=Path(args.funding) if args.funding else None,
            test_fraction=args.test_fraction, max_leverage=args.max_leverage, deadband=args.deadband,
            runs_dir=runs_dir(args), train_id=args.train_id, progress_bar=not args.no_progress,
        ),
        say=say,
    )
    say(f"train id: {trained.train_id}")
    return 0
