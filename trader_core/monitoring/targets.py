"""Alert destinations: apprise URLs whose secrets may come from the environment - and stay secret.

Why: a Telegram bot token or a webhook key in ``config.toml`` ends up in backups and
screenshots, so ``[alerts] urls`` may say ``${SACTUI_TELEGRAM_TOKEN}`` and the value is
read from the environment here, once. The expanded URL is handed to apprise and to
nothing else: every target is named by its scheme and position (``json#1``), and
``Redactor`` scrubs the expanded URLs and substituted values from any text (an
exception, a library's log line) before it is shown or written anywhere.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from typing import Mapping

from ..errors import ConfigError

_VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
MASK = "***"


@dataclass(frozen=True)
class AlertTarget:
    """One destination: a label that may be shown, and the URL that must not be."""

    label: str  # e.g. "json#1": scheme and position in [alerts] urls, never the URL
    url: str = field(repr=False)  # expanded: may hold secrets


class Redactor:
    """Replaces every secret it knows with ``***`` (longest first, so a URL goes before its parts)."""

    def __init__(self, secrets: list[str] | tuple[str, ...] = ()) -> None:
        self._secrets = sorted({s for s in secrets if s and len(s) >= 4}, key=len, reverse=True)

    def __call__(self, text: object) -> str:
        out = str(text)
        for secret in self._secrets:
            out = out.replace(secret, MASK)
        return out


def expand(template: str, environ: Mapping[str, str], position: int) -> tuple[str, list[str]]:
    """``template`` with each ``${NAME}`` replaced by the environment's value; the values used.

    A variable that is not set is a ConfigError naming the variable (never its value)."""
    used: list[str] = []

    def substitute(match: re.Match) -> str:
        name = match.group(1)
        if name not in environ or environ[name] == "":
            raise ConfigError(f"config.toml [alerts] urls: entry {position} uses ${{{name}}}, which is not set "
                              "in the environment")
        used.append(environ[name])
        return environ[name]

    return _VARIABLE.sub(substitute, template), used


def scheme_of(template: str) -> str:
    scheme = template.split("://", 1)[0].strip().lower()
    return scheme if re.fullmatch(r"[a-z0-9+.-]{1,20}", scheme) else "url"


def build_targets(templates: tuple[str, ...] | list[str],
                  environ: Mapping[str, str] | None = None) -> tuple[list[AlertTarget], Redactor]:
    """The targets of ``[alerts] urls`` and a redactor for everything secret in them.

    Each URL is checked with apprise now, so a typo fails the start (naming its position
    and scheme only) instead of the first emergency's alert."""
    import apprise

    env = os.environ if environ is None else environ
    targets: list[AlertTarget] = []
    secrets: list[str] = []
    for position, template in enumerate(templates, 1):
        url, used = expand(template, env, position)
        secrets.extend(used)
        secrets.append(url)
        # the whole URL as written may hold a literal token too: redact what follows the scheme
        secrets.append(url.split("://", 1)[-1])
        label = f"{scheme_of(template)}#{position}"
        if apprise.Apprise.instantiate(url, suppress_exceptions=True) is None:
            raise ConfigError(f"config.toml [alerts] urls: entry {position} ({label}) is not a URL apprise "
                              "understands; see https://github.com/caronc/apprise/wiki")
        targets.append(AlertTarget(label, url))
    return targets, Redactor(secrets)
