"""Shared fixtures of the Python suite (run by `meson test --suite python`,
which sets the environment below; see tests/meson.build here)."""
import glob
import json
import os
import subprocess

import pytest

import causeway

DATA = os.environ.get("CW_TEST_DATA") or os.path.join(
    os.path.dirname(__file__), "..", "..", "..", "tests", "data")
CLI = os.environ.get("CAUSEWAY_BIN")

# Nanosecond fields: Python ints, JSON decimal strings (SPEC.md section 3).
NS_FIELDS = ("start_unix_nano", "duration_ns", "p50_ns", "p99_ns")


def as_json(obj):
    """A summary dict as `causeway analyze --json` writes it."""
    return {k: str(v) if k in NS_FIELDS else v for k, v in obj.items()}


def data(*parts):
    return os.path.join(DATA, *parts)


def sample_sets():
    """(label, files) for every input set the expected-output checks of
    tests/meson.build use: the sample sets as protobuf requests and as JSON
    lines, each realdata file (JSON and protobuf), each capture scenario."""
    sets = []
    for name in ("basic", "mixed"):
        sets.append((f"samples-{name}-pb", sorted(glob.glob(data("samples", name, "pb", "*.pb")))))
        sets.append((f"samples-{name}-jsonl", [data("samples", name, "all.jsonl.gz")]))
    for f in sorted(os.listdir(data("realdata", "otlp"))):
        sets.append((f"realdata-{f}", [data("realdata", "otlp", f)]))
        sets.append((f"realdata-{f[:-5]}.pb", [data("realdata", "otlp-proto", f[:-5] + ".pb")]))
    with open(data("captures", "manifest.json")) as m:
        for c in json.load(m)["captures"]:
            sets.append((f"captures-{c['scenario']}-{c['encoding']}",
                         [data("captures", f["file"]) for f in c["files"]]))
    return sets


def run_cli(*args):
    if not CLI:
        pytest.skip("CAUSEWAY_BIN not set (run through meson test)")
    run = subprocess.run([CLI, *args], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    return run.stdout


@pytest.fixture(scope="session")
def mixed():
    """The mixed sample set, loaded once (read-only users only)."""
    eng = causeway.load(data("samples", "mixed", "pb"))
    yield eng
    eng.close()


@pytest.fixture
def mixed_requests():
    """The mixed sample set's request bodies, in order."""
    out = []
    for f in sorted(glob.glob(data("samples", "mixed", "pb", "*.pb"))):
        with open(f, "rb") as fh:
            out.append(fh.read())
    return out
