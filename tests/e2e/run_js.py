#!/usr/bin/python3
"""End to end with real clients: the OpenTelemetry JS SDK's OTLP exporters
send serverless-shaped traces to a running `causeway serve`, and the query API
must then report what SPEC.md sections 2, 3 and 5 say.

usage: run_js.py CAUSEWAY [--js-dir DIR] [--jobs N] [--keep DIR] [--quick]

1. Installs the pinned SDK (tests/e2e/js/package-lock.json) with `npm ci` when
   node_modules is missing or differs from the lockfile (under a lock, so that
   concurrent runs do not race). Needs the npm registry only then.
2. Phase "matrix": starts `CAUSEWAY serve --listen 127.0.0.1:0 --api
   127.0.0.1:0 --idle-timeout 1` (the daemon logs the ports it bound), waits for
   /healthz, and runs js/send.mjs for every scenario (chain, fanout, retry,
   async, recursion) x mode (proto, proto+gzip, json, json+gzip, and proto+gzip
   with callees flushed before callers), each run with its own function-name
   prefix so that edges stay apart. Then js/check.mjs compares every trace,
   chain and edge the runs expect with the query API; this script checks
   further, independently of send.mjs's figures: the key figures of each
   scenario, the sorted listings (?sort=...&limit=N), 404s for unknown ids, and
   /metrics against what was sent (every span accepted, none rejected, one 2xx
   per export, nothing live or pending once complete). SIGTERM must then drain
   and exit 0.
3. Phase "drain": a daemon configured by a YAML file (--config) with a long
   idle timeout; summaries of the live traces must be there at once, marked
   "complete": false, and SIGTERM must complete them ("completed N live
   traces") and exit 0.

Loopback only; every step is bounded in time. The daemons' logs go to stderr
(so that scripts/sanitizer-wrap sees sanitizer reports from them).
Exit status: 0 pass, 1 fail.
"""
import argparse
import concurrent.futures
import fcntl
import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
SCENARIOS = ["chain", "fanout", "retry", "async", "recursion"]
# name -> send.mjs arguments
MODES = {
    "proto": ["--exporter", "proto"],
    "proto-gzip": ["--exporter", "proto", "--gzip"],
    "json": ["--exporter", "json"],
    "json-gzip": ["--exporter", "json", "--gzip"],
    "proto-gzip-reverse": ["--exporter", "proto", "--gzip", "--order", "reverse"],
}
QUICK_MODES = ["proto", "proto-gzip", "json"]

# What each scenario must come to, written down here from its shape (see
# js/README.md), independently of the figures send.mjs computes: a chain
# summary per scenario, the number of traces, and its service-graph edges as
# (caller, callee, kind, calls) with the run's function prefix left out.
SHAPES = {
    # fn-a -> fn-b -> fn-c -> fn-d, synchronous Lambda invocations
    "chain": {"traces": 1, "spans": 7,
              "chain": {"traces": 1, "invocations": 4, "depth": 4, "max_fanout": 1,
                        "retries": 0, "max_recursion": 1},
              "trace": {"span_depth": 7, "depth": 4, "max_fanout": 1, "errors": 0},
              "edges": [("fn-a", "fn-b", "sync", 1), ("fn-b", "fn-c", "sync", 1),
                        ("fn-c", "fn-d", "sync", 1)]},
    # fn-a invokes fn-b 50 times
    "fanout": {"traces": 1, "spans": 101,
               "chain": {"traces": 1, "invocations": 51, "depth": 2, "max_fanout": 50,
                         "retries": 0, "max_recursion": 1},
               "trace": {"span_depth": 3, "max_span_fanout": 50, "depth": 2, "max_fanout": 50},
               "edges": [("fn-a", "fn-b", "sync", 50)]},
    # fn-a invokes fn-b: 503, 429, then success
    "retry": {"traces": 1, "spans": 7,
              "chain": {"traces": 1, "invocations": 4, "depth": 2, "max_fanout": 3,
                        "retries": 2, "max_recursion": 1},
              "trace": {"retries": 2, "errors": 4, "max_fanout": 3},
              "edges": [("fn-a", "fn-b", "sync", 3)]},
    # fn-a publishes, fn-b consumes in a new trace joined by a span link
    "async": {"traces": 2, "spans": 3,
              "chain": {"traces": 2, "invocations": 2, "depth": 2, "max_fanout": 1,
                        "retries": 0, "max_recursion": 1},
              "trace": {"depth": 1},
              "edges": [("fn-a", "fn-b", "async", 1)]},
    # fn-a re-enqueues to itself 19 times: 20 traces joined by links into one chain
    "recursion": {"traces": 20, "spans": 40,
                  "chain": {"traces": 20, "invocations": 20, "depth": 20, "max_fanout": 1,
                            "retries": 0, "max_recursion": 20},
                  "trace": {"depth": 1, "max_recursion": 1},
                  "edges": [("fn-a", "fn-a", "async", 19)]},
}

