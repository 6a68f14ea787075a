#!/usr/bin/env python3
"""The doc-path check: every repository path that a doc or a comment names exists.

Scanned: README.md and docs/*.md (all of their text: prose, code blocks, link targets), and
the comments of the source under src/, kernels/, include/, tests/, tools/, python/, cmake/
and of every CMakeLists.txt (C++/CUDA: // and /* */ comments, string literals skipped;
Python: # comments and docstrings; shell / CMake: # comments).

What counts as a path (a word made of letters, digits and _ . - * { } , /):
  * rooted: its first folder is one of src/ kernels/ include/ tests/ tools/ docs/ python/
    cmake/ -- checked from the repository root;
  * src-relative: `folder/file` whose first folder is a folder of src/ (`core/step_plan.h`,
    `model/llama`) -- checked under src/, kernels/, include/ or the naming file's own folder
    (the first that has it);
  * a markdown link target `[text](x)` -- checked relative to the doc's folder;
  * a bare file name ending in .cc .cu .py .sh .md or .cmake (`cpu_weight.cc`, `engine.md`):
    some file of the repository must have that name. Bare headers (.h) are not checked:
    they are mostly the toolkit's or the system's (`nccl.h`, `cuda_fp16.h`).
Existence: a file or a folder; a word without an extension may name a stem (`model/llama`
names src/model/llama.{h,cc}); a glob (`src/cli/cmd_*.cc`, `tests/unit/**/*_test.cc`,
`weights.*`) must match at least one file; `{a,b}` is expanded and every alternative must
exist; a trailing `...` (`tests/unit/kv/...`) names the folder before it; a `:line` suffix
and a `#anchor` are dropped.
Not checked:
  * URLs (anything with ://), absolute paths (/usr/..., /proc/...), home paths
    (~/.cache/...), paths starting with ../, and C++ names (a word with ::);
  * outputs and examples: a first folder build/, build-*/, out/ or workspace/ (the example
    layout of a converted model, docs/workspace.md);
  * placeholders: a word holding < > $ % or @ (`<name>`, `${ROOT}`);
  * the root files README.md, CMakeLists.txt, pyproject.toml, LICENSE named bare;
  * other projects' trees: a word right after the name of one (llama.cpp, lmdeploy's,
    TurboMind, upstream, vLLM, ggml, gguf-py, mlc-llm, HF, transformers, llama2.c, each
    optionally with 's), e.g. llama.cpp's `src/llama-vocab.cpp` or gguf-py's `quants.py`.

    python3 tools/check_doc_paths.py            # exit 0, or 1 with one line per missing path
    python3 tools/check_doc_paths.py --root DIR # check another tree (the checker's own test)
"""
import argparse
import ast
import fnmatch
import glob
import io
import os
import re
import sys
import tokenize

ROOTED = ("src", "kernels", "include", "tests", "tools", "docs", "python", "cmake")
ROOT_FILES = ("README.md", "CMakeLists.txt", "pyproject.toml", "LICENSE")
SKIP_FIRST = ("build", "workspace", "out")
BARE_EXT = (".cc", ".cu", ".py", ".sh", ".md", ".cmake")
OTHER_PROJECT = re.compile(
    r"(llama\.cpp|lmdeploy's|turbomind|upstream|vllm|ggml|gguf-py|mlc-llm|\bhf\b|transformers|llama2\.c)"
    r"('s)?[^A-Za-z0-9]{0,3}$", re.IGNORECASE)
WORD = re.compile(r"[A-Za-z0-9_.\-*{},/~<>$%@:]+")
LINK = re.compile(r"\]\(([^)\s#]+)")


# ---- comments of each kind of source file: [(line number, text)] ----

def c_comments(text):
    """// and /* */ comments of C++ / CUDA source, skipping string and char literals."""
    out, i, n, line = [], 0, len(text), 1
    while i < n:
        c = text[i]
        if c == "\n":
            line += 1
            i += 1
        elif text.startswith("//", i):
            j = text.find("\n", i)
            j = n if j < 0 else j
            out.append((line, text[i + 2:j]))
            i = j
        elif text.startswith("/*", i):
            j = text.find("*/", i + 2)
            j = n if j < 0 else j
            for k, part in enumerate(text[i + 2:j].split("\n")):
                out.append((line + k, part))
            line += text.count("\n", i, j)
            i = j + 2
        elif c == "R" and text.startswith('R"', i) and (i == 0 or not (text[i - 1].isalnum() or text[i - 1] == "_")):
            m = re.match(r'R"([^(\s]*)\(', text[i:])
            if not m:
                i += 1
                continue
            end = text.find(")" + m.group(1) + '"', i)
            end = n if end < 0 else end
            line += text.count("\n", i, end)
            i = end + len(m.group(1)) + 2
        elif c in "\"'":
            j = i + 1
            while j < n and text[j] != c and text[j] != "\n":
                j += 2 if text[j] == "\\" else 1
            i = j + 1
        else:
            i += 1
    return out


def hash_comments(text):
    """# comments of shell and CMake (a # that starts a word; not #! or ${#x})."""
    out = []
    for lineno, line in enumerate(text.splitlines(), 1):
        m = re.search(r"(^|\s)#(?!!)", line)
        if m:
            out.append((lineno, line[m.end():]))
    return out


def python_comments(text):
    """# comments and docstrings of Python source."""
    out = []
    try:
        for tok in tokenize.generate_tokens(io.StringIO(text).readline):
            if tok.type == tokenize.COMMENT:
                out.append((tok.start[0], tok.string))
        tree = ast.parse(text)
    except (SyntaxError, tokenize.TokenError):
        return hash_comments(text)
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(getattr(body[0], "value", None), ast.Constant) \
                    and isinstance(body[0].value.value, str):
                for k, part in enumerate(body[0].value.value.split("\n")):
                    out.append((body[0].lineno + k, part))
    return out


