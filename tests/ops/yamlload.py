"""Load YAML documents for the deploy checks.

PyYAML is not a dependency of partd; use it when the venv has it, else the
system python3's (Debian's python3-yaml), else skip (fail in CI).
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

_SCRIPT = "import json, sys, yaml; print(json.dumps(list(yaml.safe_load_all(open(sys.argv[1])))))"


def load_all(path: Path) -> list[Any]:
    try:
        import yaml  # type: ignore[import-untyped]
    except ImportError:
        pass
    else:
        with open(path) as fh:
            return list(yaml.safe_load_all(fh))
    for exe in ("/usr/bin/python3", shutil.which("python3")):
        if exe and Path(exe).exists():
            out = subprocess.run([exe, "-c", _SCRIPT, str(path)], capture_output=True, timeout=30)
            if out.returncode == 0:
                return json.loads(out.stdout)
            if b"No module named 'yaml'" not in out.stderr:
                raise AssertionError(f"{path} is not valid YAML: {out.stderr.decode()[-1500:]}")
    msg = "no YAML parser (PyYAML) available to check deploy/*.yml"
    if os.environ.get("CI"):
        pytest.fail(msg)
    pytest.skip(msg)


def load(path: Path) -> Any:
    docs = load_all(path)
    assert len(docs) == 1, f"{path}: expected one YAML document, got {len(docs)}"
    return docs[0]
