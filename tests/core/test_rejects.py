from gelfingest.core.errors import GelfError
from gelfingest.core.rejects import RejectLog


def test_first_of_each_reason_is_logged_then_summarised() -> None:
    log = RejectLog(interval=10)
    assert log.record(GelfError("invalid_json", "x"), "1.2.3.4", 0.0) is not None
    lines = [log.record(GelfError("invalid_json", "y"), "1.2.3.4", 1.0 + i * 0.001) for i in range(10_000)]
    assert lines == [None] * 10_000
    assert log.record(GelfError("empty"), "5.6.7.8", 2.0) is not None
    assert log.maybe_summary(10.9) is None
    summary = log.maybe_summary(11.0)
    assert summary is not None and "10000" in summary and "invalid_json=10000" in summary
    assert log.maybe_summary(30.0) is None
    assert log.total == {"invalid_json": 10_001, "empty": 1}
