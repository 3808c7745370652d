"""The soak's report: built from what the run collected, and printed as a table.

``build_report`` gives the dict that is written as JSON, one function a section: the good messages sent and
found in the index, the garbage sent, the rejections the daemon counted against those the pure core expects
for that garbage (soak/corpus.py), what /metrics said of chunks, TCP, HTTP and the queue, the processes' CPU
and RSS, and the daemon's log. ``print_report`` prints it, one function a block of the table.
"""

from __future__ import annotations

import argparse
import subprocess
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gelfingest.core.framing import DEFAULT_MAX_FRAME
from soak import ROOT
from soak.corpus import NOT_REJECTED, Outcome, Plan, scaled
from soak.observe import Sampler, analyse_log, closing_totals, one
from soak.traffic import GROUPS

Metrics = dict[str, dict[str, float]]

# -- what the senders said ------------------------------------------------------------------------------------


@dataclass
class Senders:
    """The senders' results merged: good tids by group, those that may or may not have arrived, garbage by kind,
    everything else they said (``info``), and the pure core's outcomes of the random datagrams."""

    sent: dict[str, list[str]] = field(default_factory=dict)
    ambiguous: dict[str, list[str]] = field(default_factory=dict)
    garbage: Counter[str] = field(default_factory=Counter)
    info: dict[str, Any] = field(default_factory=dict)
    random_outcome: Outcome = field(default_factory=lambda: (Counter(), Counter()))


def merge_senders(collected: list[dict[str, Any]]) -> Senders:
    senders = Senders()
    for c in collected:
        for g, t in c.get("good", {}).items():
            senders.sent.setdefault(g, []).extend(t)
        for g, t in c.get("ambiguous", {}).items():
            senders.ambiguous.setdefault(g, []).extend(t)
        senders.garbage.update(c.get("garbage", {}))
        senders.info.update(c.get("info", {}))
        if "random" in c.get("expected", {}):
            senders.random_outcome = (Counter(c["expected"]["random"][0]), Counter(c["expected"]["random"][1]))
    return senders


# -- what the garbage should have produced, by the pure core ----------------------------------------------------

def expected_udp_tcp(plan: Plan, garbage: Counter[str], info: dict[str, Any], random_outcome: Outcome) -> Outcome:
    """The outcomes of the UDP garbage (if no datagram dropped) and of the TCP garbage."""
    expected: Outcome = (Counter(), Counter())
    for name, outcome in plan.udp_outcome.items():
        scaled(outcome, garbage[f"udp corpus {name}"], expected)
    scaled(random_outcome, 1, expected)
    expected[0]["pending"] += garbage["udp chunk never completed"]
    scaled(plan.burst_outcome, garbage["tcp corpus burst"], expected)
    for name, outcome in plan.tcp_rotation_outcome.items():
        scaled(outcome, garbage[f"tcp {name}"], expected)
    expected[0]["frame_too_large"] += sum(1 for b in info.get("huge_frames_bytes", []) if b > DEFAULT_MAX_FRAME)
    expected[0]["frame_timeout"] += garbage["tcp slow client, cut by the daemon"]
    return expected


def http_answered(info: dict[str, Any]) -> dict[str, int]:
    """The HTTP garbage's "<case> <status>" counts of the requests the daemon read: a request answered 503
    (queue full) was not read; one that failed was not answered."""
    return {k: v for k, v in info.get("http_garbage_statuses", {}).items() if k.rsplit(" ", 1)[1].isdigit()
            and not k.endswith(" 503")}


def expected_http(plan: Plan, info: dict[str, Any], expected: Outcome) -> dict[str, dict[str, int]]:
    """Add the outcomes of the HTTP garbage to ``expected``; the answers that differ from the expected ones."""
    http_got = http_answered(info)
    http_expected_status: Counter[str] = Counter()
    for name, (status, outcome) in plan.http_outcome.items():
        n = sum(v for k, v in http_got.items() if k.rsplit(" ", 1)[0] == name)
        scaled(outcome, n, expected)
        http_expected_status[f"{name} {status}"] += n
    slow_http = Counter(info.get("slow_http_outcomes", {}))
    expected[0]["body_timeout"] += sum(n for k, n in slow_http.items() if k.endswith(": 408"))
    return status_mismatch(http_expected_status, http_got)


