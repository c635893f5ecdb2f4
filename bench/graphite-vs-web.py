#!/usr/bin/python3
"""Helper of bench/graphite-vs-web.sh (run with Debian's python3, graphite-web 1.1.8).

    graphite-vs-web.py data DIR NOW    whisper files under DIR/gw/whisper and the same
                                       points as NDJSON import chunks under DIR/import
    graphite-vs-web.py serve DIR PORT  graphite-web's Django app over DIR/gw, on PORT

The data (issue 14, acceptance 3):
  a.<i>.b  for i < 1000: one day at 10 s (8,640 points each), for sumSeries(a.*.b)
  c.<i>    for i < 10000: one hour at 10 s (360 points each), for highestCurrent(c.*, 10)
Values are deterministic (no randomness), a few nulls included.
"""

import json
import os
import sys

CHUNK = 200_000  # lines per import body (about 6 MB, under web.body_limit's 8 MiB)


def series(now):
    day = now - 86_400
    for i in range(1000):
        pts = [(day + k * 10, float((i * 7 + k) % 97)) for k in range(1, 8641) if (i + k) % 50]
        yield f"a.{i}.b", f"a,{i},b", pts, 86_400
    hour = now - 3600
    for i in range(10_000):
        pts = [(hour + k * 10, float((i * 13 + k * 3) % 1009)) for k in range(1, 361)]
        yield f"c.{i}", f"c,{i}", pts, 7200


def data(root, now):
    import whisper
    wdir = os.path.join(root, "gw", "whisper")
    idir = os.path.join(root, "import")
    os.makedirs(idir, exist_ok=True)
    out, lines, n = None, 0, 0

    def next_chunk():
        nonlocal out, lines, n
        if out:
            out.close()
        out = open(os.path.join(idir, f"{n:04}.ndjson"), "w")
        n += 1
        lines = 0

    next_chunk()
    for name, path, pts, span in series(now):
        f = os.path.join(wdir, *name.split(".")) + ".wsp"
        os.makedirs(os.path.dirname(f), exist_ok=True)
        whisper.create(f, [(10, span // 10)], xFilesFactor=0, aggregationMethod="average")
        whisper.update_many(f, pts)
        for t, v in pts:
            out.write(json.dumps([path, t, v]) + "\n")
        lines += len(pts)
        if lines >= CHUNK:
            next_chunk()
    out.close()


def serve(root, port):
    storage = os.path.join(root, "gw")
    os.makedirs(os.path.join(storage, "log"), exist_ok=True)
    with open(os.path.join(storage, "gw_bench_settings.py"), "w") as f:
        f.write(
            "SECRET_KEY = 'bench'\n"
            f"STORAGE_DIR = {storage!r}\nWHISPER_DIR = {os.path.join(storage, 'whisper') + '/'!r}\n"
            f"LOG_DIR = {os.path.join(storage, 'log')!r}\nINDEX_FILE = {os.path.join(storage, 'index')!r}\n"
            "TIME_ZONE = 'UTC'\nALLOWED_HOSTS = ['*']\nDEFAULT_XFILES_FACTOR = 0\n"
            "LOG_RENDERING_PERFORMANCE = False\nLOG_CACHE_PERFORMANCE = False\nLOG_METRIC_ACCESS = False\n"
            f"DATABASES = {{'default': {{'NAME': {os.path.join(storage, 'graphite.db')!r}, 'ENGINE': 'django.db.backends.sqlite3'}}}}\n"
            "FUNCTION_PLUGINS = []\nTAGDB = ''\nFETCH_TIMEOUT = 600\nFIND_TIMEOUT = 600\n"
        )
    sys.path.insert(0, storage)
    os.environ["GRAPHITE_SETTINGS_MODULE"] = "gw_bench_settings"
    os.environ["DJANGO_SETTINGS_MODULE"] = "graphite.settings"
    import django
    django.setup()
    from django.core.management import call_command
    call_command("migrate", verbosity=0, interactive=False)
    from wsgiref.simple_server import WSGIRequestHandler, make_server
    from graphite.wsgi import application

    class Quiet(WSGIRequestHandler):
        def log_message(self, *a):
            pass

    make_server("127.0.0.1", int(port), application, handler_class=Quiet).serve_forever()


if __name__ == "__main__":
    mode, root, arg = sys.argv[1:4]
    if mode == "data":
        data(root, int(arg))
    else:
        serve(root, arg)
