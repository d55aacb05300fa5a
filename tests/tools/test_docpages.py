"""streams/tools/docpages.py: the examples and the generated pages of docs/ cannot drift from the schemas and data.

``tests/integration/test_cli_records.py`` publishes the examples to a real worker; here, without a broker:
the pages are what the generator makes of today's schemas and code tables, each example holds every
required field and encodes, and ``partd produce --example`` prints exactly the example.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

import schemas
from streams import topics
from streams.kafka.registry import SchemaRegistry
from streams.kafka.serde import Serde
from streams.tools import docpages
from streams.tools.jsonconv import record_from_json


@pytest.mark.parametrize("name", sorted(docpages.PAGES))
def test_the_generated_part_of_each_page_is_what_the_sources_give(name: str) -> None:
    text = (docpages.DOCS / name).read_text(encoding="utf-8")
    assert text.count(docpages.BEGIN) == 1 and text.count(docpages.END) == 1
    assert docpages.page_with(text, docpages.PAGES[name]()) == text, (
        f"docs/{name} differs from its sources: run `.venv/bin/python -m streams.tools.docpages --write`")


def test_every_input_topic_has_an_example_with_every_required_field_that_encodes() -> None:
    assert set(docpages.EXAMPLES) == set(topics.INPUTS)
    serde = Serde(SchemaRegistry.embedded())
    for topic, value in docpages.EXAMPLES.items():
        missing = set(docpages.required_fields(topic)) - set(value)
        assert not missing, f"the {topic} example lacks required fields {sorted(missing)}"
        record = record_from_json(topic, value)
        assert serde.decode(topic, serde.encode(topic, record)) is not None
        assert topics.key_for(topic, record)


def test_the_record_page_lists_every_field_of_every_topic() -> None:
    page = (docpages.DOCS / "record-shapes.md").read_text(encoding="utf-8")
    for topic in topics.INPUTS + topics.OUTPUTS:
        section = page[page.index(f"### `{topic}`"):]
        for field in schemas.topic_schema_json(topic)["fields"]:
            assert f"| `{field['name']}` |" in section, (topic, field["name"])
    # the fields the page used to leave out (issue 27)
    for topic, field in (("plan-year-updates", "parent_org_id"), ("plan-year-updates", "event_time"),
                         ("beneficiary-updates", "state_code"), ("beneficiary-updates", "county_code")):
        assert field in docpages.required_fields(topic) and f'"{field}"' in docpages.example_line(topic)


def _partd(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KAFKA_", "PARTD_"))}
    return subprocess.run([sys.executable, "-m", "streams.tools.cli", *args], capture_output=True, text=True,
                          env=env, timeout=60)


def test_produce_example_prints_the_example_and_help_lists_the_topics_and_the_page() -> None:
    for topic in topics.INPUTS:
        done = _partd("produce", "--example", topic)
        assert done.returncode == 0 and done.stderr == "", done
        assert json.loads(done.stdout) == docpages.EXAMPLES[topic] and done.stdout.count("\n") == 1
    done = _partd("produce", "--example", "trr-replies")
    assert (done.returncode, done.stderr) == (1, (
        "partd: error: trr-replies is one of partd's outputs: only its inputs take records from you "
        f"({', '.join(docpages.EXAMPLES)})\n"))
    done = _partd("produce")
    assert (done.returncode, done.stderr) == (1, (
        "partd: error: partd produce needs a TOPIC and a FILE.jsonl (`partd produce --help` lists the topics; "
        "`partd produce --example TOPIC` prints a record to start from)\n"))
    done = _partd("produce", "--help")
    assert done.returncode == 0
    listed = done.stdout[done.stdout.index("input topics"):]
    for topic in topics.INPUTS:
        record = schemas.topic_schema_file(topic).removesuffix(".avsc")
        assert f"  {topic:<22} {record}\n" in listed
    assert "--example TOPIC" in listed and "docs/record-shapes.md" in listed
