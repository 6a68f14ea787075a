"""The source checks fail when they should: tools/check_layers.py on an #include that crosses a
layer the wrong way or on a cycle, tools/check_doc_paths.py on a path that does not exist.
Each runs on a tree written into a temporary folder (`--root`), once clean and once broken.
"""

import shutil
import subprocess
import sys
import textwrap


def run_check(repo_root, tool, root):
    proc = subprocess.run([sys.executable, str(repo_root / "tools" / tool), "--root", str(root)],
                          capture_output=True, text=True)
    return proc.returncode, proc.stdout + proc.stderr


def write(root, rel, text):
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))


# ---- check_layers.py ----

LAYERS = """\
lmd_layer(core DIRS src/core)
lmd_layer(engine DIRS src/engine DEPS core)
"""


def small_layered_tree(root, layers=LAYERS):
    write(root, "cmake/layers.cmake", layers)
    write(root, "src/core/shape.h", '#pragma once\n#include <vector>\n')
    write(root, "src/engine/step.h", '#pragma once\n#include "core/shape.h"\n')


def test_layers_pass_on_includes_that_follow_the_declared_dependencies(repo_root, tmp_path):
    small_layered_tree(tmp_path)
    code, out = run_check(repo_root, "check_layers.py", tmp_path)
    assert code == 0, out
    assert "layering: ok (2 layers, 1 includes checked, no cycle)" in out


def test_layers_fail_on_an_include_against_the_dependencies(repo_root, tmp_path):
    small_layered_tree(tmp_path)
    write(tmp_path, "src/core/plan.h", '#pragma once\n\n#include "engine/step.h"\n')
    code, out = run_check(repo_root, "check_layers.py", tmp_path)
    assert code == 1
    assert "src/core/plan.h:3: layer core includes engine/step.h of layer engine" in out


def test_layers_fail_on_a_declared_cycle(repo_root, tmp_path):
    small_layered_tree(tmp_path, LAYERS.replace("lmd_layer(core DIRS src/core)",
                                                "lmd_layer(core DIRS src/core DEPS engine)"))
    code, out = run_check(repo_root, "check_layers.py", tmp_path)
    assert code == 1
    assert "the declared dependencies have a cycle" in out


def test_layers_fail_on_a_wrong_include_in_a_copy_of_this_tree(repo_root, tmp_path):
    # The real layers: the leaf layer (src/core) must not reach up into the engine.
    for folder in ("cmake", "src", "kernels", "include"):
        shutil.copytree(repo_root / folder, tmp_path / folder)
    code, out = run_check(repo_root, "check_layers.py", tmp_path)
    assert code == 0, out
    dtype_h = tmp_path / "src" / "core" / "dtype.h"
    lines = dtype_h.read_text().splitlines()
    lines.append('#include "engine/engine_impl.h"')
    dtype_h.write_text("\n".join(lines) + "\n")
    code, out = run_check(repo_root, "check_layers.py", tmp_path)
    assert code == 1
    assert f"src/core/dtype.h:{len(lines)}: layer core includes engine/engine_impl.h of layer engine" in out


# ---- check_doc_paths.py ----

def small_documented_tree(root):
    write(root, "src/core/shape.h", """\
        // Shapes of a step (docs/engine.md, core/shape.h, tools/gen.py; tests in tests/unit/core/...).
        // Not paths: https://example.com/src/x.h, build/bin/lmdeploy, workspace/triton_models,
        // ~/.cache/lmdeploy/x.gguf, src/<name>.h, q/k/v, int8/int4, llama.cpp's src/llama-vocab.cpp.
        #pragma once
        const char* kText = "src/not_a_comment.h";  // a string literal is not a comment
        """)
    write(root, "src/core/shape.cc", '#include "core/shape.h"\n')
    write(root, "tests/unit/core/shape_test.cc", "// Tests of src/core/shape.{h,cc}.\n")
    write(root, "tools/gen.py", '"""Writes tests/unit/core/*_test.cc."""\n# reads src/core/shape.h\n')
    write(root, "docs/engine.md", """\
        # Engine
        See [the gen tool](../tools/gen.py), `src/core/*.h`, `shape.cc` and `cmake/` when it exists.
        """)
    write(root, "README.md", "Read [the engine](docs/engine.md).\n")


def test_doc_paths_pass_when_every_named_path_exists(repo_root, tmp_path):
    small_documented_tree(tmp_path)
    code, out = run_check(repo_root, "check_doc_paths.py", tmp_path)
    assert code == 1  # cmake/ does not exist yet
    assert out.splitlines()[0] == "docs/engine.md:2: names cmake/, which does not exist"
    (tmp_path / "cmake").mkdir()
    code, out = run_check(repo_root, "check_doc_paths.py", tmp_path)
    assert code == 0, out
    # 4 in the header's comment, 1 in the test's, 2 in the tool's, 4 in the doc, 1 in README
    assert "doc paths: ok (12 named paths exist" in out


def test_doc_paths_fail_naming_each_dangling_path(repo_root, tmp_path):
    small_documented_tree(tmp_path)
    (tmp_path / "cmake").mkdir()
    write(tmp_path, "src/core/plan.h", "#pragma once\n// Validated by core/validate.cc.\n")
    write(tmp_path, "docs/engine.md", "# Engine\n\nSee [the scheduler](scheduler.md) and `src/core/*.cu`.\n")
    write(tmp_path, "tools/gen.py", "# writes tests/data/golden.txt (see pack_weights.cc)\n")
    code, out = run_check(repo_root, "check_doc_paths.py", tmp_path)
    assert code == 1
    missing = [line for line in out.splitlines() if "which does not exist" in line]
    assert sorted(missing) == [
        "docs/engine.md:3: names scheduler.md, which does not exist",
        "docs/engine.md:3: names src/core/*.cu, which does not exist",
        "src/core/plan.h:2: names core/validate.cc, which does not exist",
        "tools/gen.py:1: names pack_weights.cc, which does not exist",
        "tools/gen.py:1: names tests/data/golden.txt, which does not exist",
    ]
