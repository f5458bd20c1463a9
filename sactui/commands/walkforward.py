"""``sactui walkforward``: train a fresh agent per fold and test it on the span that follows."""

from __future__ import annotations

from pathlib import Path

from ..arguments import Parser, add_common, positive_float, positive_int, runs_dir, say, settings

NAME = "walkforward"
HELP = "walk-forward evaluation: a run per fold, each tested out of sample through the backtest engine"


def parser() -> Parser:
    p = Parser(
        prog="sactui walkforward",
        description="Walk-forward evaluation: for each fold, train SAC on the training span (checkpoint chosen on "
                    "a validation slice inside it, never on the test span), then backtest the following test span "
                    "through the engine, net of fees and funding, against buy-and-hold and flat.",
    )
    p.add_argument("--data", required=True, help="candle CSV (6 columns, or Binance's 12-column kline dump)")
    p.add_argument("--funding", help="funding CSV (funding_time_ms,funding_rate) charged in training and tests "
                   "(default: none charged)")
    p.add_argument("--train-span", required=True, help="length of each training span, e.g. 180d, 12w, 720h "
                   "(the indicator warm-up and validation slice are inside it)")
    p.add_argument("--test-span", required=True, help="length of each out-of-sample test span, e.g. 30d")
    p.add_argument("--step", help="how far each fold slides (default: the test span; never less)")
    p.add_argument("--start", help="first candle to use, YYYY-MM-DD (UTC; default: the file's first)")
    p.add_argument("--end", help="stop before this date, YYYY-MM-DD (UTC; default: the file's end)")
    p.add_argument("--max-folds", type=positive_int,
                   help="stop after this many folds (default: as many as the data holds)")
    p.add_argument("--symbol", default="BTCUSDT", help="(default: %(default)s)")
    p.add_argument("--timesteps", type=positive_int, default=20_000, help="SAC steps per fold (default: %(default)s)")
    p.add_argument("--lr", type=positive_float, default=3e-4, help="learning rate (default: %(default)s)")
    p.add_argument("--batch-size", type=positive_int, default=256, help="(default: %(default)s)")
    p.add_argument("--window", type=positive_int, default=30, help="candles the model sees (default: %(default)s)")
    p.add_argument("--seed", type=int, default=0, help="(default: %(default)s)")
    p.add_argument("--deadband", type=float, default=0.05,
                   help="minimum exposure change that trades (default: %(default)s)")
    p.add_argument("--max-leverage", type=float, default=1.0,
                   help="exposure at action +-1, x equity (default: %(default)s)")
    p.add_argument("--validation-fraction", type=float, default=0.15,
                   help="tail of each training span that picks the checkpoint (default: %(default)s)")
    p.add_argument("--eval-every", type=positive_int, default=5_000,
                   help="steps between validation evaluations (default: %(default)s)")
    p.add_argument("--jobs", type=positive_int, default=1,
                   help="folds trained side by side, one CPU thread each (default: %(default)s)")
    p.add_argument("--walkforward-id", help="name the walk-forward yourself (default: the naming convention "
                   "walkforward_{SYMBOL}_{start}_{end}_lr.._bs.._ws.._{created})")
    p.add_argument("--no-chart", action="store_true",
                   help="no equity chart in the terminal (the HTML page walkforward.html is always written)")
    add_common(p)
    return p


def run(argv: list[str]) -> int:
    args = parser().parse_args(argv)
    from trader_core.training.trainer import TrainingRequest
    from trader_core.training.walkforward import WalkForwardRequest, read_equity, run_walkforward

    training = TrainingRequest(
        data=Path(args.data), symbol=args.symbol, start=args.start, end=args.end, timesteps=args.timesteps,
        learning_rate=args.lr, batch_size=args.batch_size, window_size=args.window, seed=args.seed,
        funding=Path(args.funding) if args.funding else None, deadband=args.deadband,
        max_leverage=args.max_leverage, validation_fraction=args.validation_fraction, eval_every=args.eval_every,
        runs_dir=runs_dir(args), progress_bar=False,
    )
    report = run_walkforward(
        WalkForwardRequest(training, args.train_span, args.test_span, args.step, args.max_folds, args.jobs,
                           args.walkforward_id, settings(args)),
        say=say,
    )
    for line in report_lines(report):
        say(line)
    folder = runs_dir(args) / report["walkforward_id"]
    frame = read_equity(folder)
    if frame is not None:
        from ..walkforward_html import write_walkforward_html

        say(f"equity chart: {write_walkforward_html(report, frame, folder / 'walkforward.html')}")
        if not args.no_chart:
            from ..equity_chart import equity_chart

            say(equity_chart(frame, "out-of-sample equity, folds chained (vertical lines: fold edges)"))
    return 0


def _strategy_cells(m: dict) -> str:
    return (f"{m['total_return']:>+9.2%} {m['sharpe']:>7.2f} {m['max_drawdown']:>7.2%} {m['turnover']:>8.1f} "
            f"{m['trades']:>6}")


def report_lines(report: dict) -> list[str]:
    """The per-fold and overall table (agent via the backtest engine; benchmarks via the training env)."""
    head = f"{'return':>9} {'sharpe':>7} {'max dd':>7} {'turnover':>8} {'trades':>6}"
    lines = ["", f"{'fold':<5} {'test span':<24} {'strategy':<13} {head}"]
    for fold in report["folds"]:
        span = f"{fold['test_start'][:10]} -> {fold['test_end'][:10]}"
        for k, name in enumerate(("agent", "buy_and_hold", "flat")):
            label = name.replace("_", "-")
            lines.append(f"{fold['fold'] if k == 0 else '':<5} {span if k == 0 else '':<24} {label:<13} "
                         f"{_strategy_cells(fold[name])}")
    overall = report.get("overall")
    if overall:
        lines.append(f"{'all':<5} {'chained out of sample':<24} {'agent':<13} {_strategy_cells(overall['agent'])}")
        for name in ("buy_and_hold", "flat"):
            lines.append(f"{'':<5} {'':<24} {name.replace('_', '-'):<13} {_strategy_cells(overall[name])}")
        lines.append(
            f"the agent beat buy-and-hold in {overall['folds_agent_beat_buy_and_hold']} of {overall['folds']} folds "
            f"and flat in {overall['folds_agent_beat_flat']}; fees {overall['agent']['fees']:.2f}, funding paid "
            f"{overall['agent']['funding']:+.2f} USDT over the out-of-sample spans"
        )
    lines.append("turnover: traded notional / mean equity over the span. Selection (scaler, checkpoint) never "
                 "sees a test span.")
    lines.append(f"walk-forward id: {report['walkforward_id']}")
    return lines
