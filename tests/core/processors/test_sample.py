"""``sample``: the decision by key is the same in every pipeline, process and release (pinned vectors), keeps
about one key in ``rate``, nests across rates; the counter keeps every rate-th event; kept events carry the
rate; every refusal has its line.
"""

from __future__ import annotations

import hashlib
import math
import textwrap
from typing import Any

import pytest

import gelfingest.core.processors.sample  # noqa: F401 (registers ``sample`` until processors/__init__ imports it)
from gelfingest.core.processors.base import ConfigError, Context
from gelfingest.core.processors.pipeline import Pipeline, build
from gelfingest.core.processors.sample import sample_hash

KEYS = [f"container-{i}" for i in range(10_000)]


def pipeline(params: str, ctx: Context | None = None) -> Pipeline:
    return build(f"processors:\n  - sample: {params}\n", ctx or Context())


def kept(pipe: Pipeline, docs: list[dict[str, Any]]) -> list[int]:
    return [i for i, doc in enumerate(docs) if pipe.run(doc) is not None]


def by_key(keys: list[Any], field: str = "container_name") -> list[dict[str, Any]]:
    return [{"message": "m", field: key} for key in keys]


def binomial_bounds(n: int, p: float, sigmas: float = 5) -> tuple[float, float]:
    spread = sigmas * math.sqrt(n * p * (1 - p))
    return n * p - spread, n * p + spread


def test_the_decision_by_key_is_the_same_in_two_pipelines() -> None:
    first = kept(pipeline("{rate: 10, key_field: container_name}"), by_key(KEYS[:2000]))
    second = kept(pipeline("{rate: 10, key_field: container_name}"), by_key(KEYS[:2000]))
    assert first == second
    # and the same key decides the same way every time it comes
    pipe = pipeline("{rate: 3, key_field: container_name}")
    decisions = {key: pipe.run({"message": "m", "container_name": key}) is not None for key in KEYS[:300]}
    for key in KEYS[:300]:
        assert (pipe.run({"message": "m", "container_name": key}) is not None) == decisions[key]


def test_the_hash_is_pinned_across_processes_and_releases() -> None:
    # The contract: BLAKE2b-64, personalised, of the value's text. A change here resamples every fleet.
    expected = hashlib.blake2b(b"web-1", digest_size=8, person=b"gelfingest-smpl").digest()
    assert sample_hash("web-1") == int.from_bytes(expected, "big") == 0x0C2CF604D4834F7B
    assert sample_hash("api") == 0xE7BEA1DE2DB62F96
    assert sample_hash({"b": 1, "a": [1, 2]}) == 0x455AD5A9A941BC04
    pipe = pipeline("{rate: 4, key_field: container_name}")
    assert kept(pipe, by_key(KEYS[:20])) == [2, 4, 13, 19]


def test_a_value_hashes_as_its_text() -> None:
    assert sample_hash(4) == sample_hash(4.0) == sample_hash("4")
    assert sample_hash(True) == sample_hash("true")
    assert sample_hash({"a": 1, "b": 2}) == sample_hash({"b": 2, "a": 1})
    assert sample_hash(None) is None and sample_hash(object()) is None


@pytest.mark.parametrize(("params", "p"), [("{rate: 10, key_field: k}", 0.1), ("{rate: 3, key_field: k}", 1 / 3),
                                           ("{ratio: 0.25, key_field: k}", 0.25),
                                           ("{ratio: 0.9, key_field: k}", 0.9)])
def test_about_one_key_in_rate_is_kept(params: str, p: float) -> None:
    count = len(kept(pipeline(params), by_key(KEYS, "k")))
    low, high = binomial_bounds(len(KEYS), p)
    assert low <= count <= high


def test_keys_kept_at_a_higher_rate_are_kept_at_a_lower_one() -> None:
    at_100 = set(kept(pipeline("{rate: 100, key_field: k}"), by_key(KEYS, "k")))
    at_10 = set(kept(pipeline("{rate: 10, key_field: k}"), by_key(KEYS, "k")))
    at_half = set(kept(pipeline("{ratio: 0.5, key_field: k}"), by_key(KEYS, "k")))
    assert at_100 and at_100 < at_10 < at_half


