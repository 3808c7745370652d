import json

import pytest

from gelfingest.core.errors import DecodeError, Reason
from gelfingest.core.logspout import LogspoutDecoder

NOW = 1_763_900_000.25


def line(**fields: object) -> bytes:
    base = {"message": "GET / 200", "stream": "stdout", "tags": ["web"],
            "docker": {"name": "/web-1", "id": "3f4e5d6c", "image": "nginx:1.25", "hostname": "3f4e5d6c",
                       "labels": {"com.example.team": "payments"}}}
    return json.dumps({**base, **fields}).encode() + b"\n"


def test_maps_into_the_gelf_document_shape() -> None:
    doc, seconds = LogspoutDecoder().decode(line(), "10.0.0.9", NOW)
    assert doc == {"@timestamp": "2025-11-23T12:13:20.250Z", "message": "GET / 200", "container_name": "web-1",
                   "container_id": "3f4e5d6c", "image_name": "nginx:1.25", "host": "3f4e5d6c",
                   "labels": {"com.example.team": "payments"}, "stream": "stdout", "level": 6, "tags": ["web"],
                   "source_host": "10.0.0.9"}
    assert seconds == int(NOW)


def test_stderr_is_level_3_and_extra_fields_follow_the_name_rule() -> None:
    d = LogspoutDecoder()
    doc, _ = d.decode(line(stream="stderr", env="prod", **{"bad/name": 1, "sequence": 99}), "h", NOW)
    assert doc["level"] == 3 and doc["env"] == "prod"
    assert "bad/name" not in doc and doc.get("sequence") is None
    assert sum(d.dropped_fields.values()) == 2


def test_json_log_lines_and_their_own_time() -> None:
    raw = json.dumps({"msg": "structured", "user": "alice", "time": "2026-11-23T08:00:00.123Z",
                      "docker": {"name": "/api"}, "stream": "stdout"}).encode()
    doc, _ = LogspoutDecoder().decode(raw, "h", NOW)
    assert doc["message"] == "structured" and doc["user"] == "alice"
    assert doc["@timestamp"] == "2026-11-23T08:00:00.123Z"


@pytest.mark.parametrize(("payload", "reason"), [
    (b"[]", Reason.NOT_AN_OBJECT), (b"{}", Reason.MISSING_SHORT_MESSAGE), (b"{bad", Reason.INVALID_JSON)])
def test_rejections(payload: bytes, reason: str) -> None:
    with pytest.raises(DecodeError) as info:
        LogspoutDecoder().decode(payload, "h", NOW)
    assert info.value.reason == reason
