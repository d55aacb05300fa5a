"""The code's shape (guide, "The code shows the data path"): no import cycles, tools import the runtime and
never the reverse, private Faust/aiokafka names in one package, and a test module per runtime module."""
from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _modules() -> dict[str, Path]:
    mods = {}
    for p in sorted([*ROOT.glob("processors/**/*.py"), *ROOT.glob("streams/**/*.py")]):
        name = ".".join(p.relative_to(ROOT).with_suffix("").parts)
        mods[name.removesuffix(".__init__")] = p
    return mods


def _imports(mods: dict[str, Path]) -> dict[str, set[str]]:
    """Module -> the project modules it imports, anywhere in it (late and TYPE_CHECKING imports too)."""
    edges: dict[str, set[str]] = {m: set() for m in mods}
    for m, p in mods.items():
        pkg = m if p.name == "__init__.py" else m.rsplit(".", 1)[0]
        for node in ast.walk(ast.parse(p.read_text())):
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    parts = pkg.split(".")
                    base = ".".join(parts[:len(parts) - node.level + 1] + ([base] if base else []))
                targets = [base] + [f"{base}.{a.name}" for a in node.names]
            else:
                continue
            edges[m].update(t for t in targets if t in mods and t != m)
    return edges


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in sorted(edges[v]):
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
                out.append(sorted(comp))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return out


def _package_edges(edges: dict[str, set[str]], depth: int) -> dict[str, set[str]]:
    """The same graph between packages (``streams.kafka.internals``, ``streams.runtime``, ...)."""
    def pkg(m: str) -> str:
        return ".".join(m.split(".")[:depth])

    out: dict[str, set[str]] = {}
    for m, targets in edges.items():
        out.setdefault(pkg(m), set()).update(pkg(t) for t in targets if pkg(t) != pkg(m))
        for t in targets:
            out.setdefault(pkg(t), set())
    return out


def test_no_import_cycles_between_modules_or_packages() -> None:
    edges = _imports(_modules())
    core = {m: {t for t in ts if t.startswith("processors")} for m, ts in edges.items() if m.startswith("processors")}
    assert _cycles(core) == []  # e.g. enrollment -> reassignment -> withdrawal -> state_lists -> passive -> enrollment
    shell = {m: {t for t in ts if t.startswith("streams")} for m, ts in edges.items() if m.startswith("streams")}
    assert _cycles(shell) == []  # e.g. streams.runtime.app -> worker -> (TYPE_CHECKING) app
    assert _cycles(_package_edges(shell, 3)) == []  # e.g. streams.kafka.internals <-> streams.kafka.clients


def test_enrollment_and_passive_do_not_import_each_other() -> None:
    """The transaction dispatch lives in one table (processors/transactions.py)."""
    edges = _imports(_modules())
    assert "processors.passive" not in edges["processors.enrollment"]
    assert "processors.enrollment" not in edges["processors.transactions"] or \
        "processors.transactions" not in edges["processors.enrollment"]


def test_tools_import_the_runtime_never_the_reverse() -> None:
    edges = _imports(_modules())
    wrong = {m: sorted(t for t in ts if t.startswith("streams.tools")) for m, ts in edges.items()
             if not m.startswith("streams.tools")}
    assert {m: ts for m, ts in wrong.items() if ts} == {}


def test_the_processors_import_nothing_of_the_shell() -> None:
    edges = _imports(_modules())
    assert {m: sorted(ts) for m, ts in edges.items()
            if m.startswith("processors") and any(t.startswith("streams") for t in ts)} == {}


def test_internals_build_no_clients_of_their_own() -> None:
    edges = _imports(_modules())
    assert {m for m, ts in edges.items() if m.startswith("streams.kafka.internals") and "streams.kafka.clients" in ts} \
        == set()


def test_private_faust_and_aiokafka_names_only_in_internals() -> None:
    """``._something`` on Faust or aiokafka objects, or imports of their private modules, outside internals/."""
    private_uses = []
    for name, path in _modules().items():
        if name.startswith("streams.kafka.internals"):
            continue
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] in ("faust", "aiokafka"):
                if any(part.startswith("_") for part in node.module.split(".")):
                    private_uses.append((name, node.module))
            if isinstance(node, ast.Attribute) and node.attr in ("_thread", "_commit", "_client", "_coordinator",
                                                                  "_subscription", "_dbs", "_db_for_partition") \
                    and not (isinstance(node.value, ast.Name) and node.value.id == "self"):
                private_uses.append((name, node.attr))  # on another object: Faust's consumer, aiokafka's client
    assert private_uses == []


def test_every_runtime_module_has_its_test_module() -> None:
    """tests/ mirrors streams/: streams/runtime/X.py is tested in tests/runtime/test_X.py."""
    missing = [p.name for p in (ROOT / "streams" / "runtime").glob("*.py")
               if p.name != "__init__.py" and not (ROOT / "tests" / "runtime" / f"test_{p.name}").exists()]
    assert missing == []