SORT_FIELDS = {"depth": "depth", "fanout": "max_fanout", "retries": "retries",
               "recursion": "max_recursion", "spans": "spans"}

T0 = time.monotonic()


def log(msg):
    print(f"[{time.monotonic() - T0:6.1f}s] {msg}", flush=True)


class Failures:
    def __init__(self):
        self.items = []

    def add(self, msg):
        self.items.append(msg)
        print(f"FAIL: {msg}", flush=True)

    def expect(self, cond, msg):
        if not cond:
            self.add(msg)
        return cond


# ------------------------------------------------------------------ npm


def lock_versions(path):
    try:
        with open(path) as f:
            pk = json.load(f).get("packages", {})
    except (OSError, ValueError):
        return None
    return {k: v.get("version") for k, v in pk.items() if k}


def node_modules_current(js_dir):
    want = lock_versions(os.path.join(js_dir, "package-lock.json"))
    have = lock_versions(os.path.join(js_dir, "node_modules", ".package-lock.json"))
    if not want or have != want:
        return False
    return all(os.path.isfile(os.path.join(js_dir, k, "package.json")) for k in want)


def ensure_sdk(js_dir, npm):
    if node_modules_current(js_dir):
        log("npm: node_modules matches package-lock.json")
        return None
    lock_path = os.path.join(tempfile.gettempdir(), "causeway-e2e-npm-%s.lock" %
                             hashlib.sha1(js_dir.encode()).hexdigest()[:12])
    with open(lock_path, "w") as lk:
        fcntl.flock(lk, fcntl.LOCK_EX)  # another run may be installing
        if node_modules_current(js_dir):
            return None
        if not npm:
            return "node_modules is missing or outdated and npm is not installed"
        log("npm ci (installing the pinned OpenTelemetry JS SDK)")
        env = dict(os.environ, npm_config_update_notifier="false", npm_config_fund="false",
                   npm_config_audit="false")
        try:
            r = subprocess.run([npm, "ci", "--prefer-offline", "--no-audit", "--no-fund",
                                "--loglevel=error"],
                               cwd=js_dir, env=env, stdin=subprocess.DEVNULL,
                               capture_output=True, text=True, timeout=600)
        except subprocess.TimeoutExpired:
            return "npm ci did not finish in 600 s (is the npm registry reachable?)"
        if r.returncode != 0 or not node_modules_current(js_dir):
            tail = "\n".join((r.stdout + r.stderr).strip().splitlines()[-15:])
            return (f"npm ci failed in {js_dir} (exit {r.returncode}); it needs the npm "
                    f"registry once per checkout (or run `npm ci` there by hand):\n{tail}")
    return None


# ------------------------------------------------------------------ daemon


