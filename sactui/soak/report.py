"""The soak's report: the same facts as JSON (for machines and comparisons) and Markdown (for people).

Why both from one dictionary: the Markdown is a view of the JSON, so what a person reads
is exactly what a script would check.
"""

from __future__ import annotations

import json
import platform
from datetime import UTC, datetime
from pathlib import Path

from .result import SoakResult
from .schedule import schedule_json


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M")


def result_dict(result: SoakResult, command: str) -> dict:
    o = result.options
    market_hours = result.steps / 60
    return {
        "command": command,
        "ok": result.ok,
        "aborted": result.aborted,
        "seed": o.seed,
        "profile": o.profile.name,
        "span": {"first": _iso(result.span[0]), "last": _iso(result.span[1]), "candles": result.steps,
                 "market_hours": round(market_hours, 2)},
        "wall_seconds": round(result.wall_s, 1),
        "speedup": round(market_hours * 3600 / result.wall_s, 1) if result.wall_s else None,
        "machine": {"python": platform.python_version(), "platform": platform.platform()},
        "settings": {"max_drawdown": o.max_drawdown, "sample_every": o.sample_every,
                     "warmup_candles": o.warmup_candles, "flat_tolerance": o.flat_tolerance},
        "schedule": json.loads(schedule_json(result.schedule)),
        "faults": [outcome.as_dict() for outcome in result.outcomes],
        "processes": [p.as_dict() for p in result.processes],
        "latched": [{"first": _iso(s.first), "last": _iso(s.last), "candles": (s.last - s.first) // 60_000 + 1,
                     "halted_journal": s.halted_file, "restarted_journal": s.restarted_file} for s in result.latched],
        "invariants": [r.as_dict() for r in result.verdict.results],
        "resources": {"trends": [t.as_dict() for t in result.trends],
                      "samples": [s.as_dict() for s in result.samples]},
        "figures": result.figures,
    }


def _cell(value) -> str:
    if value is None or value == "" or value == {}:
        return "-"
    if isinstance(value, dict):
        return ", ".join(f"{k} ×{v}" for k, v in value.items())
    return str(value).replace("|", "/")


def markdown(data: dict) -> str:
    lines = [
        f"# Soak report: {'PASSED' if data['ok'] else 'FAILED'}",
        "",
        f"- command: `{data['command']}`",
        (f"- span: {data['span']['first']} → {data['span']['last']} UTC, {data['span']['candles']} candles "
        f"({data['span']['market_hours']} h of market time) in {data['wall_seconds']} s of wall time "
        f"(×{data['speedup']})"),
        (f"- seed {data['seed']}, profile {data['profile']}, {len(data['schedule'])} scheduled faults, "
        f"{len(data['processes'])} trader processes"),
        f"- machine: {data['machine']['platform']}, Python {data['machine']['python']}",
    ]
    if data["aborted"]:
        lines += ["", f"**Aborted:** {data['aborted']}"]
    lines += ["", "## Invariants", "", "| invariant | holds | detail |", "|---|---|---|"]
    lines += [f"| {r['name']} | {'yes' if r['ok'] else '**NO**'} | {_cell(r['detail'])} |" for r in data["invariants"]]
    lines += ["", "## Faults and how the session reacted", "",
              ("Recovered: the first candle at or after the fault whose row shows normal trading again (an order, "
              "or the policy's own reason to hold), and the wall time from the injection to that row. "
              "Reconnect: seconds until the trader opened a new connection of the kind the fault closed."), "",
              ("| candle | fault | fired | reconnect s | recovered at | recovered s | rows meanwhile | "
              "warnings and errors meanwhile |"), "|---|---|---|---|---|---|---|---|"]
    for f in data["faults"]:
        params = ", ".join(f"{k}={v}" for k, v in f["params"].items())
        lines.append(f"| {f['armed_candle']} | {f['kind']}{f' ({params})' if params else ''} | {_cell(f['fired'])} | "
                     f"{_cell(f['reconnect_s'])} | {_cell(f['recovered_candle'])} | {_cell(f['recovered_s'])} | "
                     f"{_cell(f['statuses'])} | {_cell(f['events'])}{' ' + f['note'] if f['note'] else ''} |")
    lines += ["", "## Trader processes", "", "| # | candles | exit | why | startup s |", "|---|---|---|---|---|"]
    for p in data["processes"]:
        lines.append(f"| {p['number']} | {p['start_candle']} → {_cell(p['end_candle'])} | {_cell(p['exit_code'])} | "
                     f"{p['end_cause']} | {_cell(p['startup_s'])} |")
    if data["latched"]:
        lines += ["", "## Latched stretch", ""]
        for s in data["latched"]:
            lines.append(f"- {s['first']} → {s['last']} ({s['candles']} candles): the drawdown stop halted the "
                         f"session ({s['halted_journal']}); the operator reviewed, ran `sactui unlatch` and "
                         f"restarted ({s['restarted_journal']})")
    lines += ["", "## Resources (after each process's warm-up)", "",
              "Median of the first third of the samples against the median of the last third.", "",
              "| process | metric | samples | first | last | change | range |", "|---|---|---|---|---|---|---|"]
    for t in data["resources"]["trends"]:
        lines.append(f"| {t['process']} | {t['metric']} | {t['samples']} | {t['first']:g} | {t['last']:g} | "
                     f"{t['change']:+.1%} | {t['low']:g} – {t['high']:g} |")
    fig = data["figures"]
    lines += ["", "## Figures", ""] + [f"- {k}: {_cell(v)}" for k, v in fig.items()]
    return "\n".join(lines) + "\n"


def write_report(result: SoakResult, folder: Path, command: str) -> tuple[Path, Path]:
    data = result_dict(result, command)
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    json_path, md_path = folder / "soak-report.json", folder / "soak-report.md"
    json_path.write_text(json.dumps(data, indent=1) + "\n")
    md_path.write_text(markdown(data))
    return json_path, md_path
