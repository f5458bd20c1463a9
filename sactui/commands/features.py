"""``sactui features``: per-candle indicator values and model features from the live (incremental) path."""

from __future__ import annotations

from pathlib import Path

from ..arguments import Parser, add_common, add_trust_run, runs_dir, say

NAME = "features"
HELP = "write the indicators and features the live path computes, to check against a chart"


def parser() -> Parser:
    p = Parser(
        prog="sactui features",
        description="Write per-candle indicator values (raw), model features (model_*) and what the model sees "
                    "(scaled_*) from the live (incremental) path; one row per candle, named by its open time (UTC).",
    )
    p.add_argument("--train-id", required=True, help="the run whose features to compute (see 'sactui runs')")
    p.add_argument("--data", required=True, help="candle CSV (6 columns, or Binance's 12-column kline dump)")
    p.add_argument("--out", required=True, help="CSV to write (replaced whole, never half-written)")
    add_trust_run(p)
    add_common(p)
    return p


def run(argv: list[str]) -> int:
    args = parser().parse_args(argv)
    from trader_core.candles import load_candles
    from trader_core.feature_export import export_features
    from trader_core.runs import TrainingRun

    training_run = TrainingRun.load(args.train_id, runs_dir(args), trust_pickle=args.trust_run)
    rows = export_features(training_run, load_candles(args.data), Path(args.out))
    say(f"wrote {rows} rows to {args.out} (the first {training_run.features.warmup - 1} candles are warm-up)")
    return 0
