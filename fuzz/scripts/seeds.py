#!/usr/bin/env python3
"""Writes the seed corpora fuzz/corpus/<target>/ from inputs typed in the shape of the
repo's own tests and conf/treestat.toml (a few KB per target). Run from anywhere;
it replaces the seeds it names and leaves other files alone."""
import hashlib
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))
CORPUS = os.path.join(HERE, "..", "corpus")
NOW = struct.pack("<q", 1_700_000_000)


def write(target, inputs):
    d = os.path.join(CORPUS, target)
    os.makedirs(d, exist_ok=True)
    for data in inputs:
        if isinstance(data, str):
            data = data.encode()
        name = "seed-" + hashlib.sha1(data).hexdigest()[:12]
        with open(os.path.join(d, name), "wb") as f:
            f.write(data)


PUSHES = [
    '{"a":1}',
    '[{"a":1},{"b":2}]',
    '{"web":{"hits":3,"lat":[0.1,0.2,null]},"default_action":"add"}',
    '{"timestamp":1700000000.5,"cpu":{"idle":97.5,"user":true},"note":"deploy"}',
    '{"x":{"y":{"z":null}},"x":{"count":2},"defaultaction":"max"}',
    '{"a\\u00e9,b":1}',
    '{"ip":{"114.0":1,"14.0":2},"timestamp":-1}',
    '{"deep":{"a":{"b":{"c":{"d":{"e":1e308}}}}}}',
    '{"bad":[1,"x"]}',
]
write("push_json", PUSHES)

write("statsd", [
    "gorets:1|c", "a.b.c:2|c|@0.1", "glork:320|ms|@0.5|#env:prod,host:a", "h:3|h",
    "gaugor:-10|g\ngaugor:+4|g\ngaugor:10|g", "uniques:765|s\nuniques:766|s", "empty:|c",
    "hash#tag:1|c", "multi:1|c:2|c:5|ms", "many:1|c:2|c:3|c:4|c:5|c:6|c", "x:1|c|@2",
    "x:NaN|g", "a..b:1|c", "x:1|c:2|zz", "{}:1|c",
])

write("graphite", [
    "a.b.c 1 1700000000", "servers.web1.cpu 97.5", "x 1 -1", "x\t2.5\t1700000000.9",
    "a.b 1e300 0", "too many fields here", "a..b 1", "x nan", "x 1 99999999999",
])

write("simplestats", [
    '["var1", 1322721979, 8]', '  ["web.cpu,idle", "1322721979.5", "2.5"] ',
    '{"a":1}', '[{"a":1},{"b":2}]', "[]", "[1,2,3]", '["v",1]', '["v",1,"x"]',
    '["a,b,c", 0, -0.0]',
])

write("tcp_lines", [
    b"\x20\x07" + b'["var1", 1322721979, 8]\r\n{"a":1}\n',
    b"\x05\x03" + b"abc\r\nabcdef\nab\r\r\n\nxyz",
    b"\x00\x01" + b"\n\n\r\n",
    b"\x3f\xff" + b"servers.web1.cpu 97.5 1700000000\nx 1",
])

PATTERN_TREE = "\n".join([
    "br,ie,114.0", "br,ie,14.0", "br,webkit,x1", "br,webkit,xxaxxb",
    "venders,sogou", "ip,1.2.3.4", "\u00f6,y", "a,b,c,d,e",
])
write("pattern", [
    "\n" + PATTERN_TREE,
    "**\n" + PATTERN_TREE,
    "br,**,x*\n" + PATTERN_TREE,
    "br,,14.0\n" + PATTERN_TREE,
    "br,,1?.0,**,x*|sum,\n" + PATTERN_TREE,
    "**,sogou\n" + PATTERN_TREE,
    ",,,\n" + PATTERN_TREE,
    "*a*b|count\n" + PATTERN_TREE,
    "br|sum,*|avg,?|max\n" + PATTERN_TREE,
    "**,**,**,e\n" + PATTERN_TREE,
    "a|median\n" + PATTERN_TREE,
    "\u00f6,?\n" + PATTERN_TREE,
])

