"""The live watch at a provider node: the orders in force, the matching of arriving traffic
data, and the reporting of every hit (stored, audited, sent to the requester) within a second.

Threads: the listeners (``listeners.py``) receive and frame input and hand batches of lines or
decoded flow records to a processing thread (UDP syslog is received in child processes that
hand batches over a pipe to a reader thread here); matches become ``PendingHit`` s on a queue that a
reporter thread drains every ``report_interval`` seconds into one database transaction (hits,
one audit entry each, one exchange message per order); a delivery thread then runs a delivery
round (while the next hits are recorded). A thread
refreshes the orders every second and closes expired ones. Nothing is dropped silently: every
refused input (oversize, over the rate limit, malformed, undecodable, queue full) is counted in
``WatchStats``, listed in its recent problems, and summarised in the audit log every minute.
"""

from __future__ import annotations

import bisect
import contextlib
import gzip
import logging
import os
import queue
import tempfile
import threading
import time
from collections import deque
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from trailguard.audit import record
from trailguard.network import deliver_pending
from trailguard.node import Node
from trailguard.traffic.model import FormatError, ParseOptions, Parser
from trailguard.traffic.watch import service
from trailguard.traffic.watch.listeners import start_listeners
from trailguard.traffic.watch.matcher import CompiledOrders
from trailguard.traffic.watch.service import PendingHit
from trailguard.traffic.watch.settings import WatchSettings, WatchStats

log = logging.getLogger(__name__)

# pyarrow's conversion of Python values tries ``import dateutil.relativedelta`` on every call
# when python-dateutil is absent (a failed import is not cached, and it costs a walk over
# sys.path each time: about 40% of the time of parsing a small batch). Cache the absence.
try:
    import dateutil.relativedelta  # noqa: F401
except ImportError:
    import sys as _sys

    _sys.modules.setdefault("dateutil.relativedelta", None)  # type: ignore[arg-type]

DROP_COUNTERS = (
    "oversize", "rate_limited", "bad_encoding", "framing_errors", "queue_overflow",
    "unparsed_candidates", "ipfix_malformed", "ipfix_truncated", "ipfix_unknown_template",
    "kernel_drops", "receiver_backlog_overflow",
)  # fmt: skip


