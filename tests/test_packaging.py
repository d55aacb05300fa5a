"""What the main command installs is what the product uses; the test tools stay in the ``test`` extra.

``scripts/up.sh`` installs ``[project] dependencies`` only, ``scripts/test.sh`` adds the
``test`` extra (pyproject.toml). Read from the source of ``streams/``, ``processors/``
and ``schemas/``: every third-party module they import must come with the main
dependencies, and every main dependency must be used by them.
"""
from __future__ import annotations

import ast
import re
import sys
import tomllib
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PRODUCT = ("streams", "processors", "schemas")
#: Modules of the ``bench`` extra (``partd bench``'s comparisons, never needed by a worker) and the only files that
#: may import them (they say so and tell how to install it when it is missing).
BENCH_ONLY = {"quixstreams": {"streams/tools/quix_same_rules.py"}}
#: Main dependencies the product uses without importing them by name.
LOADED_BY_NAME = {"rocksdict": "Faust's rocksdb:// table store (the worker's tables)"}


def _name(requirement: str) -> str:
    match = re.match(r"[A-Za-z0-9._-]+", requirement.strip())
    assert match, requirement
    return re.sub(r"[-_.]+", "-", match.group(0)).lower()


def _project() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def _closure(names: set[str]) -> set[str]:
    """``names`` and everything they require here (extras, and requirements for other platforms, left out)."""
    todo, seen = list(names), set()
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        try:
            requires = metadata.requires(name) or ()
        except metadata.PackageNotFoundError:  # e.g. colorama; sys_platform == "win32"
            continue
        seen.add(name)
        for req in requires:
            if "extra ==" not in req:
                todo.append(_name(req))
    return seen


def _imported_distributions() -> dict[str, set[str]]:
    """Distribution -> the product files that import one of its modules."""
    owners = metadata.packages_distributions()
    out: dict[str, set[str]] = {}
    for package in PRODUCT:
        for path in (ROOT / package).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.Import):
                    modules = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    modules = [node.module]
                else:
                    continue
                for module in modules:
                    top = module.split(".")[0]
                    if top in sys.stdlib_module_names or top in PRODUCT:
                        continue
                    for dist in owners.get(top, [f"<no distribution provides {top}>"]):
                        out.setdefault(_name(dist), set()).add(str(path.relative_to(ROOT)))
    return out


def test_every_module_the_product_imports_comes_with_the_main_dependencies() -> None:
    main = {_name(r) for r in _project()["dependencies"]}
    installed_with_main = _closure(main)
    missing = {dist: sorted(files) for dist, files in _imported_distributions().items()
               if dist not in installed_with_main and not files <= BENCH_ONLY.get(dist, set())}
    assert not missing, f"imported by the product but not installed by scripts/up.sh: {missing}"


def test_the_bench_comparisons_are_an_extra() -> None:
    project = _project()
    main = {_name(r) for r in project["dependencies"]}
    bench = {_name(r) for r in project["optional-dependencies"]["bench"]}
    assert set(BENCH_ONLY) <= bench and "py-spy" in bench
    assert not bench & _closure(main)


def test_every_main_dependency_is_used_by_the_product() -> None:
    main = {_name(r) for r in _project()["dependencies"]}
    unused = main - set(_imported_distributions()) - set(LOADED_BY_NAME)
    assert not unused, f"main dependencies the product never uses (move them to the test extra, or drop them): {unused}"


def test_the_test_tools_are_not_main_dependencies() -> None:
    project = _project()
    main = {_name(r) for r in project["dependencies"]}
    test = {_name(r) for r in project["optional-dependencies"]["test"]}
    assert {"pytest", "hypothesis", "avro", "pyyaml", "kafka-python", "testcontainers"} <= test
    assert not main & test
    assert not {"pytest", "hypothesis", "avro", "pyyaml"} & _closure(main)
