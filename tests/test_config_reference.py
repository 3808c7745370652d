"""docs/configuration.md is generated from the options: it must list every flag and variable, as the code has them."""

from __future__ import annotations

from gelfingest.config import build_parser, options, reference_markdown
from tests.helpers import ROOT

REFERENCE = ROOT / "docs" / "configuration.md"


def test_the_reference_is_what_the_code_generates() -> None:
    assert REFERENCE.read_text(encoding="utf-8") == reference_markdown(), (
        "docs/configuration.md is out of date: python -m gelfingest.config > docs/configuration.md")


def test_the_reference_names_every_flag_and_variable_the_daemon_takes() -> None:
    text = REFERENCE.read_text(encoding="utf-8")
    flags = {s for action in build_parser()._actions for s in action.option_strings if s.startswith("--")}
    flags.discard("--help")
    variables = {spec.env for spec in options()} | {spec.env + "_FILE" for spec in options() if spec.secret}
    assert flags and variables
    assert sorted(f for f in flags if f"`{f}`" not in text) == []
    assert sorted(v for v in variables if f"`{v}`" not in text) == []
