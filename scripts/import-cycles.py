#!/usr/bin/env python3
"""Reports file-level import cycles in the workspace's crates.

For every crate root (src/lib.rs, src/main.rs, src/bin/*.rs of each workspace member)
it walks the `mod name;` declarations to map module paths to files, then reads each
file's paths that name another file of the same crate: `use crate::...`, `use
super::...`, `use self::...`, a `use child::...` of a child module, and the same paths
written inline in code (`crate::a::f()`, `super::x`, `child::f()`). A file A depends on
file B when A names an item that B defines. Two things do not count:

- `#[cfg(test)]` modules (inline or in their own file): unit tests may reach anywhere
  in their crate;
- a `pub use` whose name the file itself never uses: a module's facade re-exporting its
  children's items is its interface, not a dependency of its code.

A name imported through a re-export is followed to the file that defines it, so
`use super::Aggregate` in a sibling of `aggregate.rs` depends on `aggregate.rs`, not
on the `mod.rs` that re-exports it.

Exit status 1 and one line per cycle (A -> B -> ... -> A) when any crate has a cycle;
0 and a summary otherwise. Usage: scripts/import-cycles.py [workspace root]
"""

import os
import re
import sys

IDENT = r"[A-Za-z_][A-Za-z0-9_]*"


def strip_code(text):
    """Removes comments, string and char literals (keeps line structure)."""
    out = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if text.startswith("//", i):
            j = text.find("\n", i)
            i = n if j < 0 else j
        elif text.startswith("/*", i):
            depth, i = 1, i + 2
            while i < n and depth:
                if text.startswith("/*", i):
                    depth, i = depth + 1, i + 2
                elif text.startswith("*/", i):
                    depth, i = depth - 1, i + 2
                else:
                    if text[i] == "\n":
                        out.append("\n")
                    i += 1
        elif c == "r" and re.match(r'r#*"', text[i:i + 10]) and (i == 0 or not (text[i - 1].isalnum() or text[i - 1] == "_")):
            m = re.match(r'r(#*)"', text[i:])
            end = '"' + m.group(1)
            j = text.find(end, i + m.end())
            j = n if j < 0 else j + len(end)
            out.append('""' + "\n" * text.count("\n", i, j))
            i = j
        elif c == '"':
            j = i + 1
            while j < n and text[j] != '"':
                j += 2 if text[j] == "\\" else 1
            out.append('""' + "\n" * text.count("\n", i, j))
            i = j + 1
        elif c == "'":
            m = re.match(r"'(\\.[^']*|[^\\'])'", text[i:])
            if m:
                out.append("' '")
                i += m.end()
            else:  # a lifetime
                out.append(c)
                i += 1
        else:
            out.append(c)
            i += 1
    return "".join(out)


def drop_test_modules(code):
    """Blanks `#[cfg(test)] mod x { ... }` and `#[cfg(test)] mod x;` items."""
    while True:
        m = re.search(r"#\[cfg\(test\)\]\s*(pub(\([^)]*\))?\s+)?mod\s+" + IDENT + r"\s*([{;])", code)
        if not m:
            return code
        if m.group(3) == ";":
            code = code[:m.start()] + code[m.end():]
            continue
        depth, j = 1, m.end()
        while j < len(code) and depth:
            depth += {"{": 1, "}": -1}.get(code[j], 0)
            j += 1
        code = code[:m.start()] + "\n" * code.count("\n", m.start(), j) + code[j:]


def expand_use_tree(tree):
    """`a::{b, c::{d@e, *}}` -> [['a','b'], ['a','c','d@e'], ['a','c','*']] (`@` marks
    an `as` alias, put there by the caller)."""
    tree = re.sub(r"\s+", "", tree)
    out = []

    def walk(prefix, s):
        depth, parts, cur = 0, [], ""
        for ch in s:
            if ch == "," and depth == 0:
                parts.append(cur)
                cur = ""
                continue
            depth += {"{": 1, "}": -1}.get(ch, 0)
            cur += ch
        if cur:
            parts.append(cur)
        for p in parts:
            brace = p.find("{")
            if brace >= 0:
                head = [x for x in p[:brace].split("::") if x]
                walk(prefix + head, p[brace + 1:p.rfind("}")])
                continue
            segs = [x for x in p.split("::") if x]
            if not segs:
                continue
            out.append(prefix + segs)

    walk([], tree)
    return out