class Daemon:
    PORT_RE = re.compile(r"listening on \S+ \(port (\d+)\) for (OTLP|the query API)")

    def __init__(self, name, argv):
        self.name = name
        self.lines = []
        self.ports = {}
        self.cond = threading.Condition()
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE, text=True, errors="replace")
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        for line in self.proc.stderr:
            with self.cond:
                self.lines.append(line.rstrip("\n"))
                m = self.PORT_RE.search(line)
                if m:
                    self.ports["otlp" if m.group(2) == "OTLP" else "api"] = int(m.group(1))
                self.cond.notify_all()
        with self.cond:
            self.cond.notify_all()

    def wait_ports(self, timeout):
        end = time.monotonic() + timeout
        with self.cond:
            while len(self.ports) < 2:
                left = end - time.monotonic()
                if left <= 0 or self.proc.poll() is not None:
                    return False
                self.cond.wait(min(left, 0.2))
        return True

    def log_text(self):
        with self.cond:
            return "\n".join(self.lines)

    def stop(self, timeout=60):
        """SIGTERM, then the exit code (None when it had to be killed)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)
            rc = None
        self.reader.join(10)
        return rc

    def dump(self):
        sys.stderr.write(f"--- {self.name}: causeway serve's log\n{self.log_text()}\n"
                         f"--- end of {self.name}'s log\n")
        sys.stderr.flush()


def start_daemon(fails, name, argv):
    log(f"{name}: {' '.join(argv)}")
    d = Daemon(name, argv)
    if not d.wait_ports(60):
        fails.add(f"{name}: the daemon did not report its two listening ports within 60 s "
                  f"(exit code {d.proc.poll()})")
        d.stop(10)
        d.dump()
        return None
    api = f"http://127.0.0.1:{d.ports['api']}"
    end = time.monotonic() + 30
    while True:
        st, body = http_get(api + "/healthz", timeout=5)
        if st == 200:
            break
        if time.monotonic() > end or d.proc.poll() is not None:
            fails.add(f"{name}: GET /healthz never answered 200 (last: {st} {body[:200]!r})")
            d.stop(10)
            d.dump()
            return None
        time.sleep(0.1)
    log(f"{name}: OTLP on port {d.ports['otlp']}, query API on port {d.ports['api']}, healthy")
    return d


def stop_daemon(fails, d, want_log=None):
    rc = d.stop(60)
    fails.expect(rc == 0, f"{d.name}: SIGTERM: exit code {rc}, want 0"
                 + (" (killed after 60 s)" if rc is None else ""))
    text = d.log_text()
    fails.expect("exiting" in text, f"{d.name}: no 'exiting' line in the log after SIGTERM")
    ready = f"ready: send OTLP/HTTP traces to http://127.0.0.1:{d.ports['otlp']}/v1/traces"
    fails.expect(ready in text, f"{d.name}: the log lacks '{ready}' (the bound port)")
    if want_log:
        fails.expect(re.search(want_log, text) is not None,
                     f"{d.name}: the log has no line matching /{want_log}/")
    d.dump()
    log(f"{d.name}: stopped, exit code {rc}")


# ------------------------------------------------------------------ http


def http_get(url, timeout=10):
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.status, r.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode("utf-8", "replace")
    except (urllib.error.URLError, OSError) as e:
        return None, str(e)


def get_json(fails, url, what):
    st, body = http_get(url)
    if st != 200:
        fails.add(f"GET {url} ({what}): status {st}: {body[:300]}")
        return None
    try:
        return json.loads(body)
    except ValueError as e:
        fails.add(f"GET {url} ({what}): not JSON ({e}): {body[:300]}")
        return None


def metrics(fails, api):
    st, body = http_get(api + "/metrics")
    if not fails.expect(st == 200, f"GET /metrics: status {st}"):
        return {}
    out = {}
    for line in body.splitlines():
        if line and not line.startswith("#"):
            k, _, v = line.rpartition(" ")
            try:
                out[k] = float(v)
            except ValueError:
                fails.add(f"/metrics: bad sample line {line!r}")
    return out


# ------------------------------------------------------------------ runs


def node_cmd(node, js_dir, script, *args):
    return [node, os.path.join(js_dir, script), *args]


def send(node, js_dir, otlp_port, scenario, mode, out_dir, timeout=90):
    out = os.path.join(out_dir, f"{mode}.{scenario}.json")
    argv = node_cmd(node, js_dir, "send.mjs",
                    "--endpoint", f"http://127.0.0.1:{otlp_port}/v1/traces",
                    "--scenario", scenario, "--fn-prefix", f"{mode}.{scenario}.",
                    "--timeout-ms", "20000", "--out", out, *MODES[mode])
    t = time.monotonic()
    try:
        r = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                           timeout=timeout, cwd=js_dir)
    except subprocess.TimeoutExpired:
        return out, f"send.mjs {scenario}/{mode}: no exit within {timeout} s", 0
    if r.returncode != 0:
        return out, (f"send.mjs {scenario}/{mode}: exit {r.returncode}: "
                     f"{(r.stderr or r.stdout).strip()[-800:]}"), 0
    return out, None, time.monotonic() - t


def load_expected(path):
    with open(path) as f:
        return json.load(f)


def check_shape(fails, api, scenario, mode, exp):
    """The scenario's key figures as written in SHAPES, against the API."""
    shape = SHAPES[scenario]
    label = f"{scenario}/{mode}"
    prefix = f"{mode}.{scenario}."
    fails.expect(exp["sent"]["spans"] == shape["spans"],
                 f"{label}: send.mjs sent {exp['sent']['spans']} spans, the scenario has "
                 f"{shape['spans']}")
    fails.expect(len(exp["traces"]) == shape["traces"],
                 f"{label}: {len(exp['traces'])} traces sent, the scenario has {shape['traces']}")
    chain_ids = {t["chain_id"] for t in exp["traces"]}
    want_chain = min(t["trace_id"] for t in exp["traces"])
    fails.expect(chain_ids == {want_chain},
                 f"{label}: expected one chain {want_chain}, send.mjs says {sorted(chain_ids)}")
    spans = 0
    for t in exp["traces"]:
        got = get_json(fails, f"{api}/api/v1/traces/{t['trace_id']}", label)
        if got is None:
            continue
        spans += got.get("spans", 0)
        fails.expect(got.get("chain_id") == want_chain,
                     f"{label}: trace {t['trace_id']} chain_id {got.get('chain_id')}, "
                     f"want {want_chain} (the smallest trace id of the linked traces)")
        fails.expect(got.get("complete") is True, f"{label}: trace {t['trace_id']} not complete")
        for fn in got.get("functions", []):
            fails.expect(fn.startswith(prefix), f"{label}: trace {t['trace_id']}: function "
                         f"{fn!r} lacks the run's prefix")
    fails.expect(spans == shape["spans"], f"{label}: the API counts {spans} spans in the "
                 f"scenario's traces, want {shape['spans']}")
    # trace figures that hold for the trace with the most spans
    tops = [get_json(fails, f"{api}/api/v1/traces/{t['trace_id']}", label) for t in exp["traces"]]
    tops = [t for t in tops if t]
    if tops:
        top = max(tops, key=lambda t: (t.get("spans", 0), t.get("trace_id")))
        for k, v in shape["trace"].items():
            fails.expect(top.get(k) == v, f"{label}: trace {top.get('trace_id')} {k}: got "
                         f"{top.get(k)}, want {v}")
    got = get_json(fails, f"{api}/api/v1/chains/{want_chain}", label)
    if got is not None:
        for k, v in shape["chain"].items():
            fails.expect(got.get(k) == v, f"{label}: chain {want_chain} {k}: got {got.get(k)}, "
                         f"want {v}")
    return want_chain