def status_mismatch(expected: Counter[str], got: dict[str, int]) -> dict[str, dict[str, int]]:
    return {k: {"expected": expected[k], "got": got.get(k, 0)} for k in {**expected, **got}
            if got.get(k, 0) != expected[k]}


# -- the sections of the report -----------------------------------------------------------------------------------

def run_section(args: argparse.Namespace, index: str, log_path: Path, died: str | None) -> dict[str, Any]:
    commit = subprocess.run(["git", "-C", str(ROOT), "describe", "--always", "--dirty"], capture_output=True,
                            text=True).stdout.strip()
    return {"seconds": args.seconds, "workers": args.workers, "rate": args.rate, "index": index,
            "log": str(log_path.relative_to(ROOT)), "commit": commit, "daemon_died": died}


def good_summary(sent: dict[str, list[str]], ambiguous: dict[str, list[str]],
                 found: Counter[str]) -> dict[str, dict[str, Any]]:
    by_group: dict[str, Counter[str]] = {g: Counter() for g in GROUPS}
    for tid, n in found.items():
        by_group.setdefault(tid.split(":", 1)[0], Counter())[tid] = n
    return {group: group_summary(set(sent.get(group, [])), by_group[group], set(ambiguous.get(group, [])))
            for group in GROUPS}


def group_summary(tids: set[str], got: Counter[str], maybe: set[str]) -> dict[str, Any]:
    """One group of good messages: ``tids`` sent, ``got`` found in the index (tid: copies), ``maybe`` sent or not."""
    lost = tids - set(got)
    return {
        "sent": len(tids), "indexed": sum(1 for t in tids if t in got), "lost": len(lost),
        "duplicates": sum(n - 1 for n in got.values() if n > 1),
        "unexpected": sum(1 for t in got if t not in tids and t not in maybe),
        "ambiguous_sent": len(maybe), "ambiguous_indexed": sum(1 for t in maybe if t in got),
        "lost_examples": sorted(lost)[:5],
    }


def index_section(settled: int, tids: Counter[str], sequences: Counter[int], untagged: int,
                  kept_expected: int) -> dict[str, Any]:
    return {"documents_when_settled": settled, "documents_with_tid": sum(tids.values()),
            "documents_without_tid": untagged, "kept_corpus_expected": kept_expected,
            "sequences": len(sequences), "sequence_duplicates": sum(n - 1 for n in sequences.values() if n > 1)}


def rejected_section(metrics: Metrics, expected: Outcome) -> dict[str, dict[str, int]]:
    rejected_metrics = metrics.get("gelfingest_rejected_total", {})
    reasons = sorted(set(rejected_metrics) | {k for k, v in expected[0].items() if k not in NOT_REJECTED and v})
    return {r: {"metrics": int(rejected_metrics.get(r, 0)), "expected": expected[0][r]} for r in reasons}


def dropped_section(metrics: Metrics, expected: Outcome) -> dict[str, dict[str, int]]:
    dropped_metrics = metrics.get("gelfingest_dropped_fields_total", {})
    return {r: {"metrics": int(dropped_metrics.get(r, 0)), "expected": expected[1][r]}
            for r in sorted(set(dropped_metrics) | set(expected[1]))}


def chunks_section(metrics: Metrics, sampler: Sampler) -> dict[str, int]:
    chunks = metrics.get("gelfingest_chunked_messages_total", {})
    return {"max_pending_messages": int(sampler.maxima.get("gelfingest_chunks_pending_messages", 0)),
            "max_pending_bytes": int(sampler.maxima.get("gelfingest_chunks_pending_bytes", 0)),
            **{k: int(v) for k, v in chunks.items()},
            "duplicate_chunks": int(one(metrics, "gelfingest_duplicate_chunks_total"))}