def whole_text(text):
    return list(enumerate(text.splitlines(), 1))


def sources(root):
    """[(tree-relative path, [(line, text)])] of everything the check reads."""
    out = []
    docs = ["README.md"] + sorted(os.path.relpath(p, root) for p in glob.glob(os.path.join(root, "docs", "*.md")))
    for rel in docs:
        if os.path.isfile(os.path.join(root, rel)):
            out.append((rel, whole_text(read(root, rel)), True))
    rels = ["CMakeLists.txt"]
    for top in ROOTED:
        if top == "docs":
            continue
        for dirpath, dirnames, filenames in os.walk(os.path.join(root, top)):
            dirnames[:] = sorted(d for d in dirnames if d not in ("data", "__pycache__"))
            rels += [os.path.relpath(os.path.join(dirpath, f), root) for f in sorted(filenames)]
    for rel in rels:
        if not os.path.isfile(os.path.join(root, rel)):
            continue
        name = os.path.basename(rel)
        if name.endswith((".h", ".cc", ".cu", ".cuh", ".cpp")):
            out.append((rel, c_comments(read(root, rel)), False))
        elif name.endswith(".py"):
            out.append((rel, python_comments(read(root, rel)), False))
        elif name.endswith((".sh", ".cmake")) or name == "CMakeLists.txt":
            out.append((rel, hash_comments(read(root, rel)), False))
    return out


def read(root, rel):
    with open(os.path.join(root, rel), encoding="utf-8", errors="replace") as f:
        return f.read()


# ---- which words are paths, and whether they exist ----

def expand_braces(word):
    m = re.search(r"\{([^{}]*)\}", word)
    if not m:
        return [word]
    return [x for alt in m.group(1).split(",") for x in expand_braces(word[:m.start()] + alt + word[m.end():])]


class Tree:
    def __init__(self, root):
        self.root = root
        self.src_dirs = {d for d in os.listdir(os.path.join(root, "src")) if os.path.isdir(os.path.join(root, "src", d))} \
            if os.path.isdir(os.path.join(root, "src")) else set()
        self.basenames = set()
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames[:] = [d for d in dirnames if not d.startswith((".", "build"))]
            self.basenames.update(filenames)

    def exists(self, base, path):
        """`path` under `base` is a file or folder, a glob matching one, or (no extension) a stem
        of one: `model/llama` names src/model/llama.{h,cc}."""
        full = os.path.normpath(os.path.join(self.root, base, path))
        if any(ch in path for ch in "*?["):
            return bool(glob.glob(full, recursive=True))
        if os.path.exists(full):
            return True
        return "." not in os.path.basename(path) and bool(glob.glob(glob.escape(full) + ".*"))

    def has_basename(self, pattern):
        if "*" in pattern:
            return any(fnmatch.fnmatch(b, pattern) for b in self.basenames)
        return pattern in self.basenames


def clean(word):
    word = word.strip(".,;:)'\"`")
    word = re.sub(r"::.*$", "", word)           # a pytest id or a C++ member: the part before ::
    word = re.sub(r"(:\d+)+$", "", word)        # file:line
    if word.endswith("/..."):
        word = word[:-4]
    return word.rstrip(".,") if word not in (".", "..") else word


def named_paths(tree, rel, text, is_doc):
    """[(word, exists)] for each word of one line of `rel` that names a path of the tree."""
    here = os.path.dirname(rel)
    out = []
    if is_doc:
        for m in LINK.finditer(text):
            target = m.group(1)
            if "://" not in target and not target.startswith(("mailto:", "/", "~")):
                out.append((target, any(tree.exists(here, t) for t in expand_braces(target))))
    for m in WORD.finditer(text):
        raw = m.group(0)
        if "://" in raw or re.search(r"[<>$%@]", raw) or OTHER_PROJECT.search(text[:m.start()]):
            continue
        if m.start() > 1 and text[m.start() - 2:m.start()] == "](":
            continue  # a markdown link target: checked above
        word = clean(raw)
        if word.startswith("./"):
            word = word[2:]
        if not word or word.startswith(("/", "~", "..", ":")):
            continue
        parts = word.split("/")
        first, last = parts[0], parts[-1]
        if first in SKIP_FIRST or first.startswith("build-"):
            continue
        alts = expand_braces(word)
        if len(parts) == 1:
            if word not in ROOT_FILES and os.path.splitext(last)[1] in BARE_EXT \
                    and re.fullmatch(r"[\w*{},-][\w.*{},-]*", word):
                out.append((word, all(tree.has_basename(a) for a in alts)))
        elif first in ROOTED:
            out.append((word, all(tree.exists("", a) for a in alts)))
        elif first in tree.src_dirs:
            bases = ("src", "kernels", "include", here)
            out.append((word, all(any(tree.exists(b, a) for b in bases) for a in alts)))
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--root", default=os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                    help="tree to check (default: this checkout)")
    args = ap.parse_args()
    root = os.path.abspath(args.root)
    tree = Tree(root)
    problems, named, files = [], 0, 0
    for rel, pieces, is_doc in sources(root):
        files += 1
        for lineno, text in pieces:
            for word, exists in named_paths(tree, rel, text, is_doc):
                named += 1
                if not exists:
                    problems.append(f"{rel}:{lineno}: names {word}, which does not exist")
    if problems:
        print("\n".join(problems))
        print(f"doc paths: {len(problems)} of {named} named paths do not exist ({files} files)")
        return 1
    print(f"doc paths: ok ({named} named paths exist, {files} files)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
