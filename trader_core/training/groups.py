"""Groups of runs - a walk-forward, a sweep - on disk beside the runs they hold.

Why a folder of its own: each fold or trial is a normal run in ``entrenamientos/``
(loadable, backtestable, tradable), and the group only adds what no single run
knows: the settings it was launched with, the per-run results side by side, the
selection and the overall figures. ``entrenamientos/<group_id>/walkforward.yaml``
(or ``sweep.yaml``) holds them; each member run's metadata names its group under
``group:``. The folder has no ``config_metadata.yaml``, so it is never taken for a
run. Reading a group is plain YAML: ``sactui runs`` never unpickles anything.
"""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path

import yaml

from ..runs import format_learning_rate

WALKFORWARD_FILE = "walkforward.yaml"
SWEEP_FILE = "sweep.yaml"
GROUP_FILES = {"walkforward": WALKFORWARD_FILE, "sweep": SWEEP_FILE}


def group_id(kind: str, symbol: str, start: datetime, end: datetime, created: datetime,
             settings: tuple[float, int, int] | None = None) -> str:
    """``walkforward_BTCUSDT_20240101_20250119_lr3e-4_bs256_ws30_20261130_120000`` - the runs'
    naming convention with the group's kind in front (a sweep has no single lr/bs/ws)."""
    middle = ""
    if settings is not None:
        lr, bs, ws = settings
        middle = f"_lr{format_learning_rate(lr)}_bs{bs}_ws{ws}"
    return f"{kind}_{symbol}_{start:%Y%m%d}_{end:%Y%m%d}{middle}_{created:%Y%m%d_%H%M%S}"


def write_group(folder: Path, kind: str, report: dict) -> Path:
    """Write the group's file atomically (a reader never sees half of it)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / GROUP_FILES[kind]
    partial = path.with_suffix(".partial")
    partial.write_text(yaml.safe_dump(report, sort_keys=False, allow_unicode=True), encoding="utf-8")
    os.replace(partial, path)
    return path


def load_groups(runs_dir: Path) -> list[dict]:
    """Every group in ``runs_dir``, oldest id first, each with ``kind`` and ``id``; unreadable ones say so."""
    runs_dir = Path(runs_dir)
    if not runs_dir.is_dir():
        return []
    groups = []
    for folder in sorted(p for p in runs_dir.iterdir() if p.is_dir()):
        for kind, name in GROUP_FILES.items():
            path = folder / name
            if not path.is_file():
                continue
            try:
                report = yaml.safe_load(path.read_text(encoding="utf-8"))
            except (yaml.YAMLError, UnicodeDecodeError) as exc:
                report = {"error": f"{path} cannot be read: {' '.join(str(exc).split())}"}
            if not isinstance(report, dict):
                report = {"error": f"{path} is not a mapping"}
            groups.append({**report, "kind": kind, "id": folder.name})
    return groups
