#!/usr/bin/env python3
"""Which module of a crate uses which, read from its `use crate::...`, `crate::...` and
`super::...` paths (comments and `mod tests` left out).

    bin/module-graph.py [--depth N] [--check] [SRC_DIR]

prints each module's imports and any import circles, at N levels of module path (default
2: `lifecycle::end`, `runner::log`, `api`). With --check it prints only what breaks the
layering and exits 1 if anything does: a circle at any depth up to N, or a module under
`lifecycle/` or `runner/` that imports from above it."""

import argparse
import collections
import os
import re
import sys

# What each part of the backend must never import: the layers above it.
ABOVE = {
    "lifecycle": ["api", "serve", "lambda_edge", "fargate_edge", "housekeeping",
                  "schedules", "auth", "runner", "dispatch::local", "dispatch::fair",
                  "dispatch::fargate", "dispatch::lambda"],
    "runner": ["api", "serve", "lambda_edge", "fargate_edge", "housekeeping",
               "schedules", "auth", "dispatch::local", "dispatch::fair",
               "dispatch::fargate", "dispatch::lambda"],
    "log_sink": ["api", "serve", "lifecycle", "runner", "dispatch", "housekeeping"],
    "records": ["api", "serve", "lifecycle", "runner", "dispatch", "housekeeping", "notify"],
}


def modules(root):
    found = {}
    for d, _, files in os.walk(root):
        for f in files:
            if f.endswith(".rs"):
                path = os.path.join(d, f)
                name = os.path.relpath(path, root)[:-3].split(os.sep)
                if name[-1] in ("mod", "lib", "main"):
                    name = name[:-1]
                with open(path, encoding="utf-8") as src:
                    found[tuple(name)] = src.read()
    return found


def imports(mods, depth):
    known = set(mods)

    def resolve(parts):
        best = ()
        for i in range(1, len(parts) + 1):
            if tuple(parts[:i]) in known:
                best = tuple(parts[:i])
        return best[:depth]

    edges = collections.defaultdict(set)
    for name, src in mods.items():
        src = re.sub(r"//[^\n]*", "", src)
        src = re.sub(r"#\[cfg\(test\)\]\s*mod tests\s*\{.*", "", src, flags=re.S)
        me = name[:depth]
        paths = []
        for use in re.finditer(r"\buse\s+(crate|super)::([^;]+);", src):
            base = () if use.group(1) == "crate" else name[:-1]
            body = use.group(2)
            head = re.match(r"[\w:]*", body).group(0).rstrip(":")
            if "{" in body:
                inner = body[body.index("{") + 1:body.rindex("}")]
                for part in re.split(r",(?![^{]*\})", inner):
                    part = re.match(r"[\w:]*", part.strip()).group(0).rstrip(":")
                    if part and part != "self":
                        paths.append(base + tuple(f"{head}::{part}".split("::")))
                    elif part == "self":
                        paths.append(base + tuple(head.split("::")))
            else:
                paths.append(base + tuple(head.split("::")))
        for use in re.finditer(r"(?<![\w:])(crate|super)::([\w:]+)", src):
            base = () if use.group(1) == "crate" else name[:-1]
            paths.append(base + tuple(use.group(2).split("::")))
        for path in paths:
            target = resolve(list(path))
            if target and target != me and target[:len(me)] != me and me[:len(target)] != target:
                edges[me].add(target)
    return edges


def circles(edges):
    index, low, stack, on, found = {}, {}, [], set(), []
    counter = [0]
    sys.setrecursionlimit(10000)

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(edges.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            part = []
            while True:
                w = stack.pop()
                on.discard(w)
                part.append(w)
                if w == v:
                    break
            if len(part) > 1:
                found.append(sorted(part))

    nodes = set(edges) | {t for ts in edges.values() for t in ts}
    for v in sorted(nodes):
        if v not in index:
            visit(v)
    return found


def name(parts):
    return "::".join(parts)


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("src", nargs="?", default=os.path.join(here, "../crates/backend/src"))
    parser.add_argument("--depth", type=int, default=2)
    parser.add_argument("--check", action="store_true")
    args = parser.parse_args()
    mods = modules(args.src)
    edges = imports(mods, args.depth)
    broken = []
    for depth in range(2, args.depth + 1):
        for part in circles(imports(mods, depth)):
            broken.append("import circle: " + " <-> ".join(map(name, part)))
    for low, above in ABOVE.items():
        for source, targets in sorted(edges.items()):
            if name(source).split("::")[0] != low:
                continue
            for target in sorted(targets):
                if any(name(target) == a or name(target).startswith(a + "::") for a in above):
                    broken.append(f"{name(source)} imports {name(target)}, which is above it")
    if not args.check:
        for source in sorted(edges):
            print(f"{name(source)} -> {', '.join(sorted(map(name, edges[source])))}")
    for line in broken:
        print(line)
    if args.check and broken:
        sys.exit(1)
    if not broken:
        print(f"{len(edges)} modules import others; no circles at depth {args.depth}, "
              "and nothing under lifecycle/, runner/, log_sink/ or records imports from above")


if __name__ == "__main__":
    main()
