"""docs/benchmarks/make_chart.py: the chart of the benchmarks page shows its table."""

from __future__ import annotations

import importlib.util
import pathlib
import re
import subprocess
import sys
import xml.etree.ElementTree as ET

ROOT = pathlib.Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "docs" / "benchmarks" / "make_chart.py"
PAGE = ROOT / "docs" / "benchmarks.rst"
SVG = "{http://www.w3.org/2000/svg}"

spec = importlib.util.spec_from_file_location("make_chart", SCRIPT)
make_chart = importlib.util.module_from_spec(spec)
sys.modules.setdefault("make_chart", make_chart)
spec.loader.exec_module(make_chart)


def page_table() -> pathlib.Path:
    """The table the benchmarks page includes (and the docs build charts)."""
    found = re.search(r"^\.\. literalinclude:: (benchmarks/compare-\S+\.txt)$", PAGE.read_text(), re.MULTILINE)
    assert found, "benchmarks.rst includes no table"
    return ROOT / "docs" / found.group(1)


def bars(svg: str) -> list[ET.Element]:
    return [rect for rect in ET.fromstring(svg).iter(f"{SVG}rect") if rect.get("class") == "bar"]


def test_one_bar_per_workload_of_the_page_table(tmp_path):
    table = page_table()
    lines = table.read_text().splitlines()
    rule = next(i for i, line in enumerate(lines) if line and set(line) == {"-"})
    workloads = [line.split()[0] for line in lines[rule + 1:] if line.strip()]
    assert len(workloads) >= 10, workloads
    chart = tmp_path / "chart.svg"
    result = subprocess.run([sys.executable, str(SCRIPT), str(table), str(chart)], capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0, result.stderr
    drawn = bars(chart.read_text())
    assert len(drawn) == len(workloads)
    titles = [rect.find(f"{SVG}title").text for rect in drawn]
    assert [title.split(":")[0] for title in titles] == workloads
    rows = {row.name: row for row in make_chart.parse(table.read_text())}
    for title in titles:
        name, ratio = title.split(": ")
        assert float(ratio.split()[0]) == round(rows[name].ratio, 3)


def test_bars_start_at_the_one_line():
    table = (
        "# comment\n"
        "workload             ours heaps/s    ref heaps/s rate ratio cpu ratio  ours spread ref spread  verdict\n"
        + "-" * 102 + "\n"
        "fast                        2,000          1,000      2.000     0.500         1.0%       1.0%  faster\n"
        "slow                          500          1,000      0.500     2.000         1.0%       1.0%  slower\n"
        "broken             ours: FAIL (timeout), ref: ok\n"
    )
    rows = make_chart.parse(table)
    assert [row.name for row in rows] == ["fast", "slow", "broken"]
    assert rows[2].ratio is None and "FAIL" in rows[2].status
    svg = make_chart.render(rows)
    fast, slow = bars(svg)
    one = [line for line in ET.fromstring(svg).iter(f"{SVG}line") if line.get("stroke-width") == "2"][0]
    x_one = float(one.get("x1"))
    assert float(fast.get("x")) == x_one  # to the right of 1.0
    assert abs(float(slow.get("x")) + float(slow.get("width")) - x_one) < 0.2  # to the left
    assert abs(float(fast.get("width")) - float(slow.get("width"))) < 0.2  # log scale: 2 and 1/2 alike
    assert "FAIL (timeout)" in svg


def test_usage_error():
    result = subprocess.run([sys.executable, str(SCRIPT)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and "usage" in result.stderr
