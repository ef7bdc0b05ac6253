#!/usr/bin/python3
"""Runs a Python command against an AddressSanitizer build of the extension,
and fails on any ASan error and on any leak that involves Causeway.

usage: asan_run.py LIBASAN -- PYTHON ARGS...

The interpreter is not instrumented, so the ASan runtime must be loaded
first (LD_PRELOAD=LIBASAN). PYTHONMALLOC=malloc sends every Python object
through ASan's malloc, so that use-after-free and leaks of objects show
too. At exit LeakSanitizer reports what is unreachable, and a CPython
process leaks by design (interned strings, some module state, and more with
numpy and pandas loaded): a report is ours when one of its stack frames is
in the extension (_causeway...) or the library (libcauseway, lib/...).
Those fail the run, with the report on stderr; the interpreter's are
counted and dropped.

Reports go to files (log_path) rather than stderr, so that a sanitizer
wrapper (scripts/sanitizer-wrap) sees only what this script passes on.
Subprocesses (the command line, run by the tests) inherit the settings and
are judged the same way.
"""
import glob
import os
import re
import shutil
import subprocess
import sys
import tempfile

OURS = re.compile(r"_causeway|libcauseway|/lib/(util|otlp|graph|chain|query|net)/|/tools/causeway")
LEAK = re.compile(r"^(Direct|Indirect) leak of \d+ byte", re.M)


def split_leaks(text):
    """The leak records of a LeakSanitizer report: one per stack."""
    starts = [m.start() for m in LEAK.finditer(text)]
    return [text[a:b].rstrip() for a, b in zip(starts, starts[1:] + [len(text)])]


def main(argv):
    if len(argv) < 4 or argv[2] != "--":
        print(__doc__, file=sys.stderr)
        return 2
    libasan, cmd = argv[1], argv[3:]
    if not os.path.exists(libasan):
        print("asan_run.py: no ASan runtime at %s" % libasan, file=sys.stderr)
        return 2
    logdir = tempfile.mkdtemp(prefix="cw-asan-py-")
    env = dict(os.environ)
    env["LD_PRELOAD"] = " ".join(x for x in (libasan, env.get("LD_PRELOAD")) if x)
    env["PYTHONMALLOC"] = "malloc"
    # The caller's options first (scripts/test: detect_leaks, abort_on_error),
    # then ours: reports to files, and leaks must not decide the exit status
    # (this script does). Python's own allocator runs through malloc, which
    # ASan also checks against free sizes: keep that on.
    asan = [env.get("ASAN_OPTIONS", ""), "detect_leaks=1",
            "log_path=" + os.path.join(logdir, "asan")]
    env["ASAN_OPTIONS"] = ":".join(x for x in asan if x)
    lsan = [env.get("LSAN_OPTIONS", ""), "exitcode=0"]
    env["LSAN_OPTIONS"] = ":".join(x for x in lsan if x)
    try:
        rc = subprocess.run(cmd, env=env).returncode
        ours, theirs, errors = [], 0, []
        for path in sorted(glob.glob(os.path.join(logdir, "asan*"))):
            with open(path, errors="replace") as f:
                text = f.read()
            if "ERROR: AddressSanitizer" in text:
                errors.append(text)
            for leak in split_leaks(text):
                if OURS.search(leak):
                    ours.append(leak)
                else:
                    theirs += 1
    finally:
        shutil.rmtree(logdir, ignore_errors=True)
    for text in errors:
        sys.stderr.write(text)
    if ours:
        sys.stderr.write("ERROR: LeakSanitizer: %d leak(s) involving Causeway:\n\n" % len(ours))
        sys.stderr.write("\n\n".join(ours) + "\n")
    print("asan_run.py: %d leak record(s) of the interpreter and other modules ignored, "
          "%d involving Causeway, %d ASan error report(s)" % (theirs, len(ours), len(errors)))
    if rc == 0 and (ours or errors):
        rc = 1
    return rc


if __name__ == "__main__":
    sys.exit(main(sys.argv))
