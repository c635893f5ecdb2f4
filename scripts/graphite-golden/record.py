#!/usr/bin/python3
"""Records graphite-web's answers as golden files for treestat's Graphite API.

Run with Debian's python3 on a machine with graphite-web 1.1.8
(`apt-get install -y graphite-web`, which brings python3-whisper):

    /usr/bin/python3 scripts/graphite-golden/record.py

It writes whisper files with known points (values, nulls, gaps) into a temporary
storage directory, drives graphite-web's Django app through Django's test client (the
same view code a server runs, no port needed) with `/render?format=json` for each case,
and writes `web/tests/golden/graphite.json`: the points (per treestat path and Graphite
name) and every case's request and answer. `web/tests/graphite_golden.rs` imports the
same points into a treestat trend store and compares its answers with these.

Times are absolute: the points sit just before the moment of recording (whisper drops
what is older than its retention by the wall clock), and each relative request passes
`now=`, which graphite-web 1.1 honours, so the recorded answers do not move.
"""

import json
import os
import sys
import tempfile
import time
import urllib.parse

STEP = 60
N = 150  # two and a half hours of points
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "web", "tests", "golden", "graphite.json")


def points(now_aligned):
    """{graphite name: (treestat path, [(ts, value|None)])}, oldest first."""
    first = now_aligned - N * STEP
    out = {}

    def add(name, path, f):
        pts = []
        for i in range(N):
            v = f(i)
            if v is not None:
                pts.append((first + i * STEP, float(v)))
        out[name] = (path, pts)

    add("a.h1.b", "a,h1,b", lambda i: (i % 17) + 1)
    # a gap of 20 points and single nulls
    add("a.h2.b", "a,h2,b", lambda i: None if 100 <= i < 120 or i % 13 == 0 else (i * 7 % 23) - 5)
    add("a.h3.b", "a,h3,b", lambda i: None if i % 5 == 0 else 2.5 * (i % 9))
    # counters: one with a reset, for the derivatives
    add("a.h1.c", "a,h1,c", lambda i: 1000 + 30 * i if i < 100 else 30 * (i - 100))
    add("a.h2.c", "a,h2,c", lambda i: None if i % 11 == 0 else 5 * i * i % 997 + 10 * i)
    # treestat keys holding dots: shown with `_`
    add("cpu.10_3_1_12.idle", "cpu,10.3.1.12,idle", lambda i: 50 + (i * 37 % 41))
    add("cpu.10_3_1_13.idle", "cpu,10.3.1.13,idle", lambda i: None if i > 230 else 20 + (i * 11 % 31))
    add("br.webkit.14_0.count", "br,webkit,14.0,count", lambda i: i % 4)
    add("web.status.200.count", "web,status,200,count", lambda i: 100 + (i * 3 % 50))
    add("web.status.404.count", "web,status,404,count", lambda i: None if i % 7 == 0 else i % 6)
    add("web.status.500.count", "web,status,500,count", lambda i: None if i < 130 else 1)
    # keys holding a space and non-ASCII letters
    add("odd.a%20b.x", "odd,a b,x", lambda i: 3)
    add("odd.größe.x", "odd,größe,x", lambda i: None if i % 2 else 4)
    return out