MOD_RE = re.compile(r"(pub(\([^)]*\))?\s+)?mod\s+" + IDENT + r"\s*;")
USE_RE = re.compile(r"(^|[;{}\]\s])(pub(\([^)]*\))?\s+)?use\s+([^;]+);", re.S)


def parse_uses(code):
    """Yields (is_pub, segments, bound_name) for each use, with `as` aliases kept."""
    for m in USE_RE.finditer(code):
        is_pub = bool(m.group(2))
        body = m.group(4)
        # mark aliases before whitespace is removed
        body = re.sub(r"\s+as\s+(" + IDENT + ")", r"@\1", body)
        for segs in expand_use_tree(body):
            alias = None
            if "@" in segs[-1]:
                last, alias = segs[-1].split("@", 1)
                segs = segs[:-1] + [last]
            if segs[0] == ":":
                continue
            name = alias or (segs[-2] if segs[-1] == "self" and len(segs) > 1 else segs[-1])
            if segs[-1] == "self":
                segs = segs[:-1]
            yield is_pub, segs, name


class Crate:
    def __init__(self, name, root_file):
        self.name = name
        self.modules = {}  # tuple(module path) -> file
        self.files = {}  # file -> tuple(module path)
        self.code = {}
        self.walk((), root_file)

    def walk(self, modpath, path):
        if path in self.files or not os.path.exists(path):
            return
        self.modules[modpath] = path
        self.files[path] = modpath
        with open(path, encoding="utf-8") as f:
            code = strip_code(f.read())
        self.code[path] = code
        base = os.path.basename(path)
        if base in ("mod.rs", "lib.rs", "main.rs") or os.path.dirname(path).endswith("/bin") and modpath == ():
            here = os.path.dirname(path)
        else:
            here = os.path.splitext(path)[0]
        for m in re.finditer(r"(pub(\([^)]*\))?\s+)?mod\s+(" + IDENT + r")\s*;", drop_test_modules(code)):
            name = m.group(3)
            for cand in (os.path.join(here, name + ".rs"), os.path.join(here, name, "mod.rs")):
                if os.path.exists(cand):
                    self.walk(modpath + (name,), cand)
                    break

    def resolve_module(self, modpath, segs):
        """Longest prefix of segs (absolute, after crate/super/self) that is a file module.
        Returns (file, rest of segs) or None."""
        for k in range(len(segs), -1, -1):
            p = modpath + tuple(segs[:k])
            if p in self.modules:
                return self.modules[p], segs[k:]
        return None

    def absolute(self, file, segs):
        """Makes a path absolute (tuple of module names + rest) or returns None when the
        path leaves the crate (an extern crate, std, a macro)."""
        mod = self.files[file]
        if segs[0] == "crate":
            return (), segs[1:]
        if segs[0] in ("super", "self"):
            base = list(mod)
            i = 0
            while i < len(segs) and segs[i] in ("super", "self"):
                if segs[i] == "super":
                    if not base:
                        return None
                    base.pop()
                i += 1
            return tuple(base), segs[i:]
        if mod + (segs[0],) in self.modules:  # a child module
            return mod, segs
        return None


