#!/usr/bin/env python3
"""Soak run: mixed load on every listener for a long time, the server's RSS sampled.

Starts the release `treestat serve` on free loopback ports with a fresh data folder,
the built-in host modules and a [[tail]] of an access log this script keeps writing,
then for SECS seconds (default 1800) keeps up, all at once:

  - JSON trees over UDP 8007 and TCP 8007 (answers read), and HTTP POST /push
  - StatsD counters, gauges, timers and sets over UDP
  - Graphite plaintext over TCP, some lines dated
  - access-log lines: POST /push text/plain, and appended to the tailed file
  - /pull long-polls (64 waiters, half of them on a pattern that never matches)
  - /events readers (8 streams)
  - /graph PNG and SVG renders, /trend and /get reads, /metrics scrapes

Key cardinality is bounded (a few tens of thousands of leaves) and sustained, so a
server whose memory is bounded must level off after the warm-up. RSS (VmRSS of the
server process) is sampled every SAMPLE seconds and printed as it goes; the end
prints the curve per minute and the growth between the first sample after the
warm-up (WARMUP seconds, default 300) and the last one.

Usage: python3 bench/soak.py            (SECS=1800 SAMPLE=10 WARMUP=300 RATE=1.0
                                         COMPACT_AFTER=2m COMPACT_EVERY=1m)
       SECS=120 WARMUP=30 python3 bench/soak.py   (a short check)
RATE scales every sender's pace. Needs only the Python standard library and cargo.
Exit status 0 when the run completed; the verdict on flatness is printed, not enforced
(this box is shared and noisy).
"""

import json
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SECS = float(os.environ.get("SECS", "1800"))
SAMPLE = float(os.environ.get("SAMPLE", "10"))
WARMUP = float(os.environ.get("WARMUP", "300"))
RATE = float(os.environ.get("RATE", "1.0"))
# Trend compaction: after how long an interval is folded into chunks, and how often.
COMPACT_AFTER = os.environ.get("COMPACT_AFTER", "2m")
COMPACT_EVERY = os.environ.get("COMPACT_EVERY", "1m")

stop = threading.Event()
counts = {}
count_lock = threading.Lock()


def count(name, n=1):
    with count_lock:
        counts[name] = counts.get(name, 0) + n


def free_port(kind=socket.SOCK_STREAM):
    s = socket.socket(socket.AF_INET, kind)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def paced(per_sec, fn):
    """Calls fn() about per_sec times a second until stop (per_sec scaled by RATE)."""
    gap = 1.0 / max(per_sec * RATE, 0.01)
    nxt = time.monotonic()
    while not stop.is_set():
        try:
            fn()
        except urllib.error.HTTPError as e:
            count("http_status:%d:%s" % (e.code, e.url.split("?")[0].split("/")[3]))
        except Exception as e:  # a sender error is counted, never fatal
            count("errors:" + type(e).__name__)
        nxt += gap
        delay = nxt - time.monotonic()
        if delay > 0:
            stop.wait(delay)
        else:
            nxt = time.monotonic()


def http(base, method, path, body=None, ctype=None, timeout=30):
    req = urllib.request.Request(base + path, data=body, method=method)
    if ctype:
        req.add_header("Content-Type", ctype)
    with urllib.request.urlopen(req, timeout=timeout) as r:
        return r.status, r.read()


UAS = [
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36",
    "Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Mobile/15E148 Safari/604.1",
    "curl/8.5.0",
]


