"""Fills a treestat server with LEAVES leaves through POST /push (1,000 per group).

usage: python3 fill.py http://127.0.0.1:18080 1000000
Leaves are fill,g<i>,k<j> = j; pushes of 100 groups (100,000 leaves) each.
"""
import http.client
import json
import sys
import time
import urllib.parse


def main() -> None:
    url = urllib.parse.urlparse(sys.argv[1])
    leaves = int(sys.argv[2]) if len(sys.argv) > 2 else 1_000_000
    groups = leaves // 1000
    conn = http.client.HTTPConnection(url.hostname, url.port)
    t0 = time.time()
    for start in range(0, groups, 100):
        doc = {"fill": {f"g{g}": {f"k{k}": k for k in range(1000)} for g in range(start, min(start + 100, groups))}}
        body = json.dumps(doc)
        conn.request("POST", "/push", body, {"Content-Type": "application/json"})
        res = conn.getresponse()
        answer = res.read()
        if res.status != 200:
            sys.exit(f"push failed: {res.status} {answer[:200]!r}")
    print(f"filled {groups * 1000} leaves in {time.time() - t0:.1f} s")


if __name__ == "__main__":
    main()
