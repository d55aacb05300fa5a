"""Everything a user is pointed to is in the repository (issue 27).

A clone has no ``DOMAIN.md``, ``INFRA.md``, ``RUNTIME-SEMANTICS.md``, ``TRR-FILE.md`` or ``../shared/``:
nothing outside ``tests/`` may cite them (their facts are in ``docs/codes.md``, ``docs/tansu.md``,
``docs/delivery.md``, ``docs/plan-files.md``), and every repository path the README and the docs name
exists. The command line's own pointers are checked where they are printed (``tests/tools/test_docpages.py``
for ``partd produce --help``, ``tests/integration/test_cli_records.py`` for a dead letter's text).
"""
from __future__ import annotations

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUTSIDE = re.compile(r"DOMAIN\.md|INFRA\.md|RUNTIME-SEMANTICS|TRR-FILE\.md|\.\./shared|/work/shared")
#: A repository file as the docs name it: `docs/x.md`, `streams/tools/cli.py`, `scripts/up.sh`, ...
PATH = re.compile(r"(?<![\w/.-])((?:docs|streams|processors|schemas|scripts|tests|deploy)/[\w./-]*"
                  r"\.(?:md|py|sh|json|avsc|yml|yaml|toml|txt|properties))\b")


def _tracked() -> list[Path]:
    out = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    return [ROOT / line for line in out.splitlines()]


def test_nothing_outside_the_tests_cites_a_file_a_clone_does_not_have() -> None:
    found = []
    for path in _tracked():
        rel = path.relative_to(ROOT)
        if rel.parts[0] in ("tests", "partd.egg-info") or path.suffix not in (".md", ".py", ".json", ".avsc", ".sh",
                                                                             ".yml", ".yaml", ".toml", ".txt", ""):
            continue
        if rel.parts[:2] == ("schemas", "previous"):
            continue  # earlier versions, frozen as they were registered
        try:
            text = path.read_text(encoding="utf-8")
        except (UnicodeDecodeError, IsADirectoryError):
            continue
        found += [f"{rel}:{n}: {line.strip()}" for n, line in enumerate(text.splitlines(), 1) if OUTSIDE.search(line)]
    assert not found, "\n".join(found)


def test_every_repository_path_in_the_readme_and_the_docs_exists() -> None:
    missing = []
    for doc in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        for n, line in enumerate(doc.read_text(encoding="utf-8").splitlines(), 1):
            for ref in PATH.findall(line):
                if any(c in ref for c in "*{}<"):
                    continue  # a pattern, not a path
                if not (ROOT / ref).exists() and not (doc.parent / ref).exists():
                    missing.append(f"{doc.relative_to(ROOT)}:{n}: {ref}")
    assert not missing, "\n".join(missing)


def test_the_test_script_does_not_carry_its_own_stale_duration() -> None:
    script = (ROOT / "scripts" / "test.sh").read_text(encoding="utf-8")
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    claims = re.findall(r"about (\d+) minutes", script)
    assert all(f"about {m} minutes" in readme for m in claims), claims  # the README is the one place for it
    assert "README" in script