def analyse(crate):
    # imports per file: name -> absolute path (modbase, segs)
    imports, edges = {}, {f: set() for f in crate.files}
    bodies = {}
    for f, raw in crate.code.items():
        code = drop_test_modules(raw)
        bodies[f] = code
        imports[f] = []
        for is_pub, segs, name in parse_uses(code):
            a = crate.absolute(f, segs)
            if a is not None:
                imports[f].append((is_pub, a, name))

    def defining_file(base, segs, seen=()):
        r = crate.resolve_module(base, segs)
        if r is None:
            return None
        target, rest = r
        if len(rest) == 1 and (target, rest[0]) not in seen:
            # follow a re-export or import of that name in the target file
            for _, (b2, s2), name in imports.get(target, []):
                if name == rest[0] and s2 and s2[-1] != "*":
                    d = defining_file(b2, s2, seen + ((target, rest[0]),))
                    if d:
                        return d
        return target

    for f, code in bodies.items():
        body_wo_uses = MOD_RE.sub(" ", USE_RE.sub(" ", code))
        for is_pub, (base, segs), name in imports[f]:
            if is_pub and name != "*" and not re.search(r"\b" + re.escape(name) + r"\b", body_wo_uses):
                continue  # a facade re-export only
            t = defining_file(base, segs)
            if t and t != f:
                edges[f].add(t)
        # inline paths: crate::a::b, super::x, self::x, child::x (a child module)
        for m in re.finditer(r"(?<![A-Za-z0-9_:])(" + IDENT + r"(?:::" + IDENT + ")+)", body_wo_uses):
            segs = m.group(1).split("::")
            a = crate.absolute(f, segs)
            if a is None:
                continue
            t = defining_file(*a)
            if t and t != f:
                edges[f].add(t)
    return edges


def cycles(edges):
    """Strongly connected components with more than one file (Tarjan), each with one
    concrete loop through it."""
    index, low, stack, on, comps = {}, {}, [], set(), []
    counter = [0]
    sys.setrecursionlimit(10000)

    def strong(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(edges[v]):
            if w not in index:
                strong(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                comps.append(sorted(comp))

    for v in sorted(edges):
        if v not in index:
            strong(v)
    loops = []
    for comp in comps:
        inside = set(comp)
        start = comp[0]
        # shortest loop from start back to start inside the component (BFS)
        prev, frontier, found = {start: None}, [start], None
        while frontier and not found:
            nxt = []
            for v in frontier:
                for w in sorted(edges[v] & inside):
                    if w == start:
                        found = v
                        break
                    if w not in prev:
                        prev[w] = v
                        nxt.append(w)
                if found:
                    break
            frontier = nxt
        path, v = [start], found
        while v is not None and v != start:
            path.insert(1, v)
            v = prev[v]
        loops.append((comp, path + [start]))
    return loops


def members(root):
    with open(os.path.join(root, "Cargo.toml"), encoding="utf-8") as f:
        text = f.read()
    m = re.search(r"members\s*=\s*\[([^\]]*)\]", text)
    dirs = ["."] + (re.findall(r'"([^"]+)"', m.group(1)) if m else [])
    for d in dirs:
        src = os.path.join(root, d, "src")
        roots = [os.path.join(src, x) for x in ("lib.rs", "main.rs")]
        bindir = os.path.join(src, "bin")
        if os.path.isdir(bindir):
            roots += [os.path.join(bindir, x) for x in sorted(os.listdir(bindir)) if x.endswith(".rs")]
            roots += [os.path.join(bindir, x, "main.rs") for x in sorted(os.listdir(bindir))]
        for r in roots:
            if os.path.exists(r):
                yield os.path.relpath(r, root), r


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
    root = os.path.normpath(root)
    bad, files, deps = 0, 0, 0
    for name, path in members(root):
        crate = Crate(name, path)
        edges = analyse(crate)
        files += len(edges)
        deps += sum(len(v) for v in edges.values())
        for comp, loop in cycles(edges):
            bad += 1
            rel = [os.path.relpath(p, root) for p in loop]
            print(f"cycle in {name}: " + " -> ".join(rel))
            if len(comp) > len(loop) - 1:
                others = sorted(os.path.relpath(p, root) for p in set(comp) - set(loop))
                print(f"  tied into the same loop: {', '.join(others)}")
    if bad:
        print(f"{bad} import cycle(s); break each by moving the shared item into a file both can use")
        return 1
    print(f"no import cycles ({files} files, {deps} file dependencies)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
