"""The KPI report as one self-contained HTML page a support lead can open: no script, no CDN, the
plots rendered here by matplotlib as inline SVG.

``render_html(report)`` takes the report ``frontdesk kpi report --json`` prints. Every text that
comes from data (intents, queues, the redacted messages the bot could not answer) is escaped.
"""

from __future__ import annotations

import html
import io
import itertools
from collections.abc import Iterable, Sequence
from typing import Any

from frontdesk.insights.report import format_kpi

MET, MISSED, NO_DATA = "met", "missed", "no data"
_COLOURS = {MET: "#1b7f3b", MISSED: "#b42318", NO_DATA: "#667085"}
_STYLE = """
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: #101828; margin: 2rem auto;
       max-width: 1100px; padding: 0 1rem; }
h1 { font-size: 1.6rem; margin-bottom: .2rem; } h2 { font-size: 1.2rem; margin-top: 2.2rem; }
.sub { color: #475467; margin-top: 0; }
table { border-collapse: collapse; width: 100%; margin: .6rem 0; }
th, td { text-align: left; padding: .35rem .6rem; border-bottom: 1px solid #eaecf0; vertical-align: top; }
th { background: #f9fafb; font-weight: 600; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
.status { font-weight: 600; }
.grid { display: grid; grid-template-columns: repeat(auto-fit, minmax(480px, 1fr)); gap: 1rem; }
figure { margin: 0; border: 1px solid #eaecf0; border-radius: 8px; padding: .6rem; }
figcaption { font-weight: 600; margin-bottom: .3rem; }
figure svg { width: 100%; height: auto; }
.verdict { font-size: 1.1rem; font-weight: 700; padding: .6rem .9rem; border-radius: 8px; display: inline-block; }
"""


def _e(value: Any) -> str:
    return html.escape("" if value is None else str(value))


def _figure_svg(draw: Any, width: float = 6.4, height: float = 3.2) -> str:
    """Runs ``draw(axes)`` on a new figure and returns the SVG markup (no XML prologue)."""
    import matplotlib

    matplotlib.use("Agg")  # no display here: render to files only
    from matplotlib import pyplot

    figure, axes = pyplot.subplots(figsize=(width, height), dpi=100)
    try:
        draw(axes)
        axes.spines[["top", "right"]].set_visible(False)
        figure.tight_layout()
        buffer = io.StringIO()
        # No creator or date in the page: the same data renders the same bytes.
        figure.savefig(buffer, format="svg", metadata={"Creator": None, "Date": None, "Format": None, "Type": None})
    finally:
        pyplot.close(figure)
    svg = buffer.getvalue()
    return svg[svg.index("<svg"):]


def trend_svg(weeks: Sequence[str], values: Sequence[float | None], target: float | None, label: str,
              percent: bool = True) -> str:
    def draw(axes: Any) -> None:
        points = [(week, value) for week, value in zip(weeks, values, strict=True) if value is not None]
        if points:
            axes.plot([w for w, _ in points], [v * (100 if percent else 1) for _, v in points], marker="o",
                      color="#1570ef", label=label)
        if target is not None:
            axes.axhline(target * (100 if percent else 1), color="#b42318", linestyle="--", label="target")
        axes.set_ylabel(f"{label} (%)" if percent else label)
        axes.tick_params(axis="x", labelrotation=30)
        axes.legend(loc="best", frameon=False)
        if not points:
            axes.text(0.5, 0.5, "no data in this window", ha="center", va="center", transform=axes.transAxes)
    return _figure_svg(draw)


def bars_svg(labels: Sequence[str], values: Sequence[float], xlabel: str, colour: str = "#1570ef") -> str:
    def draw(axes: Any) -> None:
        positions = range(len(labels))
        axes.barh(list(positions), list(values), color=colour)
        axes.set_yticks(list(positions), [str(label) for label in labels])
        axes.invert_yaxis()
        axes.set_xlabel(xlabel)
        for position, value in zip(positions, values, strict=True):
            axes.text(value, position, f" {value:g}", va="center")
        if not labels:
            axes.text(0.5, 0.5, "no data in this window", ha="center", va="center", transform=axes.transAxes)
    return _figure_svg(draw, height=max(2.4, 0.35 * len(labels) + 1))


def histogram_svg(edges: Sequence[float], counts: Sequence[int], xlabel: str) -> str:
    def draw(axes: Any) -> None:
        widths = [b - a for a, b in itertools.pairwise(edges)]
        axes.bar(list(edges[:-1]), list(counts), width=widths, align="edge", color="#1570ef", edgecolor="white")
        axes.set_xlabel(xlabel)
        axes.set_ylabel("messages")
    return _figure_svg(draw)


def table(headers: Sequence[str], rows: Iterable[Sequence[Any]], numeric: Iterable[int] = ()) -> str:
    numeric = set(numeric)
    head = "".join(f"<th>{_e(h)}</th>" for h in headers)
    body = []
    for row in rows:
        cells = []
        for index, cell in enumerate(row):
            if isinstance(cell, tuple) and len(cell) == 2 and cell[0] == "status":
                cells.append(f'<td class="status" style="color:{_COLOURS.get(cell[1], "#101828")}">{_e(cell[1])}</td>')
            else:
                cells.append(f'<td{" class=num" if index in numeric else ""}>{_e(cell)}</td>')
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def figure(caption: str, svg: str) -> str:
    return f"<figure><figcaption>{_e(caption)}</figcaption>{svg}</figure>"


