#!/usr/bin/env python3
"""Sharded ingest throughput (issue 16): leaf updates per second from a relay through
RabbitMQ into 1, 2 and 3 `treestat serve --shard` engines, and where the CPU goes.

Run through bench/shards.sh (it builds the release binary). Everything is private and on
loopback: its own RabbitMQ node (Debian's rabbitmq-server with the consistent-hash
plugin, own epmd, ports and folder), the shards and the relay on free ports, all removed
at the end.

The workload is KEYS top-level keys x LEAVES leaves (`add` counters), every leaf pushed
once per second into the relay over HTTP (pre-encoded bodies of CHUNK keys each). Half go over
HTTP, half as TCP lines, at once (the relay serves each listener on its own thread). The
relay merges a second and forwards every touched leaf once per interval (1 s), cut into
one message per top-level key, so the broker carries KEYS messages a second whatever
the push rate. The figures are the rate pushed into the relay, the shards'
`treestat_samples_total` (leaf updates applied: fewer than pushed when the relay folds
two pushes of a leaf into one interval) over the measured window, the backlog left in
the shards' queues, and the end-to-end check: once drained, the shards' totals add up
to every leaf update pushed (each is an `add` of 1), nothing lost or doubled.
"""

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.environ.get("TREESTAT_BIN", os.path.join(ROOT, "target", "release", "treestat"))
KEYS = int(os.environ.get("KEYS", "1000"))
LEAVES = int(os.environ.get("LEAVES", "500"))
CHUNK = int(os.environ.get("CHUNK", "50"))
WARMUP = float(os.environ.get("WARMUP", "5"))
SECONDS = float(os.environ.get("SECONDS", "20"))
RABBIT = "/usr/lib/rabbitmq/bin/rabbitmq-server"
CTL = "/usr/lib/rabbitmq/bin/rabbitmqctl"


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def wait(what, probe, limit=120):
    deadline = time.time() + limit
    while time.time() < deadline:
        try:
            if probe():
                return
        except OSError:
            pass
        time.sleep(0.1)
    sys.exit(f"gave up waiting for {what}")


