import re
from dataclasses import fields

import pytest

from gelfingest.config import (
    ConfigError,
    build_parser,
    grouped_options,
    load_config,
    options,
    parse_size,
    show_size,
    unknown_variables,
)
from gelfingest.core.ingest import IngestSettings
from gelfingest.net import Address, parse_address


def test_defaults() -> None:
    c = load_config([], {})
    assert c.udp == Address("0.0.0.0", 12201)
    assert c.elasticsearch == ("http://127.0.0.1:9200",)
    assert c.index == "logstash-%Y.%m.%d"
    assert (c.sequence_seed, c.sequence_iterator) == (1, 1)
    assert c.output == "elasticsearch"
    assert (c.sequence_mode, c.mapping, c.refresh_interval) == ("clock", "keyword", "auto")


def test_the_names_users_rely_on() -> None:
    c = load_config([], {"SEQUENCE_SEED": "2", "SEQUENCE_ITERATOR": "2", "ELASTICSEARCH_HOSTS": "http://a:9200,https://b:9243",
                         "GELFINGEST_UDP": "off", "GELFINGEST_INDEX": "gelf-%Y", "GELFINGEST_OUTPUT": "null",
                         "GELFINGEST_DATA_DIR": "/tmp/x"})
    assert (c.sequence_seed, c.sequence_iterator) == (2, 2)
    assert c.elasticsearch == ("http://a:9200", "https://b:9243")
    assert c.udp is None
    assert c.index == "gelf-%Y"
    assert c.output == "null"
    assert str(c.data_dir) == "/tmp/x"


def test_flag_wins_over_environment() -> None:
    c = load_config(["--sequence-seed", "7", "--udp", "[::1]:5000"], {"SEQUENCE_SEED": "3"})
    assert c.sequence_seed == 7
    assert c.udp == Address("::1", 5000)


def test_every_setting_has_a_flag_and_a_variable_in_help() -> None:
    text = build_parser().format_help()
    for spec in options():
        assert spec.flag in text and spec.env in text
        if spec.env not in ("SEQUENCE_SEED", "SEQUENCE_ITERATOR", "ELASTICSEARCH_HOSTS"):
            assert spec.env == "GELFINGEST_" + spec.flag[2:].upper().replace("-", "_")


@pytest.mark.parametrize(("env", "needle"), [
    ({"SEQUENCE_SEED": "abc"}, "SEQUENCE_SEED"),
    ({"SEQUENCE_SEED": "-1"}, "SEQUENCE_SEED"),
    ({"SEQUENCE_SEED": "1.5"}, "SEQUENCE_SEED"),
    ({"SEQUENCE_ITERATOR": "0"}, "SEQUENCE_ITERATOR"),
    ({"GELFINGEST_UDP": "nonsense"}, "GELFINGEST_UDP"),
    ({"GELFINGEST_OUTPUT": "kafka"}, "GELFINGEST_OUTPUT"),
    ({"ELASTICSEARCH_HOSTS": "es:9200"}, "ELASTICSEARCH_HOSTS"),
    ({"GELFINGEST_BATCH_MAX_DOCS": "0"}, "GELFINGEST_BATCH_MAX_DOCS"),
    ({"GELFINGEST_INDEX": "Logs-%Y"}, "GELFINGEST_INDEX"),
])
def test_bad_values_name_the_variable(env: dict, needle: str) -> None:
    with pytest.raises(ConfigError, match=needle):
        load_config([], env)


def test_sizes_and_addresses() -> None:
    assert parse_size("8MiB") == 8 << 20
    assert parse_size("64M") == 64_000_000
    assert parse_size("1024") == 1024
    assert parse_address(":12201") == Address("0.0.0.0", 12201)
    assert parse_address("off") is None


def test_every_bound_is_declared_on_its_option_and_enforced() -> None:
    bounded = [spec for spec in options() if spec.minimum is not None]
    assert {"workers", "batch_max_docs", "max_datagram", "spool_max_bytes"} <= {s.name for s in bounded}
    for spec in bounded:
        with pytest.raises(ConfigError, match=f"{spec.flag} / {spec.env} must be {spec.minimum} or more"):
            load_config([spec.flag, str(spec.minimum - 1)], {})