def log_line():
    ip = "10.%d.%d.%d" % (random.randrange(4), random.randrange(64), random.randrange(256))
    url = "/item/%d" % random.randrange(5000)
    status = random.choice([200, 200, 200, 200, 304, 404, 500])
    t = time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime())
    return '%s - - [%s] "GET %s HTTP/1.1" %d %d "-" "%s"' % (
        ip, t, url, status, random.randrange(100, 50000), random.choice(UAS))


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def main():
    print("== building the release binary")
    subprocess.run(["cargo", "build", "--release", "--quiet", "--bin", "treestat"],
                   cwd=ROOT, check=True)
    binary = os.path.join(ROOT, "target", "release", "treestat")
    work = tempfile.mkdtemp(prefix="treestat-soak-")
    log_path = os.path.join(work, "access.log")
    open(log_path, "w").close()
    ports = {
        "http": free_port(), "tcp": free_port(), "udp": free_port(socket.SOCK_DGRAM),
        "statsd": free_port(socket.SOCK_DGRAM), "graphite": free_port(),
    }
    conf = os.path.join(work, "soak.toml")
    with open(conf, "w") as f:
        f.write(f"""
[server]
data = "{work}/data"
http = "127.0.0.1:{ports['http']}"
agent = true
agent_conf = "{ROOT}/conf/agent.toml"

[listen]
tcp = "127.0.0.1:{ports['tcp']}"
udp = "127.0.0.1:{ports['udp']}"
statsd = "127.0.0.1:{ports['statsd']}"
graphite = "127.0.0.1:{ports['graphite']}"

[engine]
interval = "10s"
# Five minutes of intervals in memory (the default keeps an hour), so the ring is full
# within the warm-up and what follows shows whether anything else grows.
ring = 30

[trend]
# Compaction in steady state from the third minute on, so its memory is part of the
# warm-up rather than a step in the middle of the measured part.
compact_after = "{COMPACT_AFTER}"
compact_every = "{COMPACT_EVERY}"

[accesslog]
format = "combined"

[[tail]]
paths = ["{log_path}"]
from_start = true
[tail.pipeline]
name = "soak"
format = "combined"
""")
    # The server logs to stderr (sent to the same file): keep it (an error answered 500 is explained only there).
    server_log = open(os.path.join(work, "server.log"), "w")
    server = subprocess.Popen([binary, "serve", "--conf", conf], cwd=work,
                              stdout=server_log, stderr=subprocess.STDOUT)
    base = "http://127.0.0.1:%d" % ports["http"]
    for _ in range(200):
        try:
            http(base, "GET", "/get/nothing")
            break
        except Exception:
            time.sleep(0.1)
    else:
        print("the server did not start; see", os.path.join(work, "server.log"))
        server.kill()
        return 1
    print("== server pid %d, data in %s, %d s of load" % (server.pid, work, SECS))

    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)

    def udp_json():
        doc = {"default_action": "add", "soak": {"udp": {"h%d" % random.randrange(200): {
            "k%d" % random.randrange(50): random.random()}}}}
        udp.sendto(json.dumps(doc).encode(), ("127.0.0.1", ports["udp"]))
        count("udp_json")

    def statsd():
        n = random.randrange(2000)
        lines = [
            "soak.c%d:1|c|@0.5" % (n % 500),
            "soak.g%d:%d|g" % (n % 100, random.randrange(100)),
            "soak.g%d:+1|g" % (n % 100),
            "soak.t%d:%d|ms" % (n % 200, random.randrange(1000)),
            "soak.s%d:u%d|s" % (n % 20, random.randrange(10000)),
        ]
        udp.sendto("\n".join(lines).encode(), ("127.0.0.1", ports["statsd"]))
        count("statsd_lines", len(lines))

    tcp_state = {}

    def tcp_lines():
        s = tcp_state.get("s")
        if s is None:
            s = socket.create_connection(("127.0.0.1", ports["tcp"]), timeout=30)
            s.makefile("rb").readline()  # the hint
            tcp_state["s"], tcp_state["r"] = s, s.makefile("rb")
        lines = []
        for _ in range(20):
            if random.random() < 0.5:
                lines.append(json.dumps({"soak": {"tcp": {"k%d" % random.randrange(1000): 1}}}))
            else:
                lines.append(json.dumps(["soak,tuple,t%d" % random.randrange(100), int(time.time()), 1]))
        try:
            s.sendall(("\n".join(lines) + "\n").encode())
            for _ in lines:
                tcp_state["r"].readline()
            count("tcp_lines", len(lines))
        except OSError:
            tcp_state.pop("s", None)
            raise

    g_state = {}

    def graphite():
        s = g_state.get("s")
        if s is None:
            s = socket.create_connection(("127.0.0.1", ports["graphite"]), timeout=30)
            g_state["s"] = s
        now = int(time.time())
        lines = ["soak.graphite.h%d.m%d %f" % (random.randrange(50), random.randrange(40), random.random())
                 for _ in range(40)]
        lines += ["soak.graphite.dated.d%d 1 %d" % (random.randrange(20), now - random.randrange(120))
                  for _ in range(10)]
        try:
            s.sendall(("\n".join(lines) + "\n").encode())
            count("graphite_lines", len(lines))
        except OSError:
            g_state.pop("s", None)
            raise

    def http_push():
        doc = {"soak": {"http": {"p%d" % random.randrange(2000): random.randrange(100),
                                 "note": "marker %d" % random.randrange(10)}}}
        http(base, "POST", "/push", json.dumps(doc).encode(), "application/json")
        count("http_push")

    def http_log():
        body = "\n".join(log_line() for _ in range(50)).encode()
        http(base, "POST", "/push", body, "text/plain")
        count("http_log_lines", 50)

    log_file = open(log_path, "a")

    def tail_writer():
        for _ in range(100):
            log_file.write(log_line() + "\n")
        log_file.flush()
        count("tail_lines", 100)

    def puller(pattern):
        def run():
            cursor = None
            while not stop.is_set():
                q = "?timeout=5s" + ("&cursor=%s" % cursor if cursor else "")
                try:
                    req = urllib.request.Request(base + "/pull/" + pattern + q)
                    with urllib.request.urlopen(req, timeout=30) as r:
                        r.read()
                        cursor = r.headers.get("x-treestat-cursor")
                        count("pull_answers")
                except urllib.error.HTTPError as e:
                    count("pull_status:%d" % e.code)
                    stop.wait(1)
                except Exception as e:
                    count("errors:pull:" + type(e).__name__)
                    stop.wait(1)
        return run

    def events_reader(pattern):
        def run():
            while not stop.is_set():
                try:
                    with urllib.request.urlopen(base + "/events/" + pattern, timeout=60) as r:
                        while not stop.is_set():
                            line = r.readline()
                            if not line:
                                break
                            if line.startswith(b"event:"):
                                count("events")
                except Exception as e:
                    count("errors:events:" + type(e).__name__)
                    stop.wait(1)
        return run

    def reads():
        which = random.randrange(6)
        if which == 0:
            http(base, "GET", "/graph/soak,udp,*,k1.png?from=-10min&width=600&height=300")
        elif which == 1:
            http(base, "GET", "/graph/status,*.svg?from=-10min&type=stacked")
        elif which == 2:
            http(base, "GET", "/trend/soak,graphite,h1,*.json?from=-15min")
        elif which == 3:
            http(base, "GET", "/get/soak,*,*|sum")
        elif which == 4:
            http(base, "GET", "/metrics")
        else:
            http(base, "GET", "/api/q/soak,http.json?window=60s")
        count("reads")

    threads = [
        threading.Thread(target=paced, args=(400, udp_json)),
        threading.Thread(target=paced, args=(400, statsd)),
        threading.Thread(target=paced, args=(20, tcp_lines)),
        threading.Thread(target=paced, args=(20, graphite)),
        threading.Thread(target=paced, args=(50, http_push)),
        threading.Thread(target=paced, args=(5, http_log)),
        threading.Thread(target=paced, args=(10, tail_writer)),
        threading.Thread(target=paced, args=(4, reads)),
    ]
    for i in range(64):
        pattern = "soak,http" if i % 2 == 0 else "never,matches,%d" % i
        threads.append(threading.Thread(target=puller(pattern)))
    for i in range(8):
        threads.append(threading.Thread(target=events_reader("soak,udp,h%d" % i)))
    for t in threads:
        t.daemon = True
        t.start()

    samples = []
    t0 = time.monotonic()
    print("  elapsed_s  rss_mib")
    try:
        while True:
            el = time.monotonic() - t0
            if server.poll() is not None:
                print("the server exited with", server.returncode)
                break
            rss = rss_kib(server.pid) / 1024.0
            samples.append((el, rss))
            print("  %9.0f  %7.1f" % (el, rss), flush=True)
            if el >= SECS:
                break
            time.sleep(max(0.0, min(SAMPLE, SECS - el)))
    finally:
        stop.set()
        time.sleep(1)
        server.send_signal(signal.SIGTERM)
        try:
            code = server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            code = "killed after 10 s"
        log_file.close()

    print("== per minute (RSS MiB, last sample of each minute)")
    by_min = {}
    for el, rss in samples:
        by_min[int(el // 60)] = rss
    print("  " + " ".join("%d:%.0f" % (m, r) for m, r in sorted(by_min.items())))
    after = [(el, r) for el, r in samples if el >= WARMUP]
    if len(after) >= 2:
        first, last = after[0][1], after[-1][1]
        peak = max(r for _, r in after)
        n = len(after)
        mx = sum(e for e, _ in after) / n
        my = sum(r for _, r in after) / n
        var = sum((e - mx) ** 2 for e, _ in after) or 1.0
        slope = sum((e - mx) * (r - my) for e, r in after) / var * 3600
        print("== after warm-up (%d s): first %.1f MiB, last %.1f MiB, peak %.1f MiB, "
              "trend %+.1f MiB/hour" % (WARMUP, first, last, peak, slope))
    print("== load sent:", json.dumps(dict(sorted(counts.items()))))
    print("== SIGTERM exit:", code)
    print("== server log:", os.path.join(work, "server.log"))
    with open(os.path.join(work, "server.log"), errors="replace") as f:
        bad = [line.rstrip() for line in f if " ERROR " in line or " WARN " in line]
    print("== server log: %d ERROR/WARN lines" % len(bad))
    for line in bad[:10]:
        print("   " + line[:300])
    return 0


if __name__ == "__main__":
    sys.exit(main())
