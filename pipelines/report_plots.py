"""The report's plots: matplotlib figures rendered to SVG markup for inlining in `index.html`.

Plots are drawn by matplotlib (no chart code of our own) and written as SVG with text kept as
`<text>` elements (`svg.fonttype: none`), so the page stays small and searchable. Labels may come
from crawled pages (category values such as languages or domains), so they are hostile input:
matplotlib's SVG writer escapes text content and attributes as XML; `_label` additionally
neutralises `$` (which matplotlib would parse as mathtext) and bounds the length. The markup is
cut to the bare `<svg>` element (no XML prolog, DOCTYPE or metadata) and the automatic group ids
(`figure_1`, `axes_1`, ...), which would repeat across figures, are removed; the ids that are
referenced (clip paths, markers) are hashed with a per-figure salt, so they are unique in the page.

Histograms arrive as the fixed-edge bins of `tokenmill.transforms.stats.Histogram`: `counts` has
one more entry than `edges` minus one, i.e. an under-range bin, the bins between edges, and an
over-range bin (a score of exactly 1.0 lands in the over-range bin of the 0..1 edges).
"""

from __future__ import annotations

import io
import math
import re

import matplotlib
from matplotlib.figure import Figure

WIDTH_IN, HEIGHT_IN = 5.4, 2.7
BAR_COLOR, DROP_COLOR, LINE_COLOR = "#3b6fb6", "#d0763b", "#3b6fb6"
TOP_CATEGORIES = 15
LABEL_CHARS = 40

# Titles for signals the issue names; anything else gets a title made from its name.
TITLES = {
    "chars": "Document length (characters)",
    "n_tokens": "Document length (tokens)",
    "tokens": "Document length (tokens)",
    "lang": "Language mix",
    "lang_score": "Language-ID score",
    "toxicity": "Toxicity score",
    "cluster_size": "Near-duplicate cluster size",
    "pii": "PII found, per entity type",
}

_AUTO_ID = re.compile(r'\sid="[A-Za-z][\w.]*_\d+"')
_METADATA = re.compile(r"<metadata>.*?</metadata>\s*", re.S)


def title_for(name: str) -> str:
    return TITLES.get(name) or name.replace("_", " ").replace(".", " ").strip().capitalize()


def _label(value: object) -> str:
    """A hostile string made safe for a matplotlib label: no mathtext, bounded length."""
    text = " ".join(str(value).split()) or "(empty)"
    if len(text) > LABEL_CHARS:
        text = text[: LABEL_CHARS - 1] + "\u2026"
    return text.replace("$", r"\$")


def _figure(height_in: float = HEIGHT_IN) -> tuple[Figure, object]:
    # A bare Figure (no pyplot): no global state, no GUI backend, safe to use from any thread.
    fig = Figure(figsize=(WIDTH_IN, height_in), layout="constrained")
    ax = fig.add_subplot()
    ax.spines[["top", "right"]].set_visible(False)
    ax.tick_params(labelsize=8)
    return fig, ax


def to_svg(fig: Figure, key: str) -> str:
    """The figure as an `<svg>` element for inlining; `key` makes its referenced ids unique."""
    buf = io.StringIO()
    params = {"svg.fonttype": "none", "svg.hashsalt": f"tokenmill-{key}", "font.size": 9}
    with matplotlib.rc_context(params):
        fig.savefig(buf, format="svg", metadata={"Date": None})
    svg = buf.getvalue()
    svg = svg[svg.index("<svg"):]
    svg = _METADATA.sub("", svg)
    return _AUTO_ID.sub("", svg)


def _is_log_spaced(edges: list[float]) -> bool:
    if len(edges) < 3 or edges[0] <= 0:
        return False
    ratios = [b / a for a, b in zip(edges, edges[1:])]
    return ratios[0] > 1.5 and max(ratios) - min(ratios) < 1e-6 * ratios[0]


def histogram_bins(edges: list[float], counts: list[int]) -> tuple[list[float], list[int], bool]:
    """Bin boundaries and counts to draw, with the under/over-range bins given a width.

    Returns (boundaries, counts, log_x): len(boundaries) == len(counts) + 1. Under- and over-range
    bins are as wide as their neighbour (in log space for log-spaced edges) and kept only when
    they hold documents; for log-spaced edges, empty bins at both ends are trimmed.
    """
    log_x = _is_log_spaced(edges)
    if log_x:
        below, above = edges[0] / (edges[1] / edges[0]), edges[-1] * (edges[-1] / edges[-2])
    else:
        below, above = edges[0] - (edges[1] - edges[0]), edges[-1] + (edges[-1] - edges[-2])
    bounds = [below] + list(edges) + [above]
    counts = list(counts)
    lo, hi = 0, len(counts)
    if log_x:
        while lo < hi and counts[lo] == 0:
            lo += 1
        while hi > lo and counts[hi - 1] == 0:
            hi -= 1
        lo, hi = max(lo - 1, 0), min(hi + 1, len(counts))
    else:
        lo, hi = (0 if counts[0] else 1), (hi if counts[-1] else hi - 1)
    return bounds[lo:hi + 1], counts[lo:hi], log_x