def page(title: str, subtitle: str, sections: Sequence[tuple[str, str]]) -> str:
    """A whole document: ``sections`` are (heading, HTML already built from escaped parts)."""
    body = "".join(f"<h2>{_e(heading)}</h2>{content}" for heading, content in sections)
    return (f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{_e(title)}</title>'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<style>{_STYLE}</style></head><body><h1>{_e(title)}</h1><p class=sub>{_e(subtitle)}</p>"
            f"{body}</body></html>\n")


def percent(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"


def _target_of(report: dict[str, Any], kpi: str) -> float | None:
    for result in report["targets"]:
        if result["use_case"] is None and result["kpi"] == kpi:
            return float(result["target"].split()[-1])
    return None


def render(report: dict[str, Any]) -> str:
    """The whole page for a report of ``frontdesk.insights.report.kpi_window_report``."""
    figures, turns = report["figures"], report["figures"]["turns"]
    conversations = figures["conversations"]
    weeks = list(report["weekly"])
    trends = "".join(
        figure(f"Weekly {label} against its target", trend_svg(
            weeks, [report["weekly"][week].get(kpi) for week in weeks], _target_of(report, kpi), label,
            percent=not kpi.startswith("csat")))
        for kpi, label in (("deflection", "deflection"), ("csat_after_bot", "CSAT after the bot"),
                           ("sla_compliance", "SLA compliance"), ("fallback_rate", "fallback rate")))
    funnel = bars_svg(["conversations", "requests", "resolved by the bot", "handed off", "abandoned"],
                      [conversations["conversations"], conversations["requests"], conversations["resolved"],
                       conversations["handed_off"], conversations["abandoned"]], "conversations")
    histogram = turns["confidence_histogram"]
    confidence = histogram_svg([bin_["from"] for bin_ in histogram] + [1.0], [bin_["count"] for bin_ in histogram],
                               "the NLU's confidence in the intent it read")
    intents = sorted(turns["intents"].items(), key=lambda item: -item[1]["count"])[:15]
    intent_bars = bars_svg([name for name, _ in intents], [item["count"] for _, item in intents], "messages")
    corrected = {row["intent"]: row for row in report.get("agent_corrected", [])}
    per_intent = table(
        ["intent", "messages", "fallback rate", "reviewed by agents", "agent-corrected rate"],
        [(name, item["count"], percent(turns["fallback_rate_by_intent"].get(name)),
          corrected.get(name, {}).get("reviewed", 0), percent(corrected.get(name, {}).get("rate")))
         for name, item in sorted(turns["intents"].items(), key=lambda entry: -entry[1]["count"])],
        numeric=(1, 2, 3, 4))
    targets = table(["use case", "KPI", "value", "target", "status"],
                    [(result["use_case"] or "all", result["kpi"], format_kpi(result["kpi"], result["value"]),
                      result["target"], ("status", result["status"])) for result in report["targets"]],
                    numeric=(2,))
    flows = table(["flow", "requests", "deflection", "escalation", "abandonment"],
                  [(flow, item["requests"], percent(item["deflection"]), percent(item["escalation_rate"]),
                    percent(item["abandonment_rate"])) for flow, item in sorted(figures["by_flow"].items())],
                  numeric=(1, 2, 3, 4))
    queues = table(["queue", "SLA compliance", "met", "missed", "pending"],
                   [(queue, percent(sla["compliance"]), sla["met"], sla["missed"], sla["pending"])
                    for queue, sla in sorted(figures["sla_by_queue"].items())], numeric=(1, 2, 3, 4))
    drift = report["drift"]
    drift_table = table(["measure", "value", "threshold", "status"],
                        [(m["name"], "no data" if m["value"] is None else f"{m['value']:.3f}", m["threshold"],
                          ("status", MISSED if m["above"] else MET)) for m in drift["measures"]], numeric=(1, 2))
    fallbacks = table(["times", "what the customer wrote (redacted)"],
                      [(item["count"], item["text"]) for item in turns["top_fallback_messages"]], numeric=(0,))
    costs = figures["costs"]
    cost_table = table(["", "value"], [(name.replace("_", " "), value if isinstance(value, str) else
                                        ("no data" if value is None else f"{value:,.2f}"))
                                       for name, value in costs.items()], numeric=(1,))
    sections = [
        ("Targets", targets),
        ("Weekly trends", f'<div class="grid">{trends}</div>'),
        ("Outcomes", f'<div class="grid">{figure("From conversation to outcome", funnel)}'
                     f'{figure("How sure the model was", confidence)}</div>'),
        ("Deflection by flow", flows),
        ("SLA compliance by queue", queues),
        ("Intents", figure("The most frequent intents", intent_bars) + per_intent),
        ("What customers ask that the bot cannot answer", fallbacks),
        (f"Drift: {drift['current']['from']} .. {drift['current']['to']} against "
         f"{drift['baseline']['from']} .. {drift['baseline']['to']}", drift_table),
        ("Cost and payback", cost_table),
    ]
    subtitle = (f"{report['window']['from']} .. {report['window']['to']}; goals version {report['goals_version']}; "
                f"{conversations['conversations']} conversations, {turns['turns']} customer messages")
    return page("Frontdesk: KPI report", subtitle, sections)
