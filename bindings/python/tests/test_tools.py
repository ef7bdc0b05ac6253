"""The example and the benchmark script run (their output is checked for
shape, never for timings)."""
import json
import os
import subprocess
import sys

import pytest

from conftest import data

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.environ.get("CW_SOURCE_ROOT") or os.path.join(HERE, "..", "..", "..")


def run(*args):
    return subprocess.run([sys.executable, "-P", *args], capture_output=True, text=True,
                          timeout=600)


def test_example_plot(tmp_path):
    pytest.importorskip("matplotlib")
    pytest.importorskip("networkx")
    out = tmp_path / "chains.png"
    r = run(os.path.join(HERE, "..", "examples", "plot_chains.py"), "-o", str(out),
            data("samples", "mixed", "pb"))
    assert r.returncode == 0, r.stderr
    assert "deepest chain" in r.stdout
    png = out.read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 20_000


def test_bench_script():
    r = run(os.path.join(ROOT, "bench", "python_ingest.py"), "--json", "--runs", "1",
            *sorted(os.path.join(data("samples", "basic", "pb"), f)
                    for f in os.listdir(data("samples", "basic", "pb"))))
    assert r.returncode == 0, r.stderr
    rows = [json.loads(l) for l in r.stdout.splitlines()]
    assert [x["name"] for x in rows] == ["c-api-pb", "py-pb"]
    assert rows[1]["baseline"] == "c-api-pb" and rows[1]["ratio"] > 0
    for x in rows:
        assert x["bench"] == "python" and x["unit"] == "spans/s" and x["spans_per_s"] > 0