def check_edges(fails, edges, runs):
    index = {(e.get("caller"), e.get("callee"), e.get("kind")): e for e in edges}
    for scenario, mode in runs:
        p = f"{mode}.{scenario}."
        want = {(p + a, p + b, k): n for a, b, k, n in SHAPES[scenario]["edges"]}
        for key, n in want.items():
            e = index.get(key)
            if fails.expect(e is not None, f"{scenario}/{mode}: edge {key[0]} -> {key[1]} "
                            f"({key[2]}) missing from /api/v1/edges"):
                fails.expect(e.get("calls") == n, f"{scenario}/{mode}: edge {key[0]} -> "
                             f"{key[1]} ({key[2]}): calls {e.get('calls')}, want {n}")
        extra = [k for k in index if (k[0].startswith(p) or k[1].startswith(p)) and k not in want]
        fails.expect(not extra, f"{scenario}/{mode}: unexpected edges {extra}")
    for e in edges:
        for f in ("type", "caller", "callee", "kind", "calls", "errors", "retries", "p50_ns",
                  "p99_ns"):
            if not fails.expect(f in e, f"/api/v1/edges: an edge lacks {f!r}: {e}"):
                break


def check_listings(fails, api, all_traces):
    for sort, field in SORT_FIELDS.items():
        limit = 7
        got = get_json(fails, f"{api}/api/v1/traces?sort={sort}&limit={limit}", f"sort={sort}")
        if not isinstance(got, list):
            fails.add(f"?sort={sort}: not a JSON array")
            continue
        fails.expect(len(got) == min(limit, len(all_traces)),
                     f"?sort={sort}&limit={limit}: {len(got)} summaries, want "
                     f"{min(limit, len(all_traces))}")
        vals = [t.get(field) for t in got]
        fails.expect(all(isinstance(v, int) for v in vals) and
                     all(vals[i] >= vals[i + 1] for i in range(len(vals) - 1)),
                     f"?sort={sort}: {field} not largest first: {vals}")
        best = max(t[field] for t in all_traces.values())
        fails.expect(bool(vals) and vals[0] == best,
                     f"?sort={sort}: first {field} {vals[:1]}, want {best}")
        for t in got:
            ref = all_traces.get(t.get("trace_id"))
            if fails.expect(ref is not None, f"?sort={sort}: trace {t.get('trace_id')} was "
                            f"never sent"):
                fails.expect(t.get(field) == ref[field], f"?sort={sort}: trace "
                             f"{t.get('trace_id')} {field} {t.get(field)}, want {ref[field]}")
    got = get_json(fails, f"{api}/api/v1/traces?sort=spans&limit=10000", "all traces")
    if isinstance(got, list):
        ids = {t.get("trace_id") for t in got}
        fails.expect(ids == set(all_traces), f"?limit=10000: {len(ids)} traces listed, "
                     f"{len(all_traces)} sent (missing {len(set(all_traces) - ids)}, "
                     f"unknown {len(ids - set(all_traces))})")
    for path in ("/api/v1/traces/" + "0" * 31 + "1", "/api/v1/chains/" + "f" * 32):
        st, _ = http_get(api + path)
        fails.expect(st == 404, f"GET {path}: status {st}, want 404")