write("time", [NOW + t.encode() for t in [
    "now", " NOW ", "-5m", "now-1d", "now - 6 h", "now+1h", "+5m", "-10MIN",
    "1700000000", "1700000000.5", "10s", "500ms", "1.5h", "2 weeks", "3mon",
    "-100y", "1e3", "-6", "253402300800", "0.0001ms",
]] + [struct.pack("<q", -(2**63)) + b"-1y", struct.pack("<q", 2**63 - 1) + b"+1000000000000s"])

write("graph_options", [NOW + q.encode() for q in [
    "from=-1d&until=now&width=800&height=400",
    "from=-6h&type=area&style=url&theme=dark&title=cpu&legend=false",
    "yMin=0&yMax=100&lineWidth=2.5&colors=ff0000,00ff00,#0000ff",
    "tz=+08:00", "tz=Europe/Paris", "tz=UTC-0530", "tz=+8", "tz=America/New_York&from=1700000000",
    "width=16&height=16", "from=now&until=now", "width=99999",
]])

COMBINED = ('1.2.3.4 - frank [10/Oct/2000:13:55:36 -0700] "GET /apache_pb.gif HTTP/1.0" 200 2326 '
            '"http://www.example.com/start.html" "Mozilla/4.08 [en] (Win98; I ;Nav)"')
PEACH = ('[17/Jan/2012:17:37:26 +0800] 200 hdn.xnimg.cn 10.22.200.100:80 0.001 0.001 183.213.96.62 - '
         'GET /photos/x.jpg HTTP/1.1 4428 "http://www.renren.com/419816894" "Mozilla/4.0" "-"')
write("log_formats", [
    b"\x00" + COMBINED.encode(),
    b"\x01" + b'::1 - - [10/Oct/2000:13:55:36 -0700] "-" 400 0',
    b"\x02" + ("example.com:80 " + COMBINED).encode(),
    b"\x03" + PEACH.encode(),
    b"\x04" + b'1.2.3.4, 5.6.7.8 [10/Oct/2000:13:55:36 -0700] "GET / HTTP/1.1" 200 0.5 0.1 : 0.2 "-" hx',
    b"\x05" + b"1.2.3.4 - u [t] GET 200",
    b"\x06" + b"h:80 GET /x HTTP/1.1",
    b"\x07" + "1.2.3.4\x01-\x01now\x01GET\x01/\x01HTTP/1.1\x01200\x010\x01ref\x01agent \u00e9".encode(),
    b"\x00" + b'1.2.3.4 - - [t] "GET /a \\"q\\" HTTP/1.1" 200 1 "-" "a\\"b"',
])

write("log_format_compile", [
    "combined\n" + COMBINED,
    "peach\n" + PEACH,
    '$remote_addr [$time_local] "$request" $status ${host}x\n1.2.3.4 [t] "GET / HTTP/1.1" 200 hx',
    "'$host:$server_port $request'\nh:80 GET /x HTTP/1.1",
    r"regex:^(?P<remote_addr>\S+) .* (?P<status>\d{3}) " + "\n1.2.3.4 x y 200 ",
    "$a$b\nx", "$a $a\nx", "${unclosed\nx", "no variables\nx", "regex:(unclosed\nx",
])

def chunk_points(points):
    out = bytearray(struct.pack("<q", 1_700_000_000))
    for tag, extra in points:
        out.append(tag)
        out += extra
    return bytes(out)

write("trend_chunk", [
    b"\x00\x00", b"\x00\x05\x02\x14\x00",
    b"\x01" + chunk_points([(0x04, struct.pack("<i", 234) + b"\x01")] * 6),
    b"\x01" + chunk_points([(0x00, struct.pack("<d", 3.141592653589793)), (0x01, b"\x07" + struct.pack("<d", -1.5)),
                             (0x0e, b"\x00"), (0x22, struct.pack("<Q", 2**62) + struct.pack("<d", 1e-300) + struct.pack("<Q", 2**64 - 1))]),
    b"\x01" + chunk_points([(0x0c, bytes([i])) for i in range(6)]),
])

def mm_record(label, ty, wb, values):
    return (struct.pack("<H", len(label)) + label + struct.pack("<H", len(ty)) + ty + bytes([wb]) + values)

