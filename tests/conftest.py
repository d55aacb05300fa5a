"""Shared test configuration."""
from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

# Tests never talk to a schema registry server unless they start one themselves, and reach
# brokers the way each test says (a stray KAFKA_SECURITY_PROTOCOL in the shell must not change that).
for _name in ("SCHEMA_REGISTRY_URL", "SCHEMA_REGISTRY_CA_FILE", "SCHEMA_REGISTRY_BASIC_AUTH_USER_INFO",
              "KAFKA_SECURITY_PROTOCOL", "KAFKA_SSL_CAFILE", "KAFKA_SSL_CERTFILE", "KAFKA_SSL_KEYFILE",
              "KAFKA_SASL_MECHANISM", "KAFKA_SASL_USERNAME", "KAFKA_SASL_PASSWORD"):
    os.environ.pop(_name, None)