def histogram_plot(name: str, edges: list[float], counts: list[int], key: str,
                   xlabel: str | None = None) -> str | None:
    """Bars of a fixed-edge histogram; None when it holds no value."""
    if len(edges) < 2 or len(counts) != len(edges) + 1 or not any(counts):
        return None
    bounds, shown, log_x = histogram_bins(edges, counts)
    fig, ax = _figure()
    ax.stairs(shown, bounds, fill=True, color=BAR_COLOR, alpha=0.85)
    if log_x:
        ax.set_xscale("log")
    ax.set_xlim(bounds[0], bounds[-1])
    ax.set_title(_label(title_for(name)), fontsize=10, loc="left")
    ax.set_xlabel(_label(xlabel or name), fontsize=8)
    ax.set_ylabel("documents", fontsize=8)
    return to_svg(fig, key)


def bar_plot(title: str, counts: dict[str, int | float], key: str, xlabel: str = "documents",
             top: int = TOP_CATEGORIES) -> str | None:
    """Horizontal bars of the largest `top` values, the rest summed as one 'other' bar."""
    items = sorted(((str(k), v) for k, v in counts.items() if v), key=lambda kv: (-kv[1], kv[0]))
    if not items:
        return None
    if len(items) > top:
        rest = items[top - 1:]
        items = items[: top - 1] + [(f"other ({len(rest)} values)", sum(v for _, v in rest))]
    fig, ax = _figure(max(1.4, 0.6 + 0.22 * len(items)))
    labels = [_label(k) for k, _ in items]
    ax.barh(range(len(items)), [v for _, v in items], color=BAR_COLOR, tick_label=labels)
    ax.invert_yaxis()
    ax.set_title(_label(title), fontsize=10, loc="left")
    ax.set_xlabel(_label(xlabel), fontsize=8)
    return to_svg(fig, key)


def funnel_plot(report: dict, key: str = "funnel") -> str | None:
    """Per stage, kept and dropped (plus errors) as stacked horizontal bars, in pipeline order."""
    stages = report["stages"]
    if not stages:
        return None
    names = [_label(s["name"]) for s in stages]
    kept = [s["kept"] for s in stages]
    lost = [s["seen"] - s["kept"] for s in stages]
    fig, ax = _figure(max(1.4, 0.6 + 0.3 * len(stages)))
    ax.barh(range(len(stages)), kept, color=BAR_COLOR, label="kept", tick_label=names)
    ax.barh(range(len(stages)), lost, left=kept, color=DROP_COLOR, label="dropped or failed")
    ax.invert_yaxis()
    ax.set_xlabel("documents", fontsize=8)
    ax.set_title("Documents per stage", fontsize=10, loc="left")
    ax.legend(fontsize=7, frameon=False, loc="lower right")
    return to_svg(fig, key)


def loss_plot(training: dict, key: str = "loss") -> str | None:
    """Training (and validation, when logged) loss against the step."""
    steps, loss = training.get("steps") or [], training.get("loss") or []
    if not steps:
        return None
    fig, ax = _figure(3.0)
    ax.plot(steps, loss, color=LINE_COLOR, linewidth=1.2, label="train loss")
    val = [(s, v) for s, v in training.get("val_loss") or [] if v is not None and math.isfinite(v)]
    if val:
        ax.plot([s for s, _ in val], [v for _, v in val], "o-", color=DROP_COLOR, markersize=3,
                linewidth=1.0, label="validation loss")
    ax.set_xlabel("step", fontsize=8)
    ax.set_ylabel("loss", fontsize=8)
    ax.set_title("Training loss", fontsize=10, loc="left")
    ax.legend(fontsize=7, frameon=False)
    return to_svg(fig, key)


def shards_plot(shards: list[dict], key: str = "shards") -> str | None:
    """Tokens per shard in manifest order, coloured by split."""
    if not shards:
        return None
    fig, ax = _figure(max(1.4, 0.6 + 0.2 * min(len(shards), 40)))
    colors = [BAR_COLOR if s.get("split") == "train" else DROP_COLOR for s in shards]
    labels = [_label(f"{s.get('split', '?')}: {s.get('path', '')}") for s in shards]
    ax.barh(range(len(shards)), [s.get("tokens", 0) for s in shards], color=colors,
            tick_label=labels if len(shards) <= 40 else None)
    ax.invert_yaxis()
    ax.set_xlabel("tokens", fontsize=8)
    ax.set_title("Tokens per shard", fontsize=10, loc="left")
    return to_svg(fig, key)