def test_rate_1_and_ratio_1_keep_everything() -> None:
    assert len(kept(pipeline("{rate: 1, key_field: k}"), by_key(KEYS[:500], "k"))) == 500
    assert len(kept(pipeline("{ratio: 1}"), by_key(KEYS[:500], "k"))) == 500


def test_without_a_key_the_counter_keeps_every_rate_th_event() -> None:
    docs = [{"message": str(i)} for i in range(30)]
    assert kept(pipeline("{rate: 3}"), docs) == list(range(0, 30, 3))
    assert kept(pipeline("{ratio: 0.5}"), [dict(d) for d in docs]) == list(range(0, 30, 2))
    assert len(kept(pipeline("{ratio: 0.1}"), [{"message": "m"} for _ in range(1000)])) == 100
    # a missing or null key falls back to the counter
    pipe = pipeline("{rate: 4, key_field: container_name}")
    mixed = [{"message": "m"} if i % 2 else {"message": "m", "container_name": None} for i in range(20)]
    assert kept(pipe, mixed) == [0, 4, 8, 12, 16]


def test_kept_events_record_the_rate() -> None:
    out = pipeline("{rate: 10}").run({"message": "m"})
    assert out == {"message": "m", "sample_rate": 10}
    out = pipeline("{ratio: 0.25}").run({"message": "m"})
    assert out == {"message": "m", "sample_rate": 4.0}
    out = pipeline("{rate: 10}", Context(schema="ecs")).run({"message": "m", "gelf": {"x": 1}})
    assert out == {"message": "m", "gelf": {"x": 1, "sample_rate": 10}}
    out = pipeline("{rate: 10}", Context(schema="ecs")).run({"message": "m"})
    assert out == {"message": "m", "gelf": {"sample_rate": 10}}
    # an earlier sample's rate (or the sender's) is multiplied; anything else there is replaced
    out = pipeline("{rate: 10}").run({"message": "m", "sample_rate": 5})
    assert out == {"message": "m", "sample_rate": 50}
    out = pipeline("{rate: 10}").run({"message": "m", "sample_rate": "five"})
    assert out == {"message": "m", "sample_rate": 10}
    two = build(textwrap.dedent("""\
        processors:
          - sample: {rate: 2}
          - sample: {rate: 3}
        """), Context())
    out = two.run({"message": "m"})
    assert out == {"message": "m", "sample_rate": 6}


def test_dropped_events_are_counted_by_the_pipeline() -> None:
    pipe = pipeline("{rate: 5}")
    kept(pipe, [{"message": "m"} for _ in range(50)])
    assert pipe.dropped["sample"] == 40


@pytest.mark.parametrize(("text", "line", "words"), [
    ("processors:\n  - sample:\n      key_field: k\n", 3, "one of 'rate'"),
    ("processors:\n  - sample:\n      rate: 2\n      ratio: 0.5\n", 3, "one of 'rate'"),
    ("processors:\n  - sample:\n      rate: 0\n", 3, "at least 1"),
    ("processors:\n  - sample:\n      rate: 2.5\n", 3, "must be an integer"),
    ("processors:\n  - sample:\n      rate: ten\n", 3, "must be an integer"),
    ("processors:\n  - sample:\n      ratio: 0\n", 3, "more than 0 and at most 1"),
    ("processors:\n  - sample:\n      ratio: 1.5\n", 3, "more than 0 and at most 1"),
    ("processors:\n  - sample:\n      ratio: .nan\n", 3, "more than 0 and at most 1"),
    ("processors:\n  - sample:\n      rate: 2\n      key_field: ''\n", 4, "must not be empty"),
    ("processors:\n  - sample:\n      rate: 2\n      keyfield: k\n", 4, "unknown parameter 'keyfield'"),
])
def test_bad_configurations_are_refused_with_their_line(text: str, line: int, words: str) -> None:
    with pytest.raises(ConfigError) as info:
        build(text, Context())
    assert info.value.line == line, info.value
    assert words in info.value.problem