class WatchRuntime:
    def __init__(self, node: Node, settings: WatchSettings | None = None) -> None:
        self.node = node
        self.settings = settings or WatchSettings()
        self.stats = WatchStats()
        self.compiled = CompiledOrders.build([])
        self._version = -1
        self._last_refresh = 0.0
        self._stop = threading.Event()
        self.hits: queue.Queue[PendingHit] = queue.Queue()
        self.batches: queue.Queue[tuple[bytes, list[tuple[int, str]], float]] = queue.Queue(
            maxsize=self.settings.line_queue
        )
        self._threads: list[threading.Thread] = []
        self.listeners: list[Any] = []
        self._audited: dict[str, int] = {}
        self._tz = self.settings.tz or node.config.timezone
        self._retry: list[PendingHit] = []
        self._awaiting: dict[str, list[float]] = {}  # message id -> arrival perf of its hits
        self._awaiting_lock = threading.Lock()
        self._deliver_wanted = threading.Event()
        self._deliver_lock = threading.Lock()  # one delivery round at a time

    # -- lifecycle ------------------------------------------------------------------------
    def start(self) -> WatchRuntime:
        self.refresh_orders(force=True)
        loops = [("orders", self._orders_loop), ("lines", self._lines_loop),
                 ("report", self._report_loop), ("deliver", self._deliver_loop)]  # fmt: skip
        for name, target in loops:
            t = threading.Thread(target=target, name=f"watch-{name}", daemon=True)
            t.start()
            self._threads.append(t)
        self.listeners = start_listeners(self)
        return self

    def stop(self, timeout: float = 10.0) -> None:
        for listener in self.listeners:
            listener.stop()
        self.drain(timeout)
        self._stop.set()
        for t in self._threads:
            t.join(timeout)
        self._report_now()
        self._audit_drops(final=True)

    def drain(self, timeout: float = 10.0) -> None:
        """Wait until every batch received so far is processed and its hits reported."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if (
                self.batches.unfinished_tasks == 0
                and self.hits.unfinished_tasks == 0
                and not (self.settings.deliver and self._awaiting)
            ):
                return
            time.sleep(0.005)

    # -- orders ---------------------------------------------------------------------------
    def refresh_orders(self, force: bool = False) -> None:
        version = service.orders_version()
        now = time.monotonic()
        if not force and version == self._version and now - self._last_refresh < 1.0:
            return
        with self.node.db.session() as session:
            service.expire_orders(session, self.node)
            orders = service.active_orders(session, self.node.clock.now())
        self.compiled = CompiledOrders.build(orders)
        self._version = service.orders_version()
        self._last_refresh = now

    def _orders_loop(self) -> None:
        last_audit = time.monotonic()
        while not self._stop.wait(0.1):
            try:
                self.refresh_orders()
                if time.monotonic() - last_audit >= 60:
                    self._audit_drops()
                    last_audit = time.monotonic()
            except Exception as exc:  # keep watching; the failure is counted and shown
                self.stats.add("order_refresh_failures")
                self.stats.problem("orders", f"refreshing the orders failed: {exc}")
                log.exception("watch order refresh failed")

    def _audit_drops(self, final: bool = False) -> None:
        counts = self.stats.snapshot()
        for listener in self.listeners:
            drops = getattr(listener, "kernel_drops", lambda: 0)()
            if drops:
                counts["kernel_drops"] = counts.get("kernel_drops", 0) + drops
        delta = {k: counts.get(k, 0) - self._audited.get(k, 0) for k in DROP_COUNTERS}
        delta = {k: v for k, v in delta.items() if v > 0}
        if not delta and not final:
            return
        with self.node.db.session() as session:
            record(session, actor="system:watch", action="traffic.watch_input_refused",
                   subject=f"node:{self.node.config.node_id}",
                   details={"since_last": delta, "totals": {k: counts.get(k, 0)
                                                            for k in DROP_COUNTERS}},
                   at=self.node.clock.now())  # fmt: skip
        self._audited = {k: counts.get(k, 0) for k in DROP_COUNTERS}

    # -- lines ----------------------------------------------------------------------------
    def submit_blob(self, data: bytes, runs: list[tuple[int, str]], arrived_perf: float) -> None:
        """Hand newline-terminated lines to the processing thread (from a listener); ``runs``
        gives (end line index, source) of each stretch. Counted if refused."""
        try:
            self.batches.put_nowait((data, runs, arrived_perf))
        except queue.Full:
            lines = runs[-1][0] if runs else 0
            self.stats.add("queue_overflow", lines)
            self.stats.problem(runs[0][1] if runs else "?",
                               f"processing queue full: {lines} lines refused")  # fmt: skip

    def _lines_loop(self) -> None:
        while not self._stop.is_set():
            try:
                first = self.batches.get(timeout=0.05)
            except queue.Empty:
                continue
            # batches that queued up while the previous group was processed are taken
            # together: the parse of candidate lines has a fixed cost per call (tens of ms for
            # a vendor parser), so a backlog is worked off in fewer, larger calls; an idle
            # runtime still processes each batch as soon as it comes
            group = [first]
            lines = first[1][-1][0] if first[1] else 0
            while lines < self.settings.coalesce_lines:
                try:
                    item = self.batches.get_nowait()
                except queue.Empty:
                    break
                group.append(item)
                lines += item[1][-1][0] if item[1] else 0
            try:
                self.process_group(group, self.node.clock.now())
            except Exception as exc:
                self.stats.add("processing_failures", lines)
                self.stats.problem(first[1][0][1] if first[1] else "?", f"processing failed: {exc}")
                log.exception("watch line processing failed")
            finally:
                for _ in group:
                    self.batches.task_done()

    def process_group(
        self, group: list[tuple[bytes, list[tuple[int, str]], float]], arrived_at: datetime
    ) -> int:
        """Match several queued batches in one pass; each hit keeps the arrival time of its
        own batch."""
        if len(group) == 1:
            data, runs, perf = group[0]
            return self.process_blob(data, runs, arrived_at, perf)
        runs_all: list[tuple[int, str]] = []
        perfs: list[tuple[int, float]] = []
        offset = 0
        for _data, runs, perf in group:
            runs_all += [(end + offset, src) for end, src in runs]
            offset += runs[-1][0] if runs else 0
            perfs.append((offset, perf))
        data = b"".join(item[0] for item in group)
        return self.process_blob(data, runs_all, arrived_at, group[0][2], perfs)

    def process_blob(
        self,
        data: bytes,
        runs: list[tuple[int, str]],
        arrived_at: datetime,
        arrived_perf: float,
        perfs: list[tuple[int, float]] | None = None,
    ) -> int:
        """Match newline-terminated lines given as bytes; returns the number of hits queued.

        The common case (valid UTF-8, IPv4 orders) stays on the bytes: line ends and framing
        counts with numpy, the watched addresses found with ``bytes.find`` (C speed over the
        whole batch), and only the lines they fall in are decoded and parsed. Other input
        (bad encoding, IPv6 orders) takes the Arrow path (RE2 over a string column)."""
        try:
            data.decode("utf-8")
        except UnicodeDecodeError:
            utf8 = False
        else:
            utf8 = True
        compiled = self.compiled
        if not utf8 or (compiled and compiled.literals is None):
            arr = self._lines_array(data, runs)
            return self._process_array(arr, runs, arrived_at, arrived_perf, perfs)
        view = np.frombuffer(data, dtype=np.uint8)
        ends = np.flatnonzero(view == 10)
        self.stats.add("lines", len(ends))
        if not len(ends):
            return 0
        self._count_framing_bytes(view, ends)
        if not compiled:
            return 0
        idx = compiled.candidate_lines(data, ends)
        if not idx:
            return 0
        starts = [0 if i == 0 else int(ends[i - 1]) + 1 for i in idx]
        cand = [
            data[a : int(ends[i])].decode("utf-8").rstrip("\r\n")
            for a, i in zip(starts, idx, strict=True)
        ]
        return self._match_candidates(cand, idx, runs, arrived_at, arrived_perf, perfs)

    def process_lines(
        self, lines: list[str], sources: list[str], arrived_at: datetime, arrived_perf: float
    ) -> int:
        """Match a batch of lines given as text (one source per line)."""
        runs: list[tuple[int, str]] = []
        for i, src in enumerate(sources):
            if runs and runs[-1][1] == src:
                runs[-1] = (i + 1, src)
            else:
                runs.append((i + 1, src))
        return self._process_array(pa.array(lines, pa.string()), runs, arrived_at, arrived_perf)

    def _lines_array(self, data: bytes, runs: list[tuple[int, str]]) -> pa.Array:
        view = np.frombuffer(data, dtype=np.uint8)
        ends = np.flatnonzero(view == 10)
        offsets = np.zeros(len(ends) + 1, dtype=np.int64)
        offsets[1:] = ends + 1
        big = len(data) >= 2**31 - 1
        arr = pa.Array.from_buffers(
            pa.large_string() if big else pa.string(), len(ends),
            [None, pa.py_buffer(offsets if big else offsets.astype(np.int32)),
             pa.py_buffer(data)],
        )  # fmt: skip
        try:
            arr.validate(full=True)
        except pa.ArrowInvalid:
            texts: list[str] = []
            for i, raw in enumerate(data.split(b"\n")[: len(ends)]):
                try:
                    texts.append(raw.decode("utf-8"))
                except UnicodeDecodeError:
                    texts.append("")
                    self.stats.add("bad_encoding")
                    self.stats.problem(_source_of(runs, i), f"not UTF-8: {raw[:80]!r}")
            arr = pa.array(texts, pa.string())
        return pc.utf8_rtrim(arr, characters="\r\n")

    def _process_array(
        self,
        arr: pa.Array,
        runs: list[tuple[int, str]],
        arrived_at: datetime,
        arrived_perf: float,
        perfs: list[tuple[int, float]] | None = None,
    ) -> int:
        """``perfs``: (end line index, arrival perf) of each batch of a group (else every
        line arrived at ``arrived_perf``)."""
        self.stats.add("lines", len(arr))
        if not len(arr):
            return 0
        self._count_framing(arr)
        compiled = self.compiled
        if not compiled:
            return 0
        mask = compiled.candidates(arr)
        idx = pc.indices_nonzero(mask).to_pylist()
        if not idx:
            return 0
        cand = arr.take(pa.array(idx)).to_pylist()
        return self._match_candidates(cand, idx, runs, arrived_at, arrived_perf, perfs)

    def _match_candidates(
        self,
        cand: list[str],
        idx: list[int],
        runs: list[tuple[int, str]],
        arrived_at: datetime,
        arrived_perf: float,
        perfs: list[tuple[int, float]] | None,
    ) -> int:
        """Parse the candidate lines (line ``idx[k]`` of the batch is ``cand[k]``), match them
        and queue the hits."""
        compiled = self.compiled
        self.stats.add("candidates", len(idx))
        sources = [_source_of(runs, i) for i in idx]
        records = self._parse_lines(cand, sources, arrived_at)
        matches = compiled.match_records(records, arrived_at)
        for order, rec in matches:
            line_no = int(rec.get("source_line") or 0)
            raw = cand[line_no - 1] if 0 < line_no <= len(cand) else ""
            src = sources[line_no - 1] if 0 < line_no <= len(cand) else "syslog"
            perf = arrived_perf
            if perfs and 0 < line_no <= len(cand):
                perf = _perf_of(perfs, idx[line_no - 1])
            self._queue_hit(order, rec, raw, src, arrived_at, perf)
        return len(matches)

    def _count_framing_bytes(self, view: np.ndarray, ends: np.ndarray) -> None:
        """``_count_framing`` on the raw batch: the bytes after each line start, gathered."""
        n = len(ends)
        starts = np.empty(n, dtype=np.int64)
        starts[0] = 0
        starts[1:] = ends[:-1] + 1
        head = np.zeros((n, 7), dtype=np.uint8)  # "<191>1 " at most; past a line end: "\n"
        padded = np.concatenate([view, np.full(7, 10, dtype=np.uint8)])
        for k in range(7):
            head[:, k] = padded[starts + k]
        # a line shorter than 7 bytes: what follows its newline must not count
        length = ends - starts
        head[np.arange(7)[None, :] >= length[:, None]] = 10
        digit = (head >= 48) & (head <= 57)
        lt = head[:, 0] == 60
        close = np.full(n, -1, dtype=np.int64)
        for width in (3, 2, 1):  # <d>, <dd>, <ddd>: the longest form that fits
            ok = lt & digit[:, 1 : 1 + width].all(axis=1) & (head[:, 1 + width] == 62)
            close = np.where(ok & (close < 0), 1 + width, close)
        pri = close > 0
        value = np.zeros(n, dtype=np.int64)
        for k in range(1, 4):
            use = pri & (k < close)
            value = np.where(use, value * 10 + head[:, k].astype(np.int64) - 48, value)
        after = np.clip(close + 1, 0, 5)
        rows = np.arange(n)
        v1 = pri & (head[rows, after] == 49) & (head[rows, after + 1] == 32)
        # as the regex ^<(?:19[2-9]|[2-9]\d\d)>: three digits, 192..999
        bad = pri & (close == 4) & (value >= 192)
        n_pri, n_v1, n_bad = int(pri.sum()), int(v1.sum()), int(bad.sum())
        self.stats.add("rfc5424", n_v1)
        self.stats.add("rfc3164", n_pri - n_v1 - n_bad)
        self.stats.add("bad_pri", n_bad)
        self.stats.add("unframed", n - n_pri)

    def _count_framing(self, arr: pa.Array) -> None:
        """Count RFC 5424, RFC 3164 (a PRI, no version), bad PRI (over 191) and unframed
        lines, vectorised."""
        n = len(arr)
        head = pc.utf8_slice_codeunits(arr, 0, 7)  # "<191>1 " at most: scan 7, not 150 chars
        pri = pc.sum(pc.match_substring_regex(head, r"^<\d{1,3}>")).as_py() or 0
        v1 = pc.sum(pc.match_substring_regex(head, r"^<\d{1,3}>1 ")).as_py() or 0
        bad = pc.sum(pc.match_substring_regex(head, r"^<(?:19[2-9]|[2-9]\d\d)>")).as_py() or 0
        self.stats.add("rfc5424", v1)
        self.stats.add("rfc3164", pri - v1 - bad)
        self.stats.add("bad_pri", bad)
        self.stats.add("unframed", n - pri)

    def _parse_lines(
        self, lines: list[str], sources: list[str], arrived_at: datetime
    ) -> list[dict[str, Any]]:
        parser = self.settings.parser or self._detect(lines)
        if parser is None:
            self.stats.add("unparsed_candidates", len(lines))
            self.stats.problem(sources[0], f"no parser recognises the line: {lines[0][:200]}")
            return []
        fd, name = tempfile.mkstemp(prefix="tg-watch-", suffix=".log")
        path = Path(name)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write("\n".join(line.replace("\n", " ") for line in lines) + "\n")
            options = ParseOptions(tz=self._tz, year=arrived_at.year, source_name="watch")
            records: list[dict[str, Any]] = []
            for batch in parser.parse(path, options):
                records += batch.table.to_pylist()
                if batch.bad_lines:
                    self.stats.add("unparsed_candidates", len(batch.bad_lines))
                    for bad in batch.bad_lines[:5]:
                        self.stats.problem(sources[bad.line_no - 1] if bad.line_no <= len(sources)
                                           else "syslog", f"{bad.reason}: {bad.text}")  # fmt: skip
            return records
        except FormatError as exc:
            self.stats.add("unparsed_candidates", len(lines))
            self.stats.problem(sources[0], f"{parser.NAME}: {exc}")
            return []
        finally:
            with contextlib.suppress(OSError):
                path.unlink()

    @staticmethod
    def _detect(lines: list[str]) -> Parser | None:
        # the parsers register on import and compile numba scanners
        from trailguard.traffic.parsers import DETECT_THRESHOLD, all_parsers

        head = lines[:20]
        scored = sorted(((p.detect(head), p.NAME, p) for p in all_parsers()),
                        key=lambda x: (-x[0], x[1]))  # fmt: skip
        if scored and scored[0][0] >= DETECT_THRESHOLD:
            return scored[0][2]
        return None

    # -- records (IPFIX, files) -----------------------------------------------------------
    def process_records(
        self,
        records: list[dict[str, Any]],
        source: str,
        raw: str,
        arrived_at: datetime,
        arrived_perf: float,
    ) -> int:
        compiled = self.compiled
        self.stats.add("records", len(records))
        if not compiled or not records:
            return 0
        matches = compiled.match_records(records, arrived_at)
        for order, rec in matches:
            self._queue_hit(order, rec, raw, source, arrived_at, arrived_perf)
        return len(matches)

    def ingest_file(
        self, path: Path, parser: Parser | None = None, options: ParseOptions | None = None
    ) -> dict[str, int]:
        """Match every record of a file (plain or gzip, any registered format); the file's
        bad lines are counted. Returns counts: records, bad_lines, hits."""
        # the parsers register on import and compile numba scanners
        from trailguard.traffic.parsers import detect_format

        parser = parser or detect_format(path)
        options = options or ParseOptions(tz=self._tz)
        now = self.node.clock.now()
        perf = time.perf_counter()
        source = f"file:{path.name}"
        self.refresh_orders()
        compiled = self.compiled
        counts = {"records": 0, "bad_lines": 0, "hits": 0}
        raw_lines: list[str] | None = None
        for batch in parser.parse(path, options):
            counts["records"] += batch.table.num_rows
            counts["bad_lines"] += len(batch.bad_lines)
            for order, rec in compiled.match_table(batch.table, now):
                if raw_lines is None:
                    raw_lines = _read_lines(path)
                line_no = int(rec.get("source_line") or 0)
                raw = raw_lines[line_no - 1] if 0 < line_no <= len(raw_lines) else ""
                self._queue_hit(order, rec, raw, source, now, perf)
                counts["hits"] += 1
        self.stats.add("files")
        self.stats.add("file_records", counts["records"])
        self.stats.add("file_bad_lines", counts["bad_lines"])
        return counts

    # -- hits -----------------------------------------------------------------------------
    def _queue_hit(
        self,
        order: Any,
        rec: dict[str, Any],
        raw: str,
        source: str,
        arrived_at: datetime,
        perf: float,
    ) -> None:
        assert order.id is not None
        self.stats.add("hits")
        self.hits.put(
            PendingHit(
                order.id,
                order.order_ref,
                order.requester,
                arrived_at,
                source,
                rec,
                raw,
                arrived_perf=perf,
                queued_perf=time.perf_counter(),
            )
        )

    def _report_loop(self) -> None:
        while not self._stop.is_set():
            try:
                first = self.hits.get(timeout=self.settings.report_interval)
            except queue.Empty:
                if self._retry:
                    self._report([])
                elif self._awaiting and self.settings.deliver:
                    self._deliver_wanted.set()  # reports still waiting for their delivery
                continue
            batch = [first]
            while len(batch) < 1000:
                try:
                    batch.append(self.hits.get_nowait())
                except queue.Empty:
                    break
            self._report(batch, deliver_now=False)
            for _ in batch:
                self.hits.task_done()

    def _deliver_loop(self) -> None:
        """Delivery rounds in a thread of their own: the report loop records the next hits
        while a round's HTTP exchange is in flight."""
        while not self._stop.is_set():
            if self._deliver_wanted.wait(0.05):
                self._deliver_wanted.clear()
                self._deliver_round()

    def flush(self) -> None:
        """Record and report the hits queued so far, now (file ingest, tests, shutdown)."""
        self._report_now()

    def _report_now(self) -> None:
        batch = []
        while True:
            try:
                batch.append(self.hits.get_nowait())
                self.hits.task_done()
            except queue.Empty:
                break
        if batch or self._retry:
            self._report(batch)

    def _report(self, batch: list[PendingHit], deliver_now: bool = True) -> None:
        batch = self._retry + batch
        self._retry = []
        if not batch:
            return
        try:
            with self.node.db.session() as session:
                sent = service.record_hits(session, self.node, batch)
        except Exception as exc:  # kept and retried: a hit is never dropped
            self._retry = batch
            self.stats.add("report_failures")
            self.stats.problem("report", f"recording {len(batch)} hits failed, retrying: {exc}")
            log.exception("watch hit report failed")
            time.sleep(0.2)
            return
        done = time.perf_counter()
        for hit in batch:
            self.stats.latency_reported.append(done - hit.arrived_perf)
            self.stats.latency_matched.append(hit.queued_perf - hit.arrived_perf)
        self.stats.add("reported", len(batch))
        if self.settings.deliver:
            with self._awaiting_lock:
                for i, hit in enumerate(batch):
                    if i in sent:
                        self._awaiting.setdefault(sent[i], []).append(hit.arrived_perf)
            if deliver_now:
                self._deliver_round()
            else:
                self._deliver_wanted.set()

    def _deliver_round(self) -> None:
        """A delivery round right after a report is committed (the exchange's own worker,
        when running, also delivers; its lock keeps one round at a time)."""
        try:
            with self._deliver_lock:
                report = deliver_pending(self.node, transport=self.settings.transport)
        except Exception as exc:  # the outbox keeps the report; the worker retries it
            self.stats.add("delivery_failures")
            self.stats.problem("delivery", f"delivery round failed: {exc}")
            return
        end = time.perf_counter()
        with self._awaiting_lock:
            for message_id in report.delivered:
                for perf in self._awaiting.pop(message_id, []):
                    self.stats.latency_delivered.append(end - perf)
                    self.stats.add("delivered")
            for message_id in list(report.rejected) + list(report.failed):
                lost = self._awaiting.pop(message_id, [])
                self.stats.add("report_refused", len(lost))
                reason = report.rejected.get(message_id) or report.failed.get(message_id)
                self.stats.problem("delivery", f"report {message_id} not accepted: {reason}")


def _source_of(runs: list[tuple[int, str]], i: int) -> str:
    """The source of line ``i`` given (end index, source) runs."""
    k = bisect.bisect_right([end for end, _ in runs], i)
    return runs[k][1] if k < len(runs) else (runs[-1][1] if runs else "?")


def _perf_of(perfs: list[tuple[int, float]], i: int) -> float:
    """The arrival perf of line ``i`` given (end index, perf) of consecutive batches."""
    k = bisect.bisect_right([end for end, _ in perfs], i)
    return perfs[min(k, len(perfs) - 1)][1]


def _read_lines(path: Path) -> list[str]:
    opener = gzip.open if path.read_bytes()[:2] == b"\x1f\x8b" else open
    with opener(path, "rt", encoding="utf-8", errors="replace") as fh:
        return fh.read().splitlines()


def percentile(values: list[float] | deque[float], q: float) -> float:
    data = sorted(values)
    if not data:
        return float("nan")
    k = min(len(data) - 1, max(0, round(q / 100 * (len(data) - 1))))
    return data[k]