write("mmstats", [
    b"\x00" + b"\x01" + mm_record(b"hits", b"Q", 1, struct.pack("<QQ", 3, 2)) + b"\x00\x00",
    b"\x00" + b"\x01" + mm_record(b"name", b"16s", 0xff, b"worker-1".ljust(16, b"\x00"))
        + mm_record(b"ok", b"?", 0xff, b"\x01") + mm_record(b"lat", b"<d", 0, struct.pack("<dd", 0.5, 1.5)) + b"\x00\x00",
    b"\x00" + b"\x01" + mm_record(b"x", b"2I", 0xff, b"\x00" * 8),
    b"\x00" + b"\x01" + mm_record(b"x", b"B", 7, b"\x00\x00"),
    b"\x00" + b"\x02",
    b"\x01" + b"\x05\x04hits" + struct.pack("<Q", 3) + b"\x8b\x02lat" + struct.pack("<dd", 0.5, 1.5),
])

PSI = [
    '{"cpu": [12.5, 3.0]}', '{"mem": 34.1}', '{"ipaddr": {"eth0": "10.0.0.5"}}',
    '{"hddspace": {"/": 41.0}}', '{"hddtemps": {"/dev/sda": {"value": "35", "unit": "C"}}}',
    '{"sensors": {"Core 0": {"value": 48.0, "unit": "C"}}}', '{"a,b": {"": null, "\\u0001": true}}',
    '[1]', 'not json',
]
write("psistats", ["psistats.web1.example.com\n" + b for b in PSI] + [
    "psistats\n{}", "psistats.\n{}",
    'x.h\n{"cpu":{"web1":{"core0":12.5,"core1":{"idle":90,"iowait":1}}},"memory":{"web1":{"used":1,"total":4}}}',
    'x.h\n[{"disk":{"web1":{"/":{"used_percent":41}}},"default_action":"last"},{"temperature":{"web1":{"cpu":{"core0":48}}}}]',
])

write("amqp_message", [b"\x00psistats.web1\n" + p.encode() for p in PSI[:6]] + [
    b"\x01\n" + p.encode() for p in PUSHES[:4]
] + [b"\x00nohost\n{}", b"\x00psistats.h\n" + b"[" * 40])


def crc32c(data, crc=0):
    crc ^= 0xFFFFFFFF
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 if crc & 1 else 0)
    return crc ^ 0xFFFFFFFF


def varint(v):
    out = b""
    while v >= 0x80:
        out += bytes([(v & 0x7F) | 0x80])
        v >>= 7
    return out + bytes([v])


def wal_str(x):
    x = x.encode()
    return varint(len(x)) + x


def wal_frame(seq, body):
    head = struct.pack("<Qqqq", seq, 1_700_000_000, 10, 1_700_000_003)
    return struct.pack("<II", len(head) + len(body), crc32c(head + body)) + head + body


assert crc32c(b"123456789") == 0xE3069283
# A batch (tag 1): a sample, a marker, a sample list; a document (tag 0): {"x": 2.0}.
WAL_BATCH = (bytes([1]) + varint(3)
             + bytes([0]) + wal_str("a,b") + struct.pack("<d", 1.5) + bytes([1, 0])
             + bytes([2]) + wal_str("m") + wal_str("deploy")
             + bytes([3]) + wal_str("api,latency") + varint(2) + struct.pack("<dd", 12.5, 0.25)
             + bytes([6]))
WAL_DOC = bytes([0]) + varint(1) + bytes([0, 0]) + varint(1) + wal_str("x") + bytes([1]) + struct.pack("<d", 2.0)
WAL_LOG = wal_frame(1, WAL_BATCH) + wal_frame(2, WAL_DOC)
WAL_BAD = bytearray(WAL_LOG)
WAL_BAD[20] ^= 0xFF
write("wal_records", [
    b"\x00" + WAL_LOG, b"\x00" + WAL_LOG[:-5], b"\x00" + bytes(WAL_BAD),
    b"\x01\x80" + bytes(range(40)), b"\x01\x40" + bytes((k * 37 + 11) % 256 for k in range(100)),
])
