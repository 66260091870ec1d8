"""Counts that say whether the code's shape still shows its design (issue "Runtime
architecture"): modules at the top of sdk/, the longest modules, classes and functions,
`isinstance(..., <Spec>)` ladders, raw `manifest[...]` reads and import cycles.

    python scripts/code_shape.py            # a table
    python scripts/code_shape.py --json     # the same as JSON

Functions are measured from their `def` line to their last line (docstring included);
benchmark `main`s are reported but are allowed to be long.
"""

from __future__ import annotations

import argparse
import ast
import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PACKAGES = {"sdk": "mmedge", "export": "mmedge.export"}
SPEC_NAMES = {"ImageSpec", "AudioSpec", "VideoSpec"}


def module_name(path: Path) -> str:
    """The import name of a file under sdk/ or export/."""
    rel = path.relative_to(REPO)
    top = PACKAGES[rel.parts[0]]
    parts = list(rel.with_suffix("").parts[1:])
    if parts and parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join([top, *parts])


def python_files(*roots: str) -> list[Path]:
    return sorted(
        p for r in roots for p in (REPO / r).rglob("*.py") if "__pycache__" not in p.parts
    )


def _spans(tree: ast.AST, kinds: tuple[type, ...]) -> list[tuple[str, int]]:
    """(name, lines from its first line to its last) of every class or function."""
    out = []
    for node in ast.walk(tree):
        if isinstance(node, kinds):
            out.append((node.name, (node.end_lineno or node.lineno) - node.lineno + 1))
    return out


def _bodies(tree: ast.AST) -> list[tuple[str, int]]:
    """(name, lines of body) of every function: from its first statement after the docstring to
    its last line, so long keyword signatures and full docstrings do not count as logic."""
    out = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            body = node.body
            if (
                len(body) > 1
                and isinstance(body[0], ast.Expr)
                and isinstance(body[0].value, ast.Constant)
                and isinstance(body[0].value.value, str)
            ):
                body = body[1:]
            out.append((node.name, (node.end_lineno or node.lineno) - body[0].lineno + 1))
    return out


def _isinstance_spec(node: ast.AST) -> bool:
    """isinstance(x, pp.ImageSpec) / isinstance(x, (ImageSpec, VideoSpec)) / ... | ..."""
    if not (isinstance(node, ast.Call) and getattr(node.func, "id", None) == "isinstance"):
        return False
    if len(node.args) != 2:
        return False
    names = {
        n.attr if isinstance(n, ast.Attribute) else getattr(n, "id", None)
        for n in ast.walk(node.args[1])
    }
    return bool(names & SPEC_NAMES)


def _is_manifest(node: ast.AST) -> bool:
    return (isinstance(node, ast.Attribute) and node.attr == "manifest") or (
        isinstance(node, ast.Name) and node.id == "manifest"
    )


def _raw_manifest_read(node: ast.AST) -> bool:
    """x.manifest[...], manifest[...] (reads, not assignment targets) and manifest.get(...)."""
    if isinstance(node, ast.Subscript) and isinstance(node.ctx, ast.Load):
        return _is_manifest(node.value)
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
        return node.func.attr == "get" and _is_manifest(node.func.value)
    return False


def _runtime_nodes(tree: ast.AST) -> list[ast.AST]:
    """Every node except those under `if TYPE_CHECKING:` (imports for annotations only)."""
    out, todo = [], [tree]
    while todo:
        node = todo.pop()
        out.append(node)
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            todo.extend(node.orelse)
            continue
        todo.extend(ast.iter_child_nodes(node))
    return out


def imports_of(path: Path, known: set[str]) -> set[str]:
    """The mmedge modules `path` imports anywhere in its body (function-level imports too, not
    those under `if TYPE_CHECKING:`)."""
    out: set[str] = set()
    for node in _runtime_nodes(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names if a.name in known}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                sub = f"{node.module}.{alias.name}"
                out.add(sub if sub in known else node.module)
    return {m for m in out if m in known}


def import_cycles(files: list[Path]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan) in the import graph of
    the runtime (sdk/ and export/); a module importing its own package counts."""
    names = {module_name(p): p for p in files}
    known = set(names) | {"mmedge._C"}  # the compiled extension: a leaf
    graph = {m: imports_of(p, known) - {m, "mmedge._C"} for m, p in names.items()}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []
    counter = [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    sys.setrecursionlimit(10000)
    for v in sorted(graph):
        if v not in index:
            visit(v)
    return cycles


def measure() -> dict:
    sdk_files = python_files("sdk")
    all_files = python_files("sdk", "export")
    funcs, bodies, classes, modules = [], [], [], []
    ladders, manifest_reads = 0, 0
    for path in python_files("sdk", "export", "benchmarks", "scripts"):
        tree = ast.parse(path.read_text())
        rel = str(path.relative_to(REPO))
        modules.append((rel, len(path.read_text().splitlines())))
        funcs += [
            (f"{rel}:{n}", k) for n, k in _spans(tree, (ast.FunctionDef, ast.AsyncFunctionDef))
        ]
        bodies += [(f"{rel}:{n}", k) for n, k in _bodies(tree)]
        classes += [(f"{rel}:{n}", k) for n, k in _spans(tree, (ast.ClassDef,))]
        if path in all_files:
            ladders += sum(_isinstance_spec(n) for n in ast.walk(tree))
            manifest_reads += sum(_raw_manifest_read(n) for n in ast.walk(tree))
    top = sorted(p.name for p in (REPO / "sdk").glob("*.py"))
    sdk_modules = [(m, n) for m, n in modules if m.startswith("sdk/")]
    is_bench_main = lambda name: name.startswith("benchmarks/") and name.endswith(":main")  # noqa: E731
    long_funcs = sorted(
        ((n, k) for n, k in funcs if k > 80 and not is_bench_main(n)), key=lambda x: -x[1]
    )
    return {
        "sdk_top_level_modules": len(top),
        "sdk_top_level": top,
        "sdk_modules_over_400_lines": sorted(
            [(m, n) for m, n in sdk_modules if n > 400], key=lambda x: -x[1]
        ),
        "longest_sdk_module": max(sdk_modules, key=lambda x: x[1]),
        "longest_class": max(classes, key=lambda x: x[1]),
        "longest_function": max(
            ((n, k) for n, k in funcs if not is_bench_main(n)), key=lambda x: x[1]
        ),
        "functions_over_80_lines": long_funcs,
        "function_bodies_over_80_lines": sorted(
            ((n, k) for n, k in bodies if k > 80 and not is_bench_main(n)), key=lambda x: -x[1]
        ),
        "isinstance_spec_ladders": ladders,
        "raw_manifest_reads": manifest_reads,
        "import_cycles": import_cycles(all_files),
        "sdk_files": len(sdk_files),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    result = measure()
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    for key, value in result.items():
        print(f"{key}: {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