def test_the_core_settings_are_named_as_the_configuration_names_them() -> None:
    """Config.ingest_settings takes each of them by name: a rename on one side only must fail here."""
    names = {spec.name for spec in options()}
    core = {f.name for f in fields(IngestSettings)} - {"document_id_prefix"}
    assert core <= names
    config = load_config(["--max-json-depth", "7", "--max-pending-chunked", "9", "--index", "x-%Y"], {})
    settings = config.ingest_settings("p-")
    assert (settings.max_json_depth, settings.max_pending_chunked, settings.index) == (7, 9, "x-%Y")
    assert settings.document_id_prefix == "p-"
    assert load_config(["--document-id", "auto"], {}).ingest_settings("p-").document_id_prefix is None


def test_help_groups_the_options_by_concern_with_a_short_usage_and_sizes_as_people_write_them() -> None:
    text = build_parser().format_help()
    usage = text.split("\n\n", 1)[0]
    assert usage.count("\n") <= 2 and "--udp" not in usage
    titles = [title.lower() for title, _ in grouped_options()]
    positions = [text.index(f"\n{title}:\n") for title in titles]
    assert positions == sorted(positions)
    assert all(specs for _, specs in grouped_options())
    assert sum(len(specs) for _, specs in grouped_options()) == len(options())
    assert "default 256 MiB]" in " ".join(text.split()) and "268435456" not in text
    assert show_size(2 * 1024 * 1024) == "2 MiB" and show_size(1500) == "1500"


def test_a_gelfingest_variable_that_is_not_a_setting_is_reported_with_the_closest_name() -> None:
    env = {"GELFINGEST_UPD": "127.0.0.1:1", "GELFINGEST_UDP": "off", "GELFINGEST_HTTP_TOKEN_FILE": "/t",
           "GELFINGEST_ES_CACHE": "/c", "SEQUENCE_SEED": "2", "PATH": "/bin", "GELFINGEST_ZZZ": "1"}
    lines = unknown_variables(env)
    assert lines == ["GELFINGEST_UPD is not a setting and is ignored; did you mean GELFINGEST_UDP?",
                     "GELFINGEST_ZZZ is not a setting and is ignored"]
    assert unknown_variables({spec.env: "x" for spec in options()}) == []


@pytest.mark.parametrize(("args", "needle"), [
    (["--data-stream", "logs-gelf-default", "--index-mode", "rollover"], "--data-stream"),
    (["--data-stream", "logs-gelf-default", "--retention-days", "7"], "--data-stream"),
    (["--data-stream", "logs-gelf-default", "--document-id", "auto"], "--data-stream"),
    (["--data-stream", "Logs"], "lower-case"),
    (["--ilm-policy", "p", "--retention-days", "7"], "choose one"),
    (["--index", "x-%Y-%j", "--retention-days", "7"], "cannot be read back"),
    (["--index", "%{app}-%Y"], "must begin with literal text"),
    (["--index", "logs-%{}"], "empty field reference"),
    (["--index-fallback", "x-%{app}", "--index", "logs-%{app}"], "cannot have field references"),
    (["--pipeline", "%{label}"], "must begin with literal text"),
    (["--rollover-max-size", "30 gigs"], "30gb"),
    (["--rollover-max-age", "one day"], "1d"),
    (["--refresh-interval", "5 sec"], "--refresh-interval"),
    (["--refresh-interval", "0"], "--refresh-interval"),
    (["--mapping", "text"], "--mapping"),
    (["--schema", "ecs", "--mapping", "logstash"], "--schema logstash only"),
])
def test_lifecycle_and_routing_settings_that_cannot_work_together_stop_the_start(args: list[str],
                                                                                 needle: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(needle)):
        load_config(args, {})


def test_rollover_and_data_streams_change_where_events_are_written() -> None:
    assert load_config(["--index-mode", "rollover"], {}).ingest_settings().index == "logstash-write"
    routed = load_config(["--index-mode", "rollover", "--index", "logs-%{app}-%Y.%m.%d"], {}).ingest_settings()
    assert (routed.index, routed.index_fallback) == ("logs-%{app}-write", "logs-write")
    assert load_config(["--data-stream", "logs-gelf-default"], {}).ingest_settings().index == "logs-gelf-default"