def tcp_section(metrics: Metrics) -> dict[str, int]:
    return {"oversize_frames": int(one(metrics, "gelfingest_tcp_oversize_frames_total")),
            "connections": int(one(metrics, "gelfingest_tcp_connections_total")),
            "connections_refused": int(one(metrics, "gelfingest_tcp_connections_refused_total"))}


def queue_section(metrics: Metrics, sampler: Sampler, data_dir: Path) -> dict[str, Any]:
    dlq = list((data_dir / "dlq").glob("*")) if (data_dir / "dlq").exists() else []
    return {"max_events": int(sampler.maxima.get("gelfingest_queue_events", 0)),
            "max_spool_bytes": int(sampler.maxima.get("gelfingest_spool_bytes", 0)),
            "ever_spooling": bool(sampler.maxima.get("gelfingest_spooling", 0)),
            "es_unavailable_samples": sampler.es_unavailable_samples,
            "items_failed": int(one(metrics, "gelfingest_items_failed_total")),
            "dead_lettered": int(one(metrics, "gelfingest_dead_lettered_total")), "dlq_files": len(dlq),
            "items_retried": int(one(metrics, "gelfingest_items_retried_total")),
            "documents_already_there": int(one(metrics, "gelfingest_documents_already_there_total"))}


def processes_section(sampler: Sampler) -> dict[str, Any]:
    """By role (supervisor, worker N): the pids it had (a restart is a new one), CPU and RSS."""
    return {name: process_section(sampler, pids) for name, pids in sorted(sampler.by_role().items())}


def process_section(sampler: Sampler, pids: list[int]) -> dict[str, Any]:
    samples = [s for pid in pids for s in sampler.procs[pid]["rss"]]
    return {"pids": pids, "restarts": len(pids) - 1,
            "cpu_seconds": round(sum(sampler.procs[p]["cpu"] for p in pids), 1), **rss_figures(samples)}