def cases(now):
    """(target list, params) pairs."""
    rng = {"from": str(now - 2 * 3600), "until": str(now)}
    c = []

    def t(*targets, **params):
        p = dict(rng)
        p.update(params)
        c.append((list(targets), p))

    plain = [
        "a.h1.b", "a.*.b", "a.h{1,3}.b", "a.h[12].b", "a.h?.c", "cpu.*.idle",
        "cpu.10_3_1_12.idle", "br.webkit.14_0.count", "web.status.*.count",
    ]
    for p in plain:
        t(p)
    fns = [
        "alias(a.h1.b,'one')", "aliasByNode(a.*.b,1)", "aliasByNode(web.status.*.count,2,3)",
        "aliasByMetric(a.*.b)", "aliasSub(a.*.b,'h(\\d)','host \\1')",
        "sumSeries(a.*.b)", "sumSeries(a.h1.b,a.h2.b)", "averageSeries(a.*.b)",
        "maxSeries(a.*.b)", "minSeries(a.*.b)", "diffSeries(a.h1.b,a.h2.b)",
        "divideSeries(a.h1.b,a.h3.b)", "multiplySeries(a.h1.b,a.h3.b)",
        "asPercent(a.*.b)", "asPercent(a.h1.b,a.h3.b)", "asPercent(a.*.b,100)",
        "countSeries(a.*.b)", "scale(a.h2.b,2.5)", "scaleToSeconds(a.h1.c,1)",
        "offset(a.h2.b,-3)", "absolute(a.h2.b)", "derivative(a.h1.c)",
        "nonNegativeDerivative(a.h1.c)", "nonNegativeDerivative(a.h2.c)", "perSecond(a.h1.c)",
        "integral(a.h2.b)", "delay(a.h2.b,3)", "timeShift(a.h1.b,'1h')", "timeShift(a.h1.b,'-30min')",
        "movingAverage(a.h2.b,5)", "movingAverage(a.h2.b,'10min')", "movingSum(a.h3.b,4)",
        "movingMax(a.h2.b,3)", "movingMin(a.h2.b,3)", "summarize(a.h2.b,'15min')",
        "summarize(a.h2.b,'1h','max')", "summarize(a.h2.b,'30min','sum',true)",
        "hitcount(a.h1.b,'10min')", "keepLastValue(a.h2.b)", "keepLastValue(a.h2.b,3)",
        "transformNull(a.h2.b)", "transformNull(a.h2.b,-1)", "removeBelowValue(a.h2.b,5)",
        "removeAboveValue(a.h2.b,5)", "highestCurrent(a.*.b,2)", "highestAverage(a.*.b,1)",
        "highestMax(a.*.b,2)", "lowestCurrent(a.*.b,1)", "lowestAverage(a.*.b,2)",
        "limit(a.*.b,2)", "sortByName(a.*.*)", "sortByMaxima(a.*.b)", "sortByTotal(a.*.b)",
        "groupByNode(web.status.*.count,2,'sumSeries')", "groupByNode(a.*.*,2)",
        "groupByNodes(a.*.*,'sum',1)", "sumSeriesWithWildcards(a.*.b,1)",
        "averageSeriesWithWildcards(a.*.*,2)", "percentileOfSeries(a.*.b,50)",
        "nPercentile(a.h2.b,90)", "exclude(a.*.b,'h2')", "grep(a.*.b,'h[23]')",
        "constantLine(42)", "consolidateBy(a.h2.b,'max')", "sumSeries(scale(a.*.b,2))",
        "alias(sumSeries(a.*.b),'total')", "aliasByNode(sumSeries(a.*.b),1)",
        "summarize(a.h2.b,'15min','avg')", "summarize(a.h3.b,'7min','last')", "movingMax(a.h2.b,'5min')",
        "asPercent(a.*.b,a.*.b)", "divideSeries(a.*.b,a.h3.b)", "groupByNode(cpu.*.idle,2,'maxSeries')",
        "highestCurrent(web.status.*.count,1)", "lowestCurrent(cpu.*.idle,1)",
        "legendValue(a.h1.b,'avg','max')", "stacked(a.*.b)", "color(a.h1.b,'red')", "lineWidth(a.h1.b,3)",
        "constantLine(2.5)", "percentileOfSeries(a.*.b,50,true)", "percentileOfSeries(a.*.b,90)",
        "nonNegativeDerivative(a.h1.c,5000)", "perSecond(a.h2.c)", "sortByName(web.status.*.count,true,true)",
        "timeShift(a.h1.b,'1h',false)", "keepLastValue(a.h2.b,25)", "transformNull(a.h2.b,2.5)",
        "aliasByNode(web.status.*.count,-2)", "groupByNodes(web.status.*.count,'max',0,1)",
        "countSeries(a.*.c)", "maxSeries(cpu.*.idle)", "sumSeries(a.h1.b,nothing.*)",
        "odd.*.x", "sumSeries(odd.*.x)", "aliasByNode(odd.*.x,1)", "odd.a%20b.x", "odd.größe.x",
        "sumSeries(a.*.nothing)", "delay(a.h2.b,-2)", "scale(a.h2.b,-0.001)", "offset(a.h1.b,1000000)",
    ]
    for f in fns:
        t(f)
    # several targets in one request
    t("a.h1.b", "sumSeries(a.*.b)")
    # maxDataPoints: average by default, consolidateBy's function otherwise
    t("a.*.b", maxDataPoints="50")
    t("a.h2.b", maxDataPoints="7")
    t("consolidateBy(a.h2.b,'max')", maxDataPoints="50")
    t("consolidateBy(a.h2.b,'sum')", maxDataPoints="33")
    t("consolidateBy(a.h2.b,'min')", maxDataPoints="21")
    t("consolidateBy(a.h2.b,'last')", maxDataPoints="10")
    t("a.h2.b", maxDataPoints="1")
    t("a.h1.b", "sumSeries(a.*.b)", maxDataPoints="13")
    t("a.h2.b", noNullPoints="true")
    # the time formats
    t("a.h1.b", **{"from": "-1h", "until": "now", "now": str(now)})
    t("a.h1.b", **{"from": "now-2h", "until": "now-1h", "now": str(now)})
    t("a.h1.b", **{"from": "-90min", "until": "-30min", "now": str(now)})
    hhmm = time.strftime("%H:%M_%Y%m%d", time.gmtime(now - 7200))
    hhmm2 = time.strftime("%H:%M_%Y%m%d", time.gmtime(now - 3600))
    t("a.h1.b", **{"from": hhmm, "until": hhmm2, "now": str(now)})
    day = time.strftime("%Y%m%d", time.gmtime(now))
    t("a.h1.b", **{"from": day, "until": str(now), "now": str(now)})
    t("a.h1.b", **{"from": str(now - 3000), "until": str(now - 1000)})
    t("a.h1.b", **{"from": str(now - 3030), "until": str(now - 1010)})
    return c


