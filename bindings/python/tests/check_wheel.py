#!/usr/bin/python3
"""The meson-python route, end to end: pip installs bindings/python into a
scratch virtual environment, and the installed package works on its own.

usage: check_wheel.py SOURCE_DIR BUILD_DIR

SOURCE_DIR is bindings/python; BUILD_DIR is where meson-python builds
(kept between runs, so that later runs rebuild incrementally). The
environment is made with --system-site-packages (pip and the Debian packages
come from there; nothing is downloaded: --no-index) and removed afterwards.
The check: `causeway` imports from the environment (not from a build
folder), the extension carries the library (no libcauseway.so needed), and
a sample set gives exactly what `causeway analyze --json` prints
($CAUSEWAY_BIN).
"""
import os
import shutil
import subprocess
import sys
import tempfile

SMOKE = r"""
import os, subprocess, sys
import causeway
venv = sys.argv[1]
assert causeway.__file__.startswith(venv), causeway.__file__
ext = causeway._causeway.__file__
assert ext.startswith(venv), ext
with open(ext, "rb") as f:
    assert b"libcauseway.so" not in f.read(), "the extension needs libcauseway.so"
files = sys.argv[3:]
with causeway.load(files) as eng:
    got = eng.dump()
    assert eng.traces() and eng.chains() and eng.edges()
want = subprocess.run([sys.argv[2], "analyze", "--json", *files], capture_output=True,
                      text=True, check=True).stdout
assert got == want, "the installed package disagrees with causeway analyze --json"
print("installed package ok:", ext)
"""


def run(cmd, **kw):
    r = subprocess.run(cmd, capture_output=True, text=True, **kw)
    if r.returncode != 0:
        sys.stderr.write("$ %s\n%s%s" % (" ".join(cmd), r.stdout, r.stderr))
        raise SystemExit(1)
    return r.stdout


def main(argv):
    if len(argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    src, build = os.path.abspath(argv[1]), os.path.abspath(argv[2])
    data = os.environ.get("CW_TEST_DATA") or os.path.join(src, "..", "..", "tests", "data")
    cli = os.environ.get("CAUSEWAY_BIN")
    if not cli:
        print("check_wheel.py: CAUSEWAY_BIN not set", file=sys.stderr)
        return 2
    scratch = tempfile.mkdtemp(prefix="cw-wheel-")
    try:
        venv = os.path.join(scratch, "venv")
        run([sys.executable, "-m", "venv", "--without-pip", "--system-site-packages", venv])
        py = os.path.join(venv, "bin", "python")
        # Without the build tree's package on the path, and not from the
        # source folder either (-P and a neutral working directory).
        env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "LD_PRELOAD")}
        run([py, "-m", "pip", "install", "--no-build-isolation", "--no-deps", "--no-index",
             "--no-cache-dir", "--root-user-action=ignore", "--disable-pip-version-check",
             "--config-settings", "builddir=" + build, src], env=env, cwd=scratch)
        pb = os.path.join(data, "samples", "mixed", "pb")
        files = sorted(os.path.join(pb, f) for f in os.listdir(pb))
        print(run([py, "-P", "-c", SMOKE, venv, cli, *files], env=env, cwd=scratch), end="")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
