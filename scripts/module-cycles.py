#!/usr/bin/env python3
"""Import cycles between the modules of a crate (issue 13).

Reads every .rs file under SRC (default crates/ingot-bench/src), maps it to its module path
(`src/a/b.rs` and `src/a/b/mod.rs` are `a::b`), and collects its references to other modules of
the crate: `use crate::x::...`, `use crate::{x, y::z}`, `crate::x::...` in code and `super::`
paths. Comments (including doc links) and `#[cfg(test)]` modules are ignored: tests may use
anything.

Two reports, both must be empty:
- cycles between top-level modules (`a` uses `b` and `b` uses `a`, directly or via a chain);
- cycles between the modules inside one top-level layer (`spec::workload` <-> `spec::sets`).
It also checks the layer order when the crate has the layer directories: a module of a lower
layer never uses a higher one.

Usage: scripts/module-cycles.py [SRC]; exit status 1 when anything is reported.
"""
import os
import re
import sys

SRC = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
    os.path.dirname(__file__), "..", "crates", "ingot-bench", "src")

# Lowest first. A module may use its own layer and the layers before it.
LAYERS = ["util", "spec", "measure", "results", "score", "analyze", "report", "pipeline"]


def module_of(path):
    rel = os.path.relpath(path, SRC)[:-3].split(os.sep)
    if rel[-1] == "mod":
        rel = rel[:-1]
    if rel == ["lib"]:
        return []
    return rel


def strip(text):
    # Block comments, line comments (//, ///, //!), strings; then #[cfg(test)] mod bodies.
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    text = re.sub(r'"(\\.|[^"\\])*"', '""', text)
    text = re.sub(r"//[^\n]*", "", text)
    out, i = [], 0
    for m in re.finditer(r"#\[cfg\(test\)\]\s*mod\s+\w+\s*\{", text):
        if m.start() < i:
            continue
        out.append(text[i:m.start()])
        depth, j = 1, m.end()
        while j < len(text) and depth:
            depth += {"{": 1, "}": -1}.get(text[j], 0)
            j += 1
        i = j
    out.append(text[i:])
    return "".join(out)


def use_trees(text):
    """Expands `use crate::{a, b::{c, d}}` into paths ['a', 'b::c', 'b::d']."""
    paths = []
    for m in re.finditer(r"\buse\s+((?:crate|super|self)(?:::\w+)*(?:::\{)?)", text):
        start = m.start(1)
        depth, j = 0, start
        while j < len(text) and text[j] != ";":
            j += 1
        tree = re.sub(r"\s+", "", text[start:j])
        paths.extend(expand(tree))
    return paths


def expand(tree):
    if "{" not in tree:
        return [tree]
    k = tree.index("{")
    prefix, body = tree[:k], tree[k + 1:-1]
    parts, depth, cur = [], 0, ""
    for ch in body:
        if ch == "," and depth == 0:
            parts.append(cur)
            cur = ""
            continue
        depth += {"{": 1, "}": -1}.get(ch, 0)
        cur += ch
    parts.append(cur)
    res = []
    for p in parts:
        if p:
            res.extend(prefix + q for q in expand(p))
    return res


def resolve(mod, path, modules):
    """The crate module a path refers to (longest known prefix), or None."""
    segs = path.split("::")
    if segs[0] == "crate":
        abs_ = segs[1:]
    elif segs[0] == "self":
        abs_ = mod + segs[1:]
    elif segs[0] == "super":
        base = list(mod)
        while segs and segs[0] == "super":
            base = base[:-1]
            segs = segs[1:]
        abs_ = base + segs
    else:
        return None
    abs_ = [s for s in abs_ if s not in ("*", "self")]
    for n in range(len(abs_), 0, -1):
        if tuple(abs_[:n]) in modules:
            return tuple(abs_[:n])
    return None


def cycles(graph):
    """Strongly connected components with more than one node (Tarjan)."""
    index, low, stack, on, res, n = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = n[0]
        n[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
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
                res.append(sorted(comp))

    sys.setrecursionlimit(10000)
    for v in sorted(graph):
        if v not in index:
            visit(v)
    return res


def main():
    files = {}
    for root, _, names in os.walk(SRC):
        for name in names:
            if name.endswith(".rs"):
                p = os.path.join(root, name)
                files[tuple(module_of(p))] = p
    modules = set(files)
    edges = {}  # module -> set of modules it uses
    for mod, p in files.items():
        text = strip(open(p, encoding="utf-8").read())
        paths = use_trees(text)
        paths += re.findall(r"\b(crate(?:::\w+)+)", text)
        paths += re.findall(r"\b((?:super::)+\w+(?:::\w+)*)", text)
        for path in paths:
            tgt = resolve(list(mod), path, modules)
            if tgt is not None and tgt != mod and tgt != ():
                # A parent module re-exporting its children is not a use of them.
                if tgt[:len(mod)] == mod:
                    continue
                edges.setdefault(mod, set()).add(tgt)

    bad = 0
    top = {}
    for a, bs in edges.items():
        for b in bs:
            if a and b and a[0] != b[0]:
                top.setdefault(a[0], set()).add(b[0])
    for c in cycles(top):
        bad += 1
        print("cycle between top-level modules:", " <-> ".join(c))

    layers = {m[0] for m in modules if m}
    for layer in sorted(layers):
        inner = {}
        for a, bs in edges.items():
            if a and a[0] == layer:
                for b in bs:
                    if b and b[0] == layer and len(a) > 1 and len(b) > 1:
                        inner.setdefault(a[1], set()).add(b[1])
        for c in cycles(inner):
            bad += 1
            print(f"cycle inside {layer}:", " <-> ".join(c))

    if set(LAYERS) & layers:
        rank = {l: i for i, l in enumerate(LAYERS)}
        for a, bs in sorted(edges.items()):
            for b in sorted(bs):
                if a and b and a[0] in rank and b[0] in rank and rank[b[0]] > rank[a[0]]:
                    bad += 1
                    print("upward use:", "::".join(a), "->", "::".join(b))

    if bad == 0:
        print(f"no cycles ({len(modules)} modules)")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
