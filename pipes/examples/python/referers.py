"""An example treestat Python pipe: requests per referring host.

treestat calls init(config) once, process(fields) for every parsed line (fields is a
dict of the log format's fields that have a value: "http_referer", "uri", "status",
...), result() at every interval close, and cleanup() at the end. result() returns a
tree of numbers (nested dicts) or a list of (name, tree) pairs; "default_action"
sets the action of everything under it.

Config: {"prefix": "referer"} (the default).
"""

from urllib.parse import urlsplit

prefix = "referer"
counts = {}


def init(config):
    global prefix
    prefix = config.get("prefix", prefix)


def process(fields):
    ref = fields.get("http_referer")
    host = urlsplit(ref).hostname if ref else None
    key = host or "direct"
    counts[key] = counts.get(key, 0) + 1


def result():
    global counts
    tree = {"default_action": "add", prefix: counts}
    counts = {}
    return tree


def cleanup():
    counts.clear()
