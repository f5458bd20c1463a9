"""Past sessions of this run, without leaving the console (``s``).

Why in the console: the question "how did the last sessions go?" comes up while one runs,
and the answer is in files (``trader_core.review.sessions``, the index ``sactui sessions``
prints). The index is read in a worker thread - journals can be long and the event loop
also runs the engine - and the session running now is listed with them. The table keeps
to one line a session; the highlighted one's summary is written out below it, with the
commands that show its plots and audit. F9 still flattens from here (a priority binding).
"""

from __future__ import annotations

from pathlib import Path

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import DataTable, Static

from trader_core.review.sessions import SessionInfo

from .. import format as fmt

COLUMNS = (("id", "Session"), ("mode", "Mode"), ("status", "Ended"), ("steps", "Steps"), ("trades", "Trades"),
           ("pnl", "PnL"), ("dd", "Max DD"))


def row_cells(s: SessionInfo) -> tuple:
    pnl = Text(f"{fmt.money(s.pnl, signed=True)} ({fmt.pct(s.pnl_fraction, signed=True)})", justify="right")
    status = s.status + (" +F9" if "operator_flatten" in s.emergencies else "") + (" (resumed)" if s.resumed else "")
    return (s.session_id, s.mode, status, Text(f"{s.steps:,}", justify="right"), Text(f"{s.trades:,}", justify="right"),
            pnl, Text(fmt.pct(s.max_drawdown), justify="right"))


def detail_text(s: SessionInfo, train_id: str) -> str:
    first = fmt.utc(s.first_candle_ms).strftime("%Y-%m-%d %H:%M") if s.first_candle_ms is not None else "-"
    last = fmt.utc(s.last_candle_ms).strftime("%Y-%m-%d %H:%M") if s.last_candle_ms is not None else "-"
    started = s.started_at.replace("T", " ").rstrip("Z") or "-"
    ended = s.ended_at.replace("T", " ").rstrip("Z") if s.ended_at else "still running"
    lines = [
        f"{s.session_id} [{s.mode}]: {s.ending}",
        f"started {started} · ended {ended} (wall, UTC) · candles {first} -> {last} (open times, UTC)",
        f"steps {s.steps:,} · trades {s.trades:,} · PnL {fmt.money(s.pnl, signed=True)} "
        f"({fmt.pct(s.pnl_fraction, signed=True)}; equity {fmt.money(s.start_equity)} -> {fmt.money(s.end_equity)}) · "
        f"fees {s.fees:,.4f} · funding {s.funding:+,.4f} · max drawdown {fmt.pct(s.max_drawdown)}",
        f"journal {s.steps_path}",
        f"plots: sactui report --train-id {train_id} --session {s.session_id} --html",
        f"audit: sactui audit --train-id {train_id} --session {s.session_id}",
    ]
    return "\n".join(lines)


class SessionsScreen(ModalScreen[None]):
    BINDINGS = [
        Binding("escape", "close", "Close"),
        Binding("s", "close", "Close", show=False),
        Binding("q", "close", "Close", show=False),
    ]

    def __init__(self, runs_dir: Path | None, train_id: str, stale_s: float = 120.0) -> None:
        super().__init__()
        self.runs_dir = runs_dir
        self.train_id = train_id
        self.stale_s = stale_s
        self.sessions: list[SessionInfo] = []

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog", classes="sessions-dialog"):
            yield Static(f"[b]Sessions of {self.train_id}[/b]   (Esc closes; newest last)", id="sessions-title")
            yield DataTable(id="sessions-table", cursor_type="row", zebra_stripes=False)
            yield Static("reading the sessions...", id="sessions-detail")

    def on_mount(self) -> None:
        table = self.query_one("#sessions-table", DataTable)
        for key, label in COLUMNS:
            table.add_column(label, key=key)
        if self.runs_dir is None:
            self._say("this console was started without a runs folder: no sessions to list")
            return
        self.run_worker(self._load, thread=True, name="sessions", group="sessions", exit_on_error=False)

    def _load(self) -> None:
        from trader_core.review.sessions import list_sessions

        try:
            found = list_sessions(self.runs_dir, self.train_id, stale_s=self.stale_s)
        except Exception as exc:  # noqa: BLE001 - shown to the operator, the console stays up
            self.app.call_from_thread(self._say, f"cannot list the sessions: {exc}")
            return
        self.app.call_from_thread(self._show, found)

    def _say(self, text: str) -> None:
        self.query_one("#sessions-detail", Static).update(Text(text))  # plain text: "[sim]" is not markup

    def _show(self, found: list[SessionInfo]) -> None:
        self.sessions = found
        table = self.query_one("#sessions-table", DataTable)
        for info in found:
            table.add_row(*row_cells(info), key=info.session_id)
        if not found:
            self._say("no session of this run has journaled a row yet")
            return
        table.move_cursor(row=len(found) - 1, animate=False)
        table.focus()
        self._say(detail_text(found[-1], self.train_id))

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        if 0 <= event.cursor_row < len(self.sessions):
            self._say(detail_text(self.sessions[event.cursor_row], self.train_id))

    def action_close(self) -> None:
        self.dismiss(None)