def check_metrics(fails, api, exports, spans, traces):
    m = metrics(fails, api)
    want = {
        "causeway_spans_received_total": spans,
        "causeway_spans_accepted_total": spans,
        "causeway_span_duplicates_total": 0,
        "causeway_span_links_dropped_total": 0,
        "causeway_requests_total": exports,
        "causeway_requests_rejected_total": 0,
        'causeway_http_requests_total{code="2xx"}': exports,
        'causeway_http_requests_total{code="4xx"}': 0,
        'causeway_http_requests_total{code="5xx"}': 0,
        "causeway_traces_completed_total": traces,
        "causeway_traces_live": 0,
        "causeway_spans_live": 0,
        "causeway_summaries": traces,
        "causeway_links_pending": 0,
        "causeway_links_unresolved_total": 0,
    }
    for k, v in want.items():
        fails.expect(m.get(k) == v, f"/metrics {k}: got {m.get(k)}, want {v}")
    for k, v in m.items():
        if k.startswith("causeway_spans_rejected_total"):
            fails.expect(v == 0, f"/metrics {k}: {v} spans rejected")


# ------------------------------------------------------------------ phases


def phase_matrix(fails, args, node, work):
    d = start_daemon(fails, "matrix", [args.causeway, "serve", "--listen", "127.0.0.1:0",
                                       "--api", "127.0.0.1:0", "--idle-timeout", "1"])
    if not d:
        return
    api = f"http://127.0.0.1:{d.ports['api']}"
    try:
        modes = QUICK_MODES if args.quick else list(MODES)
        runs = [(s, m) for m in modes for s in SCENARIOS]
        outs = {}
        with concurrent.futures.ThreadPoolExecutor(args.jobs) as pool:
            futs = {pool.submit(send, node, args.js_dir, d.ports["otlp"], s, m, work): (s, m)
                    for s, m in runs}
            for f in concurrent.futures.as_completed(futs):
                s, m = futs[f]
                out, err, secs = f.result()
                if err:
                    fails.add(err)
                else:
                    outs[(s, m)] = out
                    log(f"sent {s}/{m} ({secs:.1f} s)")
        if len(outs) != len(runs):
            return
        expected = {k: load_expected(v) for k, v in outs.items()}
        exports = sum(e["sent"]["exports"] for e in expected.values())
        spans = sum(e["sent"]["spans"] for e in expected.values())
        all_traces = {t["trace_id"]: t for e in expected.values() for t in e["traces"]}
        log(f"{len(runs)} runs sent: {exports} requests, {spans} spans, {len(all_traces)} "
            f"traces; check.mjs")

        argv = node_cmd(node, args.js_dir, "check.mjs", "--api", api, "--timeout", "90",
                        "--settle", "3")
        for k in runs:
            argv += ["--expected", outs[k]]
        try:
            r = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                               timeout=150)
            out = (r.stdout + r.stderr).strip()
            if r.returncode != 0:
                fails.add(f"check.mjs: exit {r.returncode}:\n{out[-6000:]}")
            else:
                log(f"check.mjs: {out.splitlines()[-1] if out else 'ok'}")
        except subprocess.TimeoutExpired:
            fails.add("check.mjs: no exit within 150 s")
            return

        # Once check.mjs has seen every trace complete: this script's own checks.
        for s, m in runs:
            check_shape(fails, api, s, m, expected[(s, m)])
        edges = get_json(fails, api + "/api/v1/edges", "edges")
        if isinstance(edges, list):
            check_edges(fails, edges, runs)
        check_listings(fails, api, all_traces)
        check_metrics(fails, api, exports, spans, len(all_traces))
        log(f"matrix: {len(runs)} runs checked")
    finally:
        stop_daemon(fails, d)


