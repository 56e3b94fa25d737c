"""Draw the rate ratios of a ``bench/compare.sh`` table as an SVG bar chart.

    python docs/benchmarks/make_chart.py TABLE.txt CHART.svg

TABLE.txt is the ratio table as ``compare.sh`` prints it (``spead_bench.py
--compare``): comment lines starting with ``#``, a header, a rule of dashes, then one
line per workload, either with figures::

    udp-8972                    3,088          1,406      2.196     0.449        12.0%      16.0%  faster

or, when a side failed, ``NAME ours: STATUS, ref: STATUS``. The chart has one
horizontal bar per workload with a rate ratio (ours / reference heaps/s), on a
logarithmic axis centred on the line at 1.0 (equal speed), coloured by the table's
verdict; workloads without a ratio are listed with their status and no bar.

Pure Python (no plotting library): the docs build runs it (``docs/conf.py``), so
the chart always shows the table that the benchmarks page includes.
"""

from __future__ import annotations

import dataclasses
import math
import os
import pathlib
import re
import sys
from xml.sax.saxutils import escape

_ROW = re.compile(
    r"^(?P<name>\S+)\s+(?P<ours>[\d,]+)\s+(?P<ref>[\d,]+)\s+(?P<ratio>[\d.]+|nan)\s+(?P<cpu>[\d.]+|nan)"
    r"\s+(?P<ours_spread>[\d.]+)%\s+(?P<ref_spread>[\d.]+)%\s+(?P<verdict>\S+)\s*$"
)
_FAILED = re.compile(r"^(?P<name>\S+)\s+ours: (?P<ours>[^,]+), ref: (?P<ref>.+?)\s*$")
_COLOURS = {"faster": "#2e7d32", "slower": "#c62828", "~same": "#78909c"}


@dataclasses.dataclass
class Row:
    """One workload of the table; ``ratio`` is None where a side has no result."""

    name: str
    ratio: float | None = None
    cpu_ratio: float | None = None
    ours: float | None = None
    ref: float | None = None
    verdict: str = ""
    status: str = ""


def parse(text: str) -> list[Row]:
    """The workload rows of a ratio table, in table order."""
    rows: list[Row] = []
    in_body = False
    for line in text.splitlines():
        if not in_body:
            in_body = bool(line) and set(line) == {"-"}
            continue
        if not line.strip():
            continue
        match = _ROW.match(line)
        if match:
            ratio = float(match["ratio"])
            rows.append(Row(
                name=match["name"],
                ratio=None if math.isnan(ratio) else ratio,
                cpu_ratio=float(match["cpu"]),
                ours=float(match["ours"].replace(",", "")),
                ref=float(match["ref"].replace(",", "")),
                verdict=match["verdict"],
            ))
            continue
        match = _FAILED.match(line)
        if match:
            rows.append(Row(name=match["name"], status=f"ours: {match['ours']}, ref: {match['ref']}"))
            continue
        raise ValueError(f"not a row of a compare.sh ratio table: {line!r}")
    if not rows:
        raise ValueError("no workload rows found (expected a header, a line of dashes, then rows)")
    return rows


def render(rows: list[Row], title: str = "Rate ratio, ours / reference (log scale)") -> str:
    """An SVG document: one bar per row with a ratio, the 1.0 line marked."""
    ratios = [row.ratio for row in rows if row.ratio is not None and row.ratio > 0]
    low = min([0.5, *ratios])
    high = max([2.0, *ratios])
    lo_exp = math.floor(math.log2(low))
    hi_exp = math.ceil(math.log2(high))
    label_w, plot_w, right_w = 150, 520, 70
    bar_h, gap, top, bottom = 18, 8, 48, 40
    width = label_w + plot_w + right_w
    height = top + len(rows) * (bar_h + gap) + bottom

    def x(value: float) -> float:
        return label_w + (math.log2(value) - lo_exp) / (hi_exp - lo_exp) * plot_w

    one = x(1.0)
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="12">',
        f'<rect width="{width}" height="{height}" fill="white"/>',
        f'<text x="{width / 2:.1f}" y="20" text-anchor="middle" font-size="14">{escape(title)}</text>',
    ]
    axis_y = top + len(rows) * (bar_h + gap)
    for exp in range(lo_exp, hi_exp + 1):
        value = 2.0**exp
        tx = x(value)
        label = f"{value:g}" if value >= 1 else f"1/{2 ** -exp}"
        out.append(f'<line x1="{tx:.1f}" y1="{top - 6}" x2="{tx:.1f}" y2="{axis_y}" stroke="#e0e0e0"/>')
        out.append(f'<text x="{tx:.1f}" y="{axis_y + 16}" text-anchor="middle">{label}</text>')
    for i, row in enumerate(rows):
        y = top + i * (bar_h + gap)
        mid = y + bar_h / 2 + 4
        out.append(f'<text x="{label_w - 8}" y="{mid:.1f}" text-anchor="end">{escape(row.name)}</text>')
        if row.ratio is None or row.ratio <= 0:
            out.append(f'<text x="{one + 6:.1f}" y="{mid:.1f}" fill="#c62828">{escape(row.status or "no ratio")}</text>')
            continue
        x0, x1 = sorted((one, x(row.ratio)))
        colour = _COLOURS.get(row.verdict, "#78909c")
        out.append(
            f'<rect class="bar" x="{x0:.1f}" y="{y}" width="{max(x1 - x0, 1.0):.1f}" height="{bar_h}" '
            f'fill="{colour}"><title>{escape(row.name)}: {row.ratio:.3f} ({escape(row.verdict)})</title></rect>'
        )
        anchor, tx = ("start", x1 + 4) if row.ratio >= 1 else ("end", x0 - 4)
        out.append(f'<text x="{tx:.1f}" y="{mid:.1f}" text-anchor="{anchor}">{row.ratio:.2f}</text>')
    out.append(f'<line x1="{one:.1f}" y1="{top - 10}" x2="{one:.1f}" y2="{axis_y}" stroke="black" stroke-width="2"/>')
    out.append(f'<text x="{one:.1f}" y="{top - 14}" text-anchor="middle">1.0 (same rate)</text>')
    legend_y = height - 8
    legend_x = label_w
    for verdict, colour in _COLOURS.items():
        out.append(f'<rect x="{legend_x}" y="{legend_y - 10}" width="12" height="12" fill="{colour}"/>')
        out.append(f'<text x="{legend_x + 16}" y="{legend_y}">{escape(verdict)}</text>')
        legend_x += 90
    out.append("</svg>")
    return "\n".join(out) + "\n"


def write_chart(table: pathlib.Path, chart: pathlib.Path) -> None:
    """Render ``table`` into ``chart``, replacing it atomically (builds may run at once)."""
    svg = render(parse(table.read_text()))
    chart.parent.mkdir(parents=True, exist_ok=True)
    tmp = chart.with_name(f".{chart.name}.{os.getpid()}.tmp")
    tmp.write_text(svg)
    tmp.replace(chart)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2:
        print("usage:", __doc__.strip().splitlines()[2].strip(), file=sys.stderr)
        return 2
    write_chart(pathlib.Path(args[0]), pathlib.Path(args[1]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
