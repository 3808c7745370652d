"""Every processors file docs/processors.md shows builds, as the page says (under the schema it names)."""

from __future__ import annotations

import re

import pytest

from gelfingest.core.processors import ConfigError, Context, build
from tests.helpers import ROOT

PAGE = (ROOT / "docs" / "processors.md").read_text(encoding="utf-8")
EXAMPLES = [block for block in re.findall(r"```yaml\n(.*?)```", PAGE, re.S) if block.lstrip().startswith(
    ("processors:", "#"))]


def test_the_page_has_its_examples() -> None:
    assert len(EXAMPLES) >= 20


@pytest.mark.parametrize("text", EXAMPLES, ids=[f"example{i}" for i in range(len(EXAMPLES))])
def test_an_example_of_the_page_builds(text: str) -> None:
    errors = []
    for schema in ("logstash", "ecs"):  # an example naming ECS fields (container.name) is for --schema ecs
        try:
            build(text, Context(schema=schema, read_key=lambda name: b"0123456789abcdef0123456789abcdef"))
            return
        except ConfigError as err:
            errors.append(f"{schema}: {err}")
    pytest.fail("; ".join(errors))