def cpu_seconds(pid):
    """utime + stime of a process and its reaped children, in seconds."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    ticks = sum(int(x) for x in fields[11:15])
    return ticks / os.sysconf("SC_CLK_TCK")


class Broker:
    def __init__(self, base):
        self.dir = tempfile.mkdtemp(prefix="shards-rabbit-", dir=base)
        with open(os.path.join(self.dir, "enabled_plugins"), "w") as f:
            f.write("[rabbitmq_consistent_hash_exchange].")
        self.port, dist, self.epmd_port = free_port(), free_port(), free_port()
        self.node = f"shards-bench-{os.getpid()}@localhost"
        self.env = dict(
            os.environ,
            HOME=self.dir,
            ERL_EPMD_PORT=str(self.epmd_port),
            RABBITMQ_NODE_PORT=str(self.port),
            RABBITMQ_NODE_IP_ADDRESS="127.0.0.1",
            RABBITMQ_DIST_PORT=str(dist),
            RABBITMQ_NODENAME=self.node,
            RABBITMQ_MNESIA_BASE=os.path.join(self.dir, "mnesia"),
            RABBITMQ_LOG_BASE=os.path.join(self.dir, "log"),
            RABBITMQ_PID_FILE=os.path.join(self.dir, "pid"),
            RABBITMQ_CONFIG_FILE=os.path.join(self.dir, "rabbitmq"),
            RABBITMQ_ENABLED_PLUGINS_FILE=os.path.join(self.dir, "enabled_plugins"),
            RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS=(
                "-kernel inet_dist_use_interface {127,0,0,1} -start_epmd false"
            ),
        )
        self.epmd = subprocess.Popen(
            ["epmd", "-port", str(self.epmd_port), "-address", "127.0.0.1"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        log = open(os.path.join(self.dir, "server.log"), "w")
        self.proc = subprocess.Popen([RABBIT], env=self.env, cwd=self.dir,
                                     stdout=log, stderr=log)
        wait("rabbitmq", lambda: socket.create_connection(("127.0.0.1", self.port), 0.2))
        wait("the broker's pid file", lambda: os.path.exists(self.env["RABBITMQ_PID_FILE"]))
        with open(self.env["RABBITMQ_PID_FILE"]) as f:
            self.vm = int(f.read().strip())

    def url(self):
        return f"amqp://guest:guest@127.0.0.1:{self.port}/%2f"

    def backlog(self, prefix):
        """Messages waiting in the queues whose name starts with `prefix`."""
        out = subprocess.run([CTL, "-n", self.node, "list_queues", "-q", "name", "messages"],
                             env=self.env, capture_output=True, text=True).stdout
        total = 0
        for line in out.splitlines():
            parts = line.split()
            if len(parts) == 2 and parts[0].startswith(prefix):
                total += int(parts[1])
        return total

    def stop(self):
        try:
            os.kill(self.vm, signal.SIGTERM)
            self.proc.wait(60)
        except (OSError, subprocess.TimeoutExpired):
            self.proc.kill()
        self.epmd.kill()
        shutil.rmtree(self.dir, ignore_errors=True)


def metric(base, name):
    text = urllib.request.urlopen(f"{base}/metrics", timeout=10).read().decode()
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name) and not line.startswith("#"):
            total += float(line.rsplit(" ", 1)[1])
    return total


def delivered_total(base):
    """The sum of every leaf a shard holds (`/get/` leaves out `_treestat`)."""
    rows = json.loads(urllib.request.urlopen(f"{base}/get/", timeout=60).read())
    return sum(v for _, v in rows)


def start_shard(base_dir, broker, exchange, name):
    port = free_port()
    d = os.path.join(base_dir, f"{exchange}-{name}")
    os.makedirs(d)
    conf = os.path.join(d, "treestat.toml")
    with open(conf, "w") as f:
        f.write(
            f'[server]\ndata = "{d}/data"\n'
            '[listen]\ntcp = "off"\nudp = "off"\nstatsd = "off"\ngraphite = "off"\n'
            '[engine]\ninterval = "1s"\n'
            '[trend]\nretention = "1s:10m"\nqueue = 4096\n'
            f'[amqp]\nurl = "{broker.url()}"\nshard = "{name}"\nshard_exchange = "{exchange}"\n'
            'prefetch = 200\nmax_message_bytes = 8388608\n'
        )
    p = subprocess.Popen([BIN, "serve", "--conf", conf, "--http", f"127.0.0.1:{port}",
                          "--no-agent"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                         env=dict(os.environ, RUST_LOG="warn"))
    base = f"http://127.0.0.1:{port}"
    wait(f"shard {name}", lambda: metric(base, "treestat_amqp_connected") == 1)
    return p, base


def bodies():
    """The workload, pre-encoded: one body per CHUNK top-level keys."""
    out = []
    for start in range(0, KEYS, CHUNK):
        tree = {"default_action": "add"}
        for k in range(start, min(start + CHUNK, KEYS)):
            tree[f"k{k:05d}"] = {f"l{i}": 1 for i in range(LEAVES)}
        out.append(json.dumps(tree).encode())
    return out


def post(port, body):
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(b"POST /push HTTP/1.1\r\nHost: relay\r\nContent-Type: application/json\r\n"
              b"Content-Length: %d\r\nConnection: close\r\n\r\n" % len(body) + body)
    resp = b""
    while True:
        chunk = s.recv(65536)
        if not chunk:
            break
        resp += chunk
    s.close()
    if not resp.startswith(b"HTTP/1.1 200"):
        sys.exit(f"relay refused a push: {resp[:200]!r}")


def send_lines(sock, docs):
    """Sends each body as one TCP line and reads its `--OK`."""
    for body in docs:
        sock.sendall(body + b"\n")
        answer = b""
        while not answer.endswith(b"\n"):
            chunk = sock.recv(4096)
            if not chunk:
                sys.exit("the relay closed the TCP connection")
            answer += chunk
        if not answer.startswith(b"--OK"):
            sys.exit(f"relay refused a line: {answer[:200]!r}")


def run(n, broker, base_dir, docs):
    exchange = f"treestat.bench{n}"
    shards = [start_shard(base_dir, broker, exchange, f"s{i}") for i in range(n)]
    relay_port, relay_tcp = free_port(), free_port()
    relay = subprocess.Popen(
        [BIN, "relay", "--interval", "1s", "--listen", f"http://127.0.0.1:{relay_port}",
         "--listen", f"tcp://127.0.0.1:{relay_tcp}",
         "--upstream", f"{broker.url()}?format=tree&sharded=1&exchange={exchange}"
                       "&max_message_bytes=8388608&buffer=100000"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=dict(os.environ, RUST_LOG="warn"))
    wait("the relay", lambda: socket.create_connection(("127.0.0.1", relay_port), 0.2))
    wait("the relay's TCP", lambda: socket.create_connection(("127.0.0.1", relay_tcp), 0.2))
    lines = socket.create_connection(("127.0.0.1", relay_tcp))
    lines.recv(4096)  # the hint line
    pids = {"broker": broker.vm, "relay": relay.pid}
    for i, (p, _) in enumerate(shards):
        pids[f"shard{i}"] = p.pid
    pids["load"] = os.getpid()
    t0 = time.time()
    mark = None
    pushed = 0
    while True:
        now = time.time()
        if mark is None and now - t0 >= WARMUP:
            mark = (now, sum(metric(b, "treestat_samples_total") for _, b in shards),
                    sum(metric(b, "treestat_amqp_messages_total") for _, b in shards),
                    {k: cpu_seconds(v) for k, v in pids.items()}, pushed)
        if now - t0 >= WARMUP + SECONDS:
            break
        second = time.time()
        # Half the bodies over HTTP, half as TCP lines at the same time: the relay
        # serves each listener on its own thread.
        half = len(docs) // 2
        tcp = threading.Thread(target=send_lines, args=(lines, docs[half:]))
        tcp.start()
        for body in docs[:half]:
            post(relay_port, body)
        tcp.join()
        pushed += KEYS * LEAVES
        time.sleep(max(0.0, 1.0 - (time.time() - second)))
    end = time.time()
    total_pushed = pushed
    samples = sum(metric(b, "treestat_samples_total") for _, b in shards)
    msgs = sum(metric(b, "treestat_amqp_messages_total") for _, b in shards)
    cpu = {k: cpu_seconds(v) - mark[3][k] for k, v in pids.items()}
    span = end - mark[0]
    backlog = broker.backlog(exchange)
    rate = (samples - mark[1]) / span
    offered = (pushed - mark[4]) / span
    print(f"shards={n}: {rate:,.0f} leaf updates/s applied by the shards "
          f"({(msgs - mark[2]) / span:,.0f} AMQP messages/s); pushed into the relay "
          f"{offered:,.0f} leaf updates/s (target {KEYS * LEAVES:,}); backlog at the end: "
          f"{backlog} messages")
    print("  CPU seconds per wall second: " +
          ", ".join(f"{k} {v / span:.2f}" for k, v in cpu.items()))
    applied = max(samples - mark[1], 1)
    print("  CPU microseconds per applied leaf update: " +
          ", ".join(f"{k} {v * 1e6 / applied:.2f}" for k, v in cpu.items()) +
          f"; all {sum(cpu.values()) * 1e6 / applied:.2f}")
    # End to end: every pushed leaf update (each an `add` of 1) must be in the shards'
    # totals once the relay's last interval has gone through the broker.
    delivered = 0.0
    deadline = time.time() + 60
    while time.time() < deadline:
        delivered = sum(delivered_total(b) for _, b in shards)
        if delivered >= total_pushed:
            break
        time.sleep(0.5)
    print(f"  delivered: {delivered:,.0f} of {total_pushed:,} pushed leaf updates are in the "
          f"shards' totals" + ("" if delivered == total_pushed else " (LOST OR DOUBLED)"))
    own = {}
    for _, b in shards:
        rows = json.loads(urllib.request.urlopen(f"{b}/get/_treestat,relay,*,*",
                                                 timeout=10).read())
        own.update({p.rsplit(",", 1)[1]: v for p, v in rows})
    trouble = {}
    for _, b in shards:
        text = urllib.request.urlopen(f"{b}/metrics", timeout=10).read().decode()
        for line in text.splitlines():
            name, _, v = line.rpartition(" ")
            if (not line.startswith("#") and any(w in name for w in ("reject", "drop", "bad", "lost", "late", "future"))
                    and float(v) != 0):
                trouble[name] = trouble.get(name, 0) + float(v)
    print("  the shards' trouble counters: " + (", ".join(f"{k} {v:,.0f}" for k, v in sorted(trouble.items())) or "none"))
    applied_msgs = sum(metric(b, "treestat_amqp_messages_total") for _, b in shards)
    print(f"  AMQP messages applied by the shards in all: {applied_msgs:,.0f}")
    print("  the relay's own counters: " + ", ".join(f"{k} {v:,.0f}" for k, v in sorted(own.items())))
    lines.close()
    relay.terminate()
    relay.wait(30)
    for p, _ in shards:
        p.terminate()
        p.wait(30)
    return rate


def main():
    if not os.path.exists(RABBIT):
        sys.exit("needs rabbitmq-server (apt-get install -y rabbitmq-server)")
    counts = [int(x) for x in (sys.argv[1:] or ["1", "2", "3"])]
    base_dir = tempfile.mkdtemp(prefix="shards-bench-")
    broker = Broker(base_dir)
    try:
        docs = bodies()
        print(f"workload: {KEYS} top-level keys x {LEAVES} leaves, every leaf once a second "
              f"({len(docs)} HTTP pushes of {len(docs[0]) / 1e6:.1f} MB each per second); "
              f"{WARMUP:.0f} s warm-up, {SECONDS:.0f} s measured; {os.cpu_count()} cores")
        for n in counts:
            run(n, broker, base_dir, docs)
    finally:
        broker.stop()
        shutil.rmtree(base_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
