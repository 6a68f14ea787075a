#!/usr/bin/env bash
# Regenerates docs/images/layers.svg, the picture of the library's layers in
# docs/architecture.md, from CMake's own target graph (never drawn by hand):
#   1. configure into build/layers-graph with `cmake --graphviz` (the CUDA backend's layer,
#      lmd_backend_cuda, is in the graph when nvcc is found, as in a real build);
#   2. keep the lmd_* layer targets and the links between them;
#   3. fail if that graph has a cycle (Graphviz `acyclic -n`);
#   4. drop the links implied by others (`tred`: A -> C goes when A -> B -> C is drawn) and
#      render with `dot`.
# Needs Graphviz (apt-get install graphviz). Configures only: nothing is compiled.
#
#   bash tools/draw_layers.sh          # writes docs/images/layers.svg
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
OUT="$ROOT/build/layers-graph"
for tool in dot tred acyclic; do
  command -v "$tool" >/dev/null || { echo "draw_layers.sh: needs Graphviz ($tool): apt-get install graphviz" >&2; exit 1; }
done

CUDA=OFF
if command -v nvcc >/dev/null 2>&1 || [ -x /usr/local/cuda/bin/nvcc ]; then CUDA=ON; fi
mkdir -p "$OUT/graph"
cmake -S "$ROOT" -B "$OUT" -DLMDEPLOY_BUILD_TESTS=OFF -DLMDEPLOY_PYTHON=OFF -DLMDEPLOY_CUDA=$CUDA \
  --graphviz="$OUT/graph/lmd.dot" >"$OUT/configure.log"

# CMake writes `"nodeN" [ label = "lmd_x", shape = S ];` and `"nodeA" -> "nodeB" ...`.
python3 - "$OUT/graph/lmd.dot" "$OUT/layers.dot" <<'PY'
import re, sys
text = open(sys.argv[1]).read()
nodes = {n: (label, shape) for n, label, shape in
         re.findall(r'"(node\d+)" \[ label = "([^"]+)", shape = (\w+) \]', text)}
layers = {n: v for n, v in nodes.items() if v[0].startswith("lmd_")}
edges = sorted({(layers[a][0], layers[b][0]) for a, b in re.findall(r'"(node\d+)" -> "(node\d+)"', text)
                if a in layers and b in layers and a != b})
with open(sys.argv[2], "w") as out:
    out.write('digraph layers {\n  rankdir = BT;\n  node [ fontname = "Helvetica", fontsize = 11, shape = box ];\n')
    for label, shape in sorted(layers.values()):
        style = ', style = dashed' if shape == "pentagon" else ''  # INTERFACE (header-only)
        out.write(f'  "{label}" [ label = "{label[4:]}"{style} ];\n')
    for a, b in edges:
        out.write(f'  "{a}" -> "{b}";\n')
    out.write('}\n')
print(f"{len(layers)} layers, {len(edges)} links", file=sys.stderr)
PY

if ! acyclic -n "$OUT/layers.dot"; then
  echo "draw_layers.sh: the layer targets' link graph has a cycle ($OUT/layers.dot)" >&2
  exit 1
fi
echo "no cycle among the lmd_* targets" >&2
tred "$OUT/layers.dot" | dot -Tsvg -o "$ROOT/docs/images/layers.svg"
echo "wrote docs/images/layers.svg" >&2
