"""Shared test configuration."""
from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

# Tests never talk to a schema registry server unless they start one themselves.
os.environ.pop("SCHEMA_REGISTRY_URL", None)