def rss_figures(samples: list[tuple[float, int]]) -> dict[str, Any]:
    """From (seconds into the run, VmRSS KiB) samples."""
    t_end = max((t for t, _ in samples), default=0.0)
    series: dict[str, float] = {}
    for t, kib in samples:
        series.setdefault(str(int(t // 10 * 10)), round(kib / 1024, 1))
    return {
        # Medians of the samples in a window: after the warm-up (10-20 % of the run), and at the end.
        "rss_mib_warm": median_mib([kib for t, kib in samples if t_end * 0.1 <= t <= t_end * 0.2]),
        "rss_mib_end": median_mib([kib for t, kib in samples if t >= t_end * 0.9]),
        "rss_mib_peak": round(max((kib for _, kib in samples), default=0) / 1024, 1),
        "rss_mib_every_10s": series,
    }


def median_mib(kib: list[int]) -> float:
    return round(sorted(kib)[len(kib) // 2] / 1024, 1) if kib else 0.0


def daemon_section(exit_code: int | None, log_text: str, sampler: Sampler) -> dict[str, Any]:
    return {"exit_code": exit_code, "restart_lines": log_text.count("; restarting it"),
            "closing_totals": closing_totals(log_text), "log": analyse_log(log_text),
            "metrics_errors": sampler.metrics_errors}


def build_report(args: argparse.Namespace, plan: Plan, index: str, log_path: Path, collected: list[dict[str, Any]],
                 metrics: Metrics, sampler: Sampler, tids: Counter[str], sequences: Counter[int], untagged: int,
                 settled: int, exit_code: int | None, died: str | None, data_dir: Path) -> dict[str, Any]:
    senders = merge_senders(collected)
    expected = expected_udp_tcp(plan, senders.garbage, senders.info, senders.random_outcome)
    http_status_mismatch = expected_http(plan, senders.info, expected)
    log_text = log_path.read_text(errors="replace")
    return {
        "run": run_section(args, index, log_path, died),
        "good": good_summary(senders.sent, senders.ambiguous, tids),
        "udp_kernel_drops": int(one(metrics, "gelfingest_udp_kernel_drops_total")),
        "index": index_section(settled, tids, sequences, untagged, expected[0]["kept"]),
        "garbage_sent": dict(sorted(senders.garbage.items())),
        "rejected": rejected_section(metrics, expected),
        "dropped_fields": dropped_section(metrics, expected),
        "http_garbage_status_mismatch": http_status_mismatch,
        "chunks": chunks_section(metrics, sampler),
        "tcp": tcp_section(metrics),
        "http_responses": {k: int(v) for k, v in metrics.get("gelfingest_http_responses_total", {}).items()},
        "queue": queue_section(metrics, sampler, data_dir),
        "processes": processes_section(sampler),
        "daemon": daemon_section(exit_code, log_text, sampler),
        "senders": senders.info,
        "metrics_series": sampler.series[:: max(1, len(sampler.series) // 60)],
    }


# -- printing -------------------------------------------------------------------------------------------------------

def row(*cells: Any, widths: tuple[int, ...] = (26, 9, 9, 7, 6, 6)) -> None:
    print("  ".join(f"{c!s:<{w}}" if i == 0 else f"{c!s:>{w}}" for i, (c, w) in enumerate(zip(cells, widths,
                                                                                                   strict=False))))


def print_good(rep: dict[str, Any]) -> None:
    run, good = rep["run"], rep["good"]
    print(f"\nsoak {run['started']}: {run['seconds']} s, {run['workers']} workers, {run['rate']:g} good msg/s, "
          f"commit {run['commit']}")
    row("good messages", "sent", "indexed", "lost", "dup", "other")
    for group, g in good.items():
        other = g["unexpected"] + g["ambiguous_indexed"]
        row(f"  {group}", g["sent"], g["indexed"], g["lost"], g["duplicates"], other)
    s = rep["senders"]
    idx = rep["index"]
    print(f"  udp kernel drops {rep['udp_kernel_drops']}; http 503s resent {s.get('http_503_resent', 0)}; "
          f"sequences {idx['sequences']}, duplicated {idx['sequence_duplicates']}; docs without tid "
          f"{idx['documents_without_tid']} (kept corpus cases, expected {idx['kept_corpus_expected']})")


def print_garbage(rep: dict[str, Any]) -> None:
    print("garbage sent")
    garbage = rep["garbage_sent"]
    udp_corpus = sum(v for k, v in garbage.items() if k.startswith("udp corpus "))
    print(f"  udp corpus cases {udp_corpus} ({sum(1 for k in garbage if k.startswith('udp corpus '))} cases); "
          f"random datagrams {garbage.get('udp random bytes', 0)}; never-completed chunks "
          f"{garbage.get('udp chunk never completed', 0)}")
    print_tcp_garbage(garbage, rep["senders"])
    print_http_garbage(garbage, rep["senders"])


def print_tcp_garbage(garbage: dict[str, int], s: dict[str, Any]) -> None:
    known = ("tcp corpus burst", "tcp huge frame (no terminator)", "tcp idle connection",
             "tcp slow client, cut by the daemon")
    tcp_rot = ", ".join(f"{k[4:]} {v}" for k, v in garbage.items() if k.startswith("tcp ") and k not in known)
    huge = s.get("huge_frames_bytes") or [0]
    slow_cut = sorted({x for xs in s.get("slow_tcp_cut_after_seconds", []) for x in xs})
    print(f"  tcp corpus bursts {garbage.get('tcp corpus burst', 0)} ({s.get('burst_cases', '?')} cases "
          f"each); now and then: {tcp_rot}")
    print(f"  tcp huge frames {garbage.get('tcp huge frame (no terminator)', 0)} x {huge[0] >> 20} MiB (connection "
          f"at end: {s.get('huge_frame_connection_at_end')}); idle connections "
          f"{garbage.get('tcp idle connection', 0)} (at end: {s.get('idle_connections_at_end')}); slow clients cut "
          f"by the daemon {garbage.get('tcp slow client, cut by the daemon', 0)} "
          f"(after {slow_cut[:1]}..{slow_cut[-1:]} s)")


def print_http_garbage(garbage: dict[str, int], s: dict[str, Any]) -> None:
    http_cases = {k: v for k, v in garbage.items() if k.startswith("http ") and k != "http slow client"}
    slow_http = ", ".join(f"{k} x{len(v)} after {min(v)}-{max(v)} s"
                          for k, v in sorted(s.get("slow_http_seconds", {}).items()))
    print(f"  http corpus posts {sum(http_cases.values())} ({len(http_cases)} cases incl. bombs); slow clients: "
          f"{slow_http}")


def print_rejections(rep: dict[str, Any]) -> None:
    print(f"  {'rejected (metrics)':<24}  {'count':>9}  {'expected':>9}")
    for reason, v in rep["rejected"].items():
        flag = "" if v["metrics"] == v["expected"] else "  <- differs"
        print(f"    {reason:<22}  {v['metrics']:>9}  {v['expected']:>9}{flag}")
    print("  dropped fields: " + ", ".join(f"{r} {v['metrics']} (expected {v['expected']})"
                                           for r, v in rep["dropped_fields"].items()))
    if rep["http_garbage_status_mismatch"]:
        print(f"  http answers not as expected: {rep['http_garbage_status_mismatch']}")


def print_output(rep: dict[str, Any]) -> None:
    c, t, q = rep["chunks"], rep["tcp"], rep["queue"]
    print(f"chunks: max pending {c['max_pending_messages']} messages / {c['max_pending_bytes'] / 2**20:.1f} MiB; "
          f"completed {c.get('completed', 0)}, expired {c.get('expired', 0)}, evicted {c.get('evicted', 0)}")
    print(f"tcp: {t['connections']} connections, {t['connections_refused']} refused, {t['oversize_frames']} oversize "
          f"frames; http answers {rep['http_responses']}")
    print(f"output: max queue {q['max_events']} events, spooled {q['ever_spooling']}, retried {q['items_retried']}, "
          f"failed {q['items_failed']}, dead letters {q['dead_lettered']}")


def print_processes(rep: dict[str, Any]) -> None:
    print(f"{'process':<12}  {'pids':<14}  {'restarts':>8}  {'cpu s':>7}  {'RSS MiB warm':>12}  {'end':>6}  "
          f"{'peak':>6}")
    for name, p in rep["processes"].items():
        pids = ",".join(map(str, p["pids"]))
        print(f"{name:<12}  {pids:<14}  {p['restarts']:>8}  {p['cpu_seconds']:>7}  {p['rss_mib_warm']:>12}  "
              f"{p['rss_mib_end']:>6}  {p['rss_mib_peak']:>6}")


def print_daemon(rep: dict[str, Any]) -> None:
    d = rep["daemon"]
    log = d["log"]
    print(f"daemon: exit {d['exit_code']}, restart lines {d['restart_lines']}; log {log['lines']} lines "
          f"{log['levels']}; rejection lines: first-of-reason {log['rejection_first_lines']}, summaries "
          f"{log['rejection_summary_lines']} (min gap s {log['rejection_summary_min_gap_seconds']})")
    ct = d["closing_totals"]
    print(f"  workers' closing lines: {ct['decoded']} decoded, {ct['delivered']} delivered, "
          f"{sum(ct['rejected'].values())} rejected (metrics: {sum(v['metrics'] for v in rep['rejected'].values())}); "
          f"documents in the index {rep['index']['sequences']}")
    print("noisiest log lines:")
    for shape, n in log["noisiest"][:5]:
        print(f"  {n:>6}  {shape[:140]}")


def print_report(rep: dict[str, Any]) -> None:
    print_good(rep)
    print_garbage(rep)
    print_rejections(rep)
    print_output(rep)
    print_processes(rep)
    print_daemon(rep)