def main():
    tmp = tempfile.mkdtemp(prefix="gw-golden-")
    try:
        record(tmp)
    finally:
        import shutil
        shutil.rmtree(tmp, ignore_errors=True)


def record(tmp):
    storage = os.path.join(tmp, "storage")
    whisper_dir = os.path.join(storage, "whisper")
    os.makedirs(whisper_dir)
    os.makedirs(os.path.join(storage, "log"))
    with open(os.path.join(tmp, "gw_local.py"), "w") as f:
        f.write(
            "SECRET_KEY = 'golden'\n"
            f"STORAGE_DIR = {storage!r}\nWHISPER_DIR = {whisper_dir + '/'!r}\n"
            f"LOG_DIR = {os.path.join(storage, 'log')!r}\nINDEX_FILE = {os.path.join(storage, 'index')!r}\n"
            "TIME_ZONE = 'UTC'\nALLOWED_HOSTS = ['*']\nDEFAULT_XFILES_FACTOR = 0\n"
            "LOG_RENDERING_PERFORMANCE = False\nLOG_CACHE_PERFORMANCE = False\n"
            f"DATABASES = {{'default': {{'NAME': {os.path.join(storage, 'graphite.db')!r}, 'ENGINE': 'django.db.backends.sqlite3'}}}}\n"
            "FUNCTION_PLUGINS = []\nTAGDB = ''\n"
        )
    sys.path.insert(0, tmp)
    os.environ["GRAPHITE_SETTINGS_MODULE"] = "gw_local"
    os.environ["DJANGO_SETTINGS_MODULE"] = "graphite.settings"
    import whisper
    import django
    django.setup()
    from django.core.management import call_command
    from django.test import Client

    call_command("migrate", verbosity=0, interactive=False)

    now = int(time.time())
    now_aligned = now - now % STEP
    data = points(now_aligned)
    for name, (_path, pts) in data.items():
        f = os.path.join(whisper_dir, *name.split(".")) + ".wsp"
        os.makedirs(os.path.dirname(f), exist_ok=True)
        whisper.create(f, [(STEP, 7 * 24 * 60)], xFilesFactor=0, aggregationMethod="average")
        whisper.update_many(f, pts)
    client = Client(raise_request_exception=False)
    recorded = []
    for targets, params in cases(now):
        q = [("target", t) for t in targets] + list(params.items()) + [("format", "json")]
        r = client.get("/render?" + urllib.parse.urlencode(q))
        body = r.content.decode()
        entry = {"targets": targets, "params": params, "status": r.status_code}
        if r.status_code == 200:
            entry["answer"] = json.loads(body)
        else:
            entry["error"] = body[:300]
        recorded.append(entry)
        print(r.status_code, targets, params.get("maxDataPoints", ""), file=sys.stderr)
    finds = []
    for q in ["odd.*", "odd.*.*", "odd.a%20b.*", "br.webkit.*", "*", "a.*", "a.h1.*", "cpu.*", "cpu.10_3_1_12.*", "a.h{1,2}", "a.h[2-3].*", "web.*.*", "nothing.*"]:
        r = client.get("/metrics/find?" + urllib.parse.urlencode({"query": q}))
        finds.append({"query": q, "status": r.status_code, "answer": json.loads(r.content.decode())})
    golden = {
        "recorded_with": "graphite-web 1.1.8 (Debian), scripts/graphite-golden/record.py",
        "now": now,
        "step": STEP,
        "series": [{"graphite": n, "path": p, "points": pts} for n, (p, pts) in data.items()],
        "render": recorded,
        "find": finds,
    }
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    with open(OUT, "w") as f:
        json.dump(golden, f, separators=(",", ":"))
        f.write("\n")
    print(f"wrote {OUT}: {len(recorded)} render cases, {len(finds)} finds", file=sys.stderr)


if __name__ == "__main__":
    main()
