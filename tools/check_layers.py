#!/usr/bin/env python3
"""The layering check (docs/architecture.md "Layers"): every #include "..." in the library
stays inside its own layer or reaches a layer it depends on, and the declared dependencies
have no cycle.

The layers and their dependencies are read from cmake/layers.cmake (the lmd_layer() calls
that also build them), so the check and the build cannot disagree. A file belongs to the
layer whose folder holds it directly. Files outside every layer (src/cli, python/bindings,
tests, tools) are the top: they may include anything. An include that names no file of the
tree (a system or third-party header) is not checked.

    python3 tools/check_layers.py            # exit 0, or 1 with one line per violation
    python3 tools/check_layers.py --graph    # also print each layer's direct dependencies
"""
import argparse
import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SOURCE_EXT = (".h", ".cc", ".cu", ".cuh")
INCLUDE_RE = re.compile(r'^\s*#\s*include\s+"([^"]+)"')


def read_layers(path):
    """{layer: {"dirs": [...], "deps": [...]}} from the lmd_layer() calls of cmake/layers.cmake."""
    text = open(path).read()
    text = "\n".join(line.split("#", 1)[0] for line in text.splitlines())  # drop comments
    layers = {}
    for m in re.finditer(r"lmd_layer\(([^)]*)\)", text):
        words = m.group(1).split()
        if not words or words[0] == "name":  # the function definition itself
            continue
        name, section, entry = words[0], None, {"dirs": [], "deps": []}
        for w in words[1:]:
            if w in ("DIRS", "DEPS", "EXTRA"):
                section = w
            elif w in ("HEADER_ONLY", "DECLARE_ONLY"):
                section = None
            elif section == "DIRS":
                entry["dirs"].append(w)
            elif section == "DEPS":
                entry["deps"].append(w)
        layers[name] = entry
    return layers


def find_cycle(layers):
    """A list of layers forming a cycle, or None."""
    state = {}

    def visit(n, stack):
        state[n] = "open"
        stack.append(n)
        for d in layers.get(n, {}).get("deps", []):
            if state.get(d) == "open":
                return stack[stack.index(d):] + [d]
            if d not in state:
                c = visit(d, stack)
                if c:
                    return c
        stack.pop()
        state[n] = "done"
        return None

    for n in sorted(layers):
        if n not in state:
            c = visit(n, [])
            if c:
                return c
    return None


def closure(layers):
    """{layer: set of layers it may include: itself and everything it depends on, transitively}."""
    out = {}

    def reach(n):
        if n in out:
            return out[n]
        out[n] = {n}
        for d in layers[n]["deps"]:
            out[n] |= reach(d)
        return out[n]

    for n in layers:
        reach(n)
    return out


def resolve(include, including_file):
    """The tree-relative path of an #include "..." target, or None (system / third party)."""
    here = os.path.dirname(including_file)
    for base in (here, "src", "include", ""):
        cand = os.path.normpath(os.path.join(base, include))
        if os.path.isfile(os.path.join(ROOT, cand)):
            return cand
    return None


def main():
    global ROOT
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--graph", action="store_true", help="print each layer's direct dependencies")
    ap.add_argument("--root", default=ROOT, help="tree to check (default: this checkout)")
    args = ap.parse_args()
    ROOT = os.path.abspath(args.root)

    layers = read_layers(os.path.join(ROOT, "cmake", "layers.cmake"))
    problems = []
    for name, entry in layers.items():
        for d in entry["deps"]:
            if d not in layers:
                problems.append(f"cmake/layers.cmake: layer {name} depends on {d}, which is not a layer")
        for d in entry["dirs"]:
            if not os.path.isdir(os.path.join(ROOT, d)):
                problems.append(f"cmake/layers.cmake: layer {name}'s folder {d} does not exist")
    if problems:
        print("\n".join(problems))
        return 1
    cycle = find_cycle(layers)
    if cycle:
        print("cmake/layers.cmake: the declared dependencies have a cycle: " + " -> ".join(cycle))
        return 1
    allowed = closure(layers)
    owner = {os.path.normpath(d): n for n, e in layers.items() for d in e["dirs"]}

    checked = 0
    for n, entry in sorted(layers.items()):
        for d in entry["dirs"]:
            folder = os.path.join(ROOT, d)
            for f in sorted(os.listdir(folder)):
                rel = os.path.join(d, f)
                if not f.endswith(SOURCE_EXT) or not os.path.isfile(os.path.join(ROOT, rel)):
                    continue
                for lineno, line in enumerate(open(os.path.join(ROOT, rel), errors="replace"), 1):
                    m = INCLUDE_RE.match(line)
                    if not m:
                        continue
                    target = resolve(m.group(1), rel)
                    if target is None:
                        continue
                    checked += 1
                    t_layer = owner.get(os.path.dirname(target))
                    if t_layer is None:
                        problems.append(f"{rel}:{lineno}: includes {m.group(1)}, which belongs to no layer "
                                        f"(layer {n} may include only {', '.join(sorted(allowed[n]))})")
                    elif t_layer not in allowed[n]:
                        problems.append(f"{rel}:{lineno}: layer {n} includes {m.group(1)} of layer {t_layer}, "
                                        f"which {n} does not depend on (cmake/layers.cmake: {n} -> "
                                        f"{' '.join(layers[n]['deps']) or 'nothing'})")
    if args.graph:
        for n in sorted(layers):
            print(f"{n}: {' '.join(layers[n]['deps'])}")
    if problems:
        print("\n".join(problems))
        print(f"layering: {len(problems)} violation(s) in {checked} includes checked")
        return 1
    print(f"layering: ok ({len(layers)} layers, {checked} includes checked, no cycle)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
