import pytest

from gelfingest.config import (
    ConfigError,
    build_parser,
    load_config,
    options,
    parse_size,
)
from gelfingest.net import Address, parse_address


def test_defaults() -> None:
    c = load_config([], {})
    assert c.udp == Address("0.0.0.0", 12201)
    assert c.elasticsearch == ("http://127.0.0.1:9200",)
    assert c.index == "logstash-%Y.%m.%d"
    assert (c.sequence_seed, c.sequence_iterator) == (1, 1)
    assert c.output == "elasticsearch"


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
