"""Test kit for the monitoring tests: a real HTTP receiver for apprise's JSON webhooks, and helpers
that drive real ``sactui`` processes (every wait has a deadline and raises when it passes)."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path

from aiohttp import web

SACTUI = str(Path(sys.executable).parent / "sactui")


class Receiver:
    """aiohttp on 127.0.0.1: records every POST (path, headers, JSON body, arrival time).

    ``hang=True`` accepts the connection and never answers (a receiver that is down in
    the worst way: not refusing, just silent)."""

    def __init__(self, hang: bool = False) -> None:
        self.hang = hang
        self.received: list[dict] = []
        self._runner: web.AppRunner | None = None
        self.port = 0
        self._arrived = asyncio.Event()

    async def _handle(self, request: web.Request) -> web.Response:
        if self.hang:
            await asyncio.sleep(3600)
        body = await request.text()
        loop = asyncio.get_running_loop()
        self.received.append({"path": request.path, "query": dict(request.query), "headers": dict(request.headers),
                              "raw": body, "json": json.loads(body), "at": loop.time()})
        self._arrived.set()
        return web.Response(text="ok")

    async def __aenter__(self) -> "Receiver":
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, shutdown_timeout=0.5)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc) -> None:
        await self._runner.cleanup()

    def titles(self) -> list[str]:
        return [r["json"].get("title", "") for r in self.received]

    async def wait_for(self, predicate, timeout: float, what: str) -> dict:
        """The first received alert for which ``predicate(json_body)`` holds; raises after ``timeout``."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            for item in self.received:
                if predicate(item["json"]):
                    return item
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise AssertionError(f"no alert {what} within {timeout} s; received: {self.titles()}")
            self._arrived.clear()
            try:
                await asyncio.wait_for(self._arrived.wait(), min(remaining, 0.2))
            except asyncio.TimeoutError:
                pass


async def wait_for(predicate, timeout: float = 60.0, what: str = "condition") -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        await asyncio.sleep(0.05)


async def exit_code(proc: subprocess.Popen, timeout: float = 30.0) -> int:
    await wait_for(lambda: proc.poll() is not None, timeout, f"process {proc.pid} to exit")
    return proc.returncode


def write_config(path: Path, *, urls=(), alerts: dict | None = None, metrics: dict | None = None,
                 watch: dict | None = None, risk: dict | None = None, streams: dict | None = None) -> Path:
    def table(name: str, values: dict) -> list[str]:
        lines = [f"[{name}]"]
        for key, value in values.items():
            if isinstance(value, bool):
                lines.append(f"{key} = {'true' if value else 'false'}")
            elif isinstance(value, str):
                lines.append(f'{key} = "{value}"')
            elif isinstance(value, (list, tuple)):
                lines.append(f"{key} = [{', '.join(json.dumps(v) for v in value)}]")
            else:
                lines.append(f"{key} = {value}")
        return lines

    lines = table("retries", {"attempts": 3, "delay_seconds": 0.05})
    lines += table("trading", {"adopt_unknown_position": True})
    lines += table("risk", risk or {})
    lines += table("alerts", {"urls": list(urls), **(alerts or {})})
    lines += table("metrics", metrics or {})
    lines += table("watch", watch or {"heartbeat_seconds": 0.5, "stale_seconds": 3.0, "poll_seconds": 0.2})
    if streams:
        lines += table("streams", streams)
    path.write_text("\n".join(lines) + "\n")
    return path


def run_status(runs_dir: Path, train_id: str, config: Path) -> tuple[int, dict]:
    done = subprocess.run([SACTUI, "status", "--train-id", train_id, "--runs-dir", str(runs_dir), "--config",
                           str(config), "--json"], capture_output=True, text=True, timeout=60)
    assert done.stderr == "", done.stderr
    return done.returncode, json.loads(done.stdout)
