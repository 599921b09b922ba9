"""A dashboard as one self-contained HTML page: the charts drawn here as SVG from current data
(``analytics.svg``, the cost report's chart code), the figures the script needs as a JSON data
block, and the script itself inline under a per-response nonce. Nothing is loaded from
anywhere; the only connection the page makes is the stream's WebSocket.

The API key is never in the page. The script takes it from the URL's fragment (``#key=...``,
which browsers never send to a server), keeps it in ``sessionStorage`` and removes it from the
address bar, then passes it to the stream as the ``key.<key>`` subprotocol.
"""

from __future__ import annotations

import html
import json
import secrets
from dataclasses import dataclass
from datetime import datetime

from analytics.svg import BOTTOM, HEIGHT, LEFT, PALETTE, RIGHT, TOP, WIDTH, TimeSeries, time_chart
from control_plane.monitoring.dashboards import WINDOW, Dashboard, Panel, reduced

STREAM_PATH = "/api/cloud/monitoring/stream"

STYLE = """
body { font: 14px/1.45 system-ui, sans-serif; color: #1f2328; background: #fff; margin: 24px auto; max-width: 1600px;
  padding: 0 16px; }
h1 { font-size: 24px; margin: 0 0 4px; } h2 { font-size: 16px; margin: 0 0 6px; }
.meta { color: #57606a; } #stream-status[data-state="live"] { color: #1a7f37; }
main { display: grid; grid-template-columns: repeat(auto-fill, minmax(780px, 1fr)); gap: 16px; }
section.panel { border: 1px solid #d0d7de; border-radius: 6px; padding: 12px; }
svg { display: block; max-width: 100%; height: auto; background: #fff; }
svg .grid { stroke: #d8dee4; stroke-width: 1; } svg .tick, svg .legend, svg .empty { font-size: 11px; fill: #424a53; }
svg .axis-title { font-size: 12px; fill: #1f2328; }
.stat { font-size: 40px; font-weight: 600; margin: 8px 0; } ul.by { margin: 0; padding-left: 20px; }
"""


@dataclass(frozen=True)
class Page:
    html: str
    nonce: str

    @property
    def csp(self) -> str:
        return csp(self.nonce)


def csp(nonce: str) -> str:
    """Only this page's own style and script run; the only connection is to this origin (the
    stream). No images, fonts, frames, forms or base URL."""
    return (
        f"default-src 'none'; script-src 'nonce-{nonce}'; style-src 'nonce-{nonce}'; connect-src 'self'; "
        "img-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    )


def _chart(dashboard: Dashboard, panel: Panel, lines: list[TimeSeries], start: float, end: float) -> str:
    return time_chart(f"{dashboard.id}-{panel.id}", panel.title, panel.unit, lines, start=start, end=end)


def _metric_panel(dashboard: Dashboard, panel: Panel, buckets: list[dict[str, float]], now: datetime) -> str:
    end = now.timestamp()
    lines = [
        TimeSeries(how, f"{how} of {panel.metric}", PALETTE[i], reduced(buckets, how))
        for i, how in enumerate(panel.reduce)
    ]
    return _chart(dashboard, panel, lines, end - WINDOW.total_seconds(), end)


def _spend_panel(dashboard: Dashboard, panel: Panel, spend: dict[str, list[tuple[float, float]]]) -> str:
    lines = [TimeSeries(c, f"Spend ({c})", PALETTE[i % len(PALETTE)], pts) for i, (c, pts) in enumerate(spend.items())]
    moments = [t for pts in spend.values() for t, _ in pts]
    start, end = (min(moments), max(moments)) if moments else (0.0, 0.0)
    return _chart(dashboard, panel, lines, start, end)


def _stat_panel(panel: Panel, counts: dict[str, int]) -> str:
    items = "".join(
        f'<li data-count="{html.escape(k)}">{html.escape(k)}: <span>{v}</span></li>' for k, v in sorted(counts.items())
    )
    return (
        f'<p class="stat" data-stat="{html.escape(panel.id)}">{sum(counts.values())}</p>'
        f'<ul class="by" data-by="{html.escape(panel.id)}">{items}</ul>'
    )


def render(
    dashboard: Dashboard,
    *,
    now: datetime,
    metrics: dict[str, list[dict[str, float]]],
    counts: dict[str, dict[str, int]],
    spend: dict[str, list[tuple[float, float]]],
    script: str,
    origin: str,
    last_event_id: int = 0,
) -> Page:
    """The page. ``metrics``: a metric panel's buckets by panel id; ``counts``: a stat panel's
    figures; ``spend``: the daily spend per currency; ``script``: the page's JavaScript;
    ``origin``: this API's origin, for a page saved to a file and opened from there."""
    nonce = secrets.token_urlsafe(18)
    sections, live = [], []
    for panel in dashboard.panels:
        if panel.kind == "line" and panel.metric:
            body = _metric_panel(dashboard, panel, metrics.get(panel.id, []), now)
            live.append({"id": panel.id, "kind": "line", "metric": panel.metric, "reduce": list(panel.reduce),
                         "colours": list(PALETTE[: len(panel.reduce)]), "buckets": metrics.get(panel.id, []),
                         "provider": (panel.stream or {}).get("provider")})  # fmt: skip
        elif panel.kind == "line":
            body = _spend_panel(dashboard, panel, spend)
        else:
            body = _stat_panel(panel, counts.get(panel.id, {}))
            if panel.stream:
                live.append({"id": panel.id, "kind": "stat", "topic": panel.stream["topic"],
                             "provider": panel.stream.get("provider")})  # fmt: skip
        sections.append(
            f'<section class="panel" data-panel="{html.escape(panel.id)}" aria-labelledby="p-{html.escape(panel.id)}">'
            f'<h2 id="p-{html.escape(panel.id)}">{html.escape(panel.title)}</h2>\n{body}\n</section>'
        )
    data = {
        "dashboard": dashboard.id,
        "stream": {"path": STREAM_PATH, "origin": origin, "topics": list(dashboard.topics),
                   "provider": dashboard.provider_id, "since": last_event_id},
        "geometry": {"width": WIDTH, "height": HEIGHT, "left": LEFT, "right": RIGHT, "top": TOP, "bottom": BOTTOM},
        "window_seconds": WINDOW.total_seconds(),
        "panels": live,
    }  # fmt: skip
    block = json.dumps(data).replace("<", "\\u003c")  # no "</script>" can end the block early
    page = "\n".join(
        [
            '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">',
            f'<meta http-equiv="Content-Security-Policy" content="{html.escape(csp(nonce))}">',
            '<meta name="referrer" content="no-referrer">',
            '<meta name="viewport" content="width=device-width, initial-scale=1">',
            f"<title>{html.escape(dashboard.title)}: WedCloud</title>",
            f'<style nonce="{nonce}">{STYLE}</style>\n</head>\n<body>',
            f"<header><h1>{html.escape(dashboard.title)}</h1>",
            f'<p class="meta">{html.escape(dashboard.description)} Drawn at {now:%Y-%m-%d %H:%M:%S} UTC.</p>',
            '<p class="meta" id="stream-status" data-state="idle" role="status">Live updates: not connected.</p>',
            "</header>",
            "<main>",
            *sections,
            "</main>",
            f'<script type="application/json" id="dashboard-data">{block}</script>',
            f'<script nonce="{nonce}">{script}</script>',
            "</body>\n</html>\n",
        ]
    )
    return Page(page, nonce)