def phase_drain(fails, args, node, work):
    cfg = os.path.join(work, "drain.yaml")
    with open(cfg, "w") as f:
        f.write("# causeway serve for the e2e drain phase\n"
                "receiver:\n  endpoint: 127.0.0.1:0\n  read_timeout: 20s\n"
                "api:\n  endpoint: 127.0.0.1:0\n"
                "engine:\n  idle_timeout: 1h\n  max_trace_age: 2h\n  completion_threads: 2\n")
    d = start_daemon(fails, "drain", [args.causeway, "serve", "--config", cfg])
    if not d:
        return
    api = f"http://127.0.0.1:{d.ports['api']}"
    want_live = 0
    try:
        m = metrics(fails, api)
        fails.expect(m.get("causeway_http_received_bytes_total") == 0,
                     "drain: /metrics causeway_http_received_bytes_total "
                     f"{m.get('causeway_http_received_bytes_total')} before any OTLP request, "
                     "want 0 (query API traffic is not OTLP traffic)")
        for s, m in (("chain", "json"), ("async", "proto-gzip")):
            out, err, _ = send(node, args.js_dir, d.ports["otlp"], s, m, work)
            if err:
                fails.add(f"drain: {err}")
                return
            exp = load_expected(out)
            for t in exp["traces"]:
                want_live += 1
                got = get_json(fails, f"{api}/api/v1/traces/{t['trace_id']}", f"drain {s}")
                if got is None:
                    continue
                fails.expect(got.get("complete") is False,
                             f"drain: trace {t['trace_id']} complete {got.get('complete')} "
                             f"an instant after it was sent, with a 1 h idle timeout")
                fails.expect(got.get("spans") == t["spans"],
                             f"drain: live trace {t['trace_id']} spans {got.get('spans')}, "
                             f"want {t['spans']}")
        m = metrics(fails, api)
        fails.expect(m.get("causeway_http_received_bytes_total", 0) > 0,
                     "drain: /metrics causeway_http_received_bytes_total is 0 after the sends")
        fails.expect(m.get("causeway_traces_live") == want_live,
                     f"drain: /metrics causeway_traces_live {m.get('causeway_traces_live')}, "
                     f"want {want_live}")
    finally:
        stop_daemon(fails, d, want_log=rf"completed {want_live} live traces; exiting"
                    if want_live else None)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("causeway")
    ap.add_argument("--js-dir", default=os.path.join(HERE, "js"))
    ap.add_argument("--jobs", type=int, default=3, help="send.mjs runs at once")
    ap.add_argument("--keep", help="keep the expected.json files in this directory")
    ap.add_argument("--quick", action="store_true", help="only proto, proto+gzip and json")
    args = ap.parse_args()
    args.causeway = os.path.abspath(args.causeway)
    args.js_dir = os.path.abspath(args.js_dir)

    node, npm = shutil.which("node"), shutil.which("npm")
    if not node:
        print("run_js.py: node not found: the e2e suite needs Node.js >= 20.6 and npm "
              "(scripts/setup installs them)", file=sys.stderr)
        return 1
    ver = subprocess.run([node, "--version"], capture_output=True, text=True, timeout=30)
    log(f"node {ver.stdout.strip()} ({node}), npm {npm}; causeway {args.causeway}")
    err = ensure_sdk(args.js_dir, npm)
    if err:
        print(f"run_js.py: {err}", file=sys.stderr)
        return 1

    fails = Failures()
    if args.keep:
        os.makedirs(args.keep, exist_ok=True)
        work = args.keep
    else:
        work = tempfile.mkdtemp(prefix="causeway-e2e-js-")
    try:
        phase_matrix(fails, args, node, work)
        phase_drain(fails, args, node, work)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    if fails.items:
        log(f"e2e: {len(fails.items)} failures")
        return 1
    log("e2e: all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
