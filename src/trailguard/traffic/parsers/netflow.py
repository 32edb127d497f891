"""NetFlow v5, NetFlow v9 and IPFIX export packets, from raw packet files or pcap / pcapng
captures, including the NAT event information elements of RFC 8158.

Sources followed:
- NetFlow v5 export format (header and 48-byte record), Cisco, "NetFlow Export Datagram Format":
  https://www.cisco.com/c/en/us/td/docs/net_mgmt/netflow_collection_engine/3-6/user/guide/format.html
- NetFlow v9, RFC 3954 (header, template/options template FlowSets 0 and 1, data FlowSets
  >= 256, padding): https://www.rfc-editor.org/rfc/rfc3954
- IPFIX, RFC 7011 (message header with length, sets 2/3/>=256, enterprise bit, variable-length
  fields, template withdrawal) and RFC 5655 (a file of IPFIX messages is the messages one after
  another): https://www.rfc-editor.org/rfc/rfc7011 https://www.rfc-editor.org/rfc/rfc5655
- Information element numbers: IANA "IP Flow Information Export (IPFIX) Entities":
  https://www.iana.org/assignments/ipfix/ipfix.xhtml
- NAT logging, RFC 8158 (natEvent values 1..18, postNATSourceIPv4Address 225,
  postNAPTSourceTransportPort 227, portRangeStart/End 361/362, ...):
  https://www.rfc-editor.org/rfc/rfc8158
- pcap file format (classic libpcap, microsecond and nanosecond variants):
  https://www.tcpdump.org/manpages/pcap-savefile.5.html and link types
  https://www.tcpdump.org/linktypes.html

The decoder is struct-based with a bounds check before every read (no third-party decoder: the
one candidate on PyPI, ``netflow``, raises on the first unknown template and gives no way to
count and report per packet; see the issue 6 report). Input is untrusted: a truncated or
malformed packet, an unknown set id, a template with an impossible length, a data set whose
template is unknown, all become counted problems with the packet number, never an exception.

Data sets that arrive before their template are held (bounded: ``MAX_PENDING_SETS`` per
decoder) and decoded when the template comes, counted as ``before_template``; whatever is still
held at the end (or pushed out of the bound) is counted and reported as ``unknown_template``.

Normalisation: a record with an RFC 8158 port-block event (16/17) or portRangeStart is a
``port_block`` (inside = source address, public = postNATSourceIPv4Address, ports
portRangeStart..portRangeEnd); a record with another translation event or post-NAT fields is a
``nat`` translation; other records are ``flow`` (public = source, dst = destination). natEvent
values that log no mapping (3 addresses exhausted, 12 ports exhausted, 13 quota exceeded,
18 threshold reached) give no record and are counted in ``skipped_lines``.

Closing periods. RFC 8158 logs the end of a mapping as its own record: natEvent 17 "NAT port
block de-allocation" (section 4.1, table of natEvent values; its template in section 4.4 carries
the event's timestamp, the inside address, postNATSourceIPv4Address and portRangeStart/End, not
the time the block was allocated) and the delete events that answer the create events 1/2
(NAT translation create/delete, as NetFlow v9 NAT Event Logging writes them), 4/5 (NAT44 session
create/delete), 6/7 (NAT64 session), 8/9 and 10/11 (NAT44/NAT64 BIB), 14/15 (address binding);
natEvent values as in the IANA "natEvent" registry,
https://www.iana.org/assignments/ipfix/ipfix.xhtml#ipfix-nat-event-type . A de-allocation or
delete therefore closes the period its allocation or create opened, the way the Juniper
port-block parser reads a RELEASE: the decoder keeps the start of every open block (exporter,
inside address, public address, first and last port) and session (exporter, event pair, inside
address and port, public address and port, protocol, destination), and the closing record
becomes an event ``teardown`` with ``start`` = the allocation's start and ``end`` = the closing
record's time. The store's session grouping (same kind, addresses, ports and protocol, starts
within a second) then merges the create and the teardown into one session ``[start, end]``, so
a lookup after the release no longer returns the block's previous holder. A closing record
whose opening record is not in the same file or stream (the allocation logged before the file
began) is kept closed at its own instant (``start`` = ``end``: the holder is known at the
release, not before it) and counted (``releases_without_allocation`` for blocks,
``deletes_without_create`` for sessions) in the decoder counts and the batch's notes. At most
``MAX_OPEN`` blocks and sessions are held open per decoder; the oldest are forgotten past that
(counted as ``open_forgotten``; their closing records are then counted as above). ``source_line`` is
the 1-based number of the export packet in the file; ``device`` the exporter address (pcap) or
``odid=<observation domain / source id>`` (raw files).
"""

from __future__ import annotations

import gzip
import ipaddress
import struct
import zlib
from collections import OrderedDict, deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import pyarrow as pa

from trailguard.traffic.model import (
    RECORD_SCHEMA,
    BadLine,
    FormatError,
    ParsedBatch,
    ParseOptions,
    RecordKind,
)
from trailguard.traffic.parsers import _common as c

MAX_TEMPLATES = 4096  # per decoder; the oldest are forgotten past this
MAX_PENDING_SETS = 256  # data sets held while their template is unknown
MAX_OPEN = 262_144  # open port blocks / sessions remembered to close them (each)
MAX_FILE_BYTES = 2 * 1024**3

# information elements used (IANA numbers; 1..127 are shared with NetFlow v9)
IE_OCTETS, IE_PACKETS, IE_PROTO = 1, 2, 4
IE_SRC_PORT, IE_SRC_V4, IE_DST_PORT, IE_DST_V4 = 7, 8, 11, 12
IE_END_UPTIME, IE_START_UPTIME = 21, 22
IE_SRC_V6, IE_DST_V6 = 27, 28
IE_OCTETS_TOTAL, IE_PACKETS_TOTAL = 85, 86
IE_START_S, IE_END_S, IE_START_MS, IE_END_MS = 150, 151, 152, 153
IE_START_US, IE_END_US, IE_START_NS, IE_END_NS = 154, 155, 156, 157
IE_SYS_INIT_MS = 160
IE_POST_SRC_V4, IE_POST_DST_V4, IE_POST_SRC_PORT, IE_POST_DST_PORT = 225, 226, 227, 228
IE_NAT_EVENT = 230
IE_POST_SRC_V6, IE_POST_DST_V6 = 281, 282
IE_OBS_S, IE_OBS_MS = 322, 323
IE_PORT_START, IE_PORT_END, IE_PORT_STEP, IE_PORT_NUM = 361, 362, 363, 364

_ADDR4 = {IE_SRC_V4, IE_DST_V4, IE_POST_SRC_V4, IE_POST_DST_V4}
_ADDR6 = {IE_SRC_V6, IE_DST_V6, IE_POST_SRC_V6, IE_POST_DST_V6}
_NTP = {IE_START_US, IE_END_US, IE_START_NS, IE_END_NS}
_NTP_EPOCH_OFFSET = 2_208_988_800  # seconds from 1900-01-01 to 1970-01-01

# RFC 8158 section 4.1 natEvent values
NAT_CREATE_EVENTS = {1, 4, 6, 8, 10, 14}
NAT_DELETE_EVENTS = {2, 5, 7, 9, 11, 15}
BLOCK_ALLOC, BLOCK_DEALLOC = 16, 17
NAT_NO_MAPPING_EVENTS = {3, 12, 13, 18}
# each delete event answers the create event one below it (1/2, 4/5, 6/7, 8/9, 10/11, 14/15)
assert {e + 1 for e in NAT_CREATE_EVENTS} == NAT_DELETE_EVENTS
_PROTO = {1: "icmp", 6: "tcp", 17: "udp", 58: "icmp6", 132: "sctp", 47: "gre", 50: "esp"}


@dataclass(frozen=True)
class Template:
    template_id: int
    fields: tuple[tuple[int, int, int], ...]  # (element id, length or 65535, enterprise)
    scope_count: int = 0
    options: bool = False

    @property
    def min_length(self) -> int:
        return sum(1 if ln == 65535 else ln for _, ln, _ in self.fields)


@dataclass
class DecodeStats:
    """What the decoder saw; every problem is also listed with its packet in ``problems``."""

    packets: int = 0
    records: int = 0
    templates: int = 0
    malformed: int = 0  # packets or sets that could not be read (short, bad lengths, ...)
    truncated: int = 0  # packets cut short
    unknown_template: int = 0  # data sets whose template never came
    before_template: int = 0  # data sets held until their template came
    no_mapping_events: int = 0  # natEvent 3/12/13/18: logged, no mapping
    options_records: int = 0  # options data (exporter metadata), not traffic
    releases_without_allocation: int = 0  # natEvent 17 whose allocation this decoder never saw
    deletes_without_create: int = 0  # session delete events whose create it never saw
    open_forgotten: int = 0  # open blocks / sessions dropped past MAX_OPEN
    problems: list[tuple[int, str]] = field(default_factory=list)

    def problem(self, packet_no: int, reason: str) -> None:
        if len(self.problems) < 100_000:
            self.problems.append((packet_no, reason))

    def as_dict(self) -> dict[str, int]:
        return {k: v for k, v in self.__dict__.items() if isinstance(v, int)}


class PacketError(ValueError):
    """The packet cannot be read at all (reported by the caller with the packet number)."""


def _need(data: bytes | memoryview, pos: int, size: int, what: str) -> None:
    if pos < 0 or size < 0 or pos + size > len(data):
        raise PacketError(
            f"truncated: {what} needs {size} bytes at offset {pos}, the packet has {len(data)}"
        )


def _ntp_us(raw: bytes) -> int:
    secs, frac = struct.unpack("!II", raw)
    return (secs - _NTP_EPOCH_OFFSET) * 1_000_000 + (frac * 1_000_000 >> 32)


class FlowDecoder:
    """Decodes export packets into record dicts (RECORD_SCHEMA names), keeping templates per
    (exporter, version, observation domain) across packets. Not thread-safe: one per source."""

    def __init__(self, stats: DecodeStats | None = None) -> None:
        self.stats = stats or DecodeStats()
        self.templates: OrderedDict[tuple[str, int, int, int], Template] = OrderedDict()
        self.pending: deque[tuple[tuple[str, int, int, int], bytes, int, dict[str, int]]] = deque()
        self.late: list[dict[str, Any]] = []
        # start (us) of every open block / session, by its key (see the module docstring)
        self.open_blocks: OrderedDict[tuple[Any, ...], int] = OrderedDict()
        self.open_sessions: OrderedDict[tuple[Any, ...], int] = OrderedDict()

    # -- entry point ----------------------------------------------------------------------
    def decode(self, data: bytes, exporter: str, packet_no: int = 0) -> list[dict[str, Any]]:
        """Records of one export packet (NetFlow v5/v9 or IPFIX). Problems are counted in
        ``stats`` and listed with ``packet_no``; nothing raises for bad input."""
        self.stats.packets += 1
        out: list[dict[str, Any]] = []
        try:
            if len(data) < 4:
                raise PacketError(f"truncated: {len(data)} bytes is shorter than any header")
            version = struct.unpack_from("!H", data, 0)[0]
            if version == 5:
                out = self._v5(data, exporter)
            elif version == 9:
                out = self._v9(data, exporter, packet_no)
            elif version == 10:
                out = self._ipfix(data, exporter, packet_no)
            else:
                raise PacketError(f"unknown export version {version} (expected 5, 9 or 10)")
        except PacketError as exc:
            self.fail(exc, packet_no)
        for rec in out:
            rec.setdefault("source_line", packet_no)
        self.stats.records += len(out)
        return out

    def fail(self, exc: PacketError, packet_no: int) -> None:
        if str(exc).startswith("truncated"):
            self.stats.truncated += 1
        else:
            self.stats.malformed += 1
        self.stats.problem(packet_no, str(exc))

    def finish(self) -> None:
        """Count and report the data sets still waiting for a template."""
        while self.pending:
            key, _, packet_no, _ = self.pending.popleft()
            self._unknown(key, packet_no)

    def expire_pending(self, keep: int) -> None:
        while len(self.pending) > keep:
            key, _, packet_no, _ = self.pending.popleft()
            self._unknown(key, packet_no)

    def _unknown(self, key: tuple[str, int, int, int], packet_no: int) -> None:
        self.stats.unknown_template += 1
        exporter, version, domain, tid = key
        self.stats.problem(
            packet_no,
            f"unknown template {tid} (exporter {exporter}, version {version}, domain {domain}):"
            " its data set was not decoded",
        )

    # -- NetFlow v5 -----------------------------------------------------------------------
    def _v5(self, data: bytes, exporter: str) -> list[dict[str, Any]]:
        _need(data, 0, 24, "the NetFlow v5 header")
        _, count, uptime, secs, nsecs, _seq, _etype, _eid, _samp = struct.unpack_from(
            "!HHIIIIBBH", data, 0
        )
        if not 1 <= count <= 30:
            raise PacketError(f"malformed: NetFlow v5 record count {count} is not 1..30")
        _need(data, 24, count * 48, f"{count} NetFlow v5 records")
        now_ms = secs * 1000 + nsecs // 1_000_000
        out = []
        device = exporter or "odid=v5"
        for i in range(count):
            (
                src,
                dst,
                _nh,
                _inp,
                _outp,
                pkts,
                octets,
                first,
                last,
                sport,
                dport,
                _p1,
                _flags,
                proto,
                _tos,
                _sas,
                _das,
                _sm,
                _dm,
                _p2,
            ) = struct.unpack_from("!4s4s4sHHIIIIHHBBBBHHBBH", data, 24 + i * 48)
            rec = {
                "kind": RecordKind.FLOW.value,
                "event": "flow",
                "start": (now_ms - (uptime - first)) * 1000,
                "end": (now_ms - (uptime - last)) * 1000,
                "protocol": _PROTO.get(proto, str(proto)),
                "public_ip": str(ipaddress.IPv4Address(src)),
                "public_port": sport,
                "dst_ip": str(ipaddress.IPv4Address(dst)),
                "dst_port": dport,
                "bytes": octets,
                "packets": pkts,
                "device": device,
            }
            out.append(rec)
        return out

    # -- NetFlow v9 -----------------------------------------------------------------------
    def _v9(self, data: bytes, exporter: str, packet_no: int) -> list[dict[str, Any]]:
        _need(data, 0, 20, "the NetFlow v9 header")
        _, _count, uptime, secs, _seq, source_id = struct.unpack_from("!HHIIII", data, 0)
        ctx = {"export_ms": secs * 1000, "uptime_ms": uptime, "version": 9, "domain": source_id}
        return self._sets(data, 20, len(data), exporter, packet_no, ctx, v9=True)

    # -- IPFIX ----------------------------------------------------------------------------
    def _ipfix(self, data: bytes, exporter: str, packet_no: int) -> list[dict[str, Any]]:
        _need(data, 0, 16, "the IPFIX message header")
        _, length, export_s, _seq, domain = struct.unpack_from("!HHIII", data, 0)
        if length < 16:
            raise PacketError(f"malformed: IPFIX message length {length} is under 16")
        if length > len(data):
            raise PacketError(
                f"truncated: the IPFIX header says {length} bytes, the packet has {len(data)}"
            )
        ctx = {"export_ms": export_s * 1000, "uptime_ms": -1, "version": 10, "domain": domain}
        return self._sets(data, 16, length, exporter, packet_no, ctx, v9=False)

    # -- sets -----------------------------------------------------------------------------
    def _sets(
        self,
        data: bytes,
        pos: int,
        end: int,
        exporter: str,
        packet_no: int,
        ctx: dict[str, int],
        *,
        v9: bool,
    ) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        tmpl_id, opt_id = (0, 1) if v9 else (2, 3)
        while pos < end:
            if end - pos < 4:
                if v9 and not any(data[pos:end]):
                    break  # padding after the last FlowSet
                self.fail(
                    PacketError(f"truncated: {end - pos} stray bytes after the last set"), packet_no
                )
                break
            set_id, set_len = struct.unpack_from("!HH", data, pos)
            if set_len < 4:
                self.fail(
                    PacketError(f"malformed: set {set_id} has length {set_len} (under 4)"),
                    packet_no,
                )
                break
            if pos + set_len > end:
                self.fail(
                    PacketError(
                        f"truncated: set {set_id} of {set_len} bytes at offset {pos} runs past the"
                        f" end of the packet ({end} bytes)"
                    ),
                    packet_no,
                )
                break
            body = data[pos + 4 : pos + set_len]
            key_base = (exporter, ctx["version"], ctx["domain"])
            if set_id in (tmpl_id, opt_id):
                try:
                    self._templates(body, key_base, packet_no, v9=v9, options=set_id == opt_id)
                except PacketError as exc:
                    self.fail(exc, packet_no)
            elif set_id >= 256:
                key = (*key_base, set_id)
                tmpl = self.templates.get(key)
                if tmpl is None:
                    self.pending.append((key, body, packet_no, dict(ctx)))
                    self.expire_pending(MAX_PENDING_SETS)
                else:
                    out += self._data(body, tmpl, exporter, packet_no, ctx)
            else:
                self.stats.malformed += 1
                self.stats.problem(packet_no, f"malformed: reserved set id {set_id} skipped")
            pos += set_len
        return out

    def _templates(
        self,
        body: bytes,
        key_base: tuple[str, int, int],
        packet_no: int,
        *,
        v9: bool,
        options: bool,
    ) -> None:
        pos = 0
        n = len(body)
        while n - pos >= 4:
            tid, count = struct.unpack_from("!HH", body, pos)
            if tid == 0 and count == 0 and not any(body[pos:]):
                break  # padding
            pos += 4
            scope = 0
            if options and v9:
                # v9 options template: scope length and option length in bytes
                _need(body, pos - 4, 6, "a v9 options template header")
                tid, scope_len, opt_len = struct.unpack_from("!HHH", body, pos - 4)
                pos += 2
                if scope_len % 4 or opt_len % 4:
                    raise PacketError(
                        f"malformed: v9 options template {tid} has scope/option lengths"
                        f" {scope_len}/{opt_len} that are not multiples of 4"
                    )
                scope = scope_len // 4
                count = scope + opt_len // 4
            elif options:
                _need(body, pos, 2, "an IPFIX options template scope count")
                scope = struct.unpack_from("!H", body, pos)[0]
                pos += 2
                if scope == 0 or scope > count:
                    raise PacketError(
                        f"malformed: options template {tid} has scope field count {scope} of"
                        f" {count} fields"
                    )
            if tid < 256:
                raise PacketError(f"malformed: template id {tid} is under 256")
            key = (*key_base, tid)
            if count == 0 and not v9:
                self.templates.pop(key, None)  # RFC 7011 8.1: template withdrawal
                continue
            fields = []
            for _ in range(count):
                _need(body, pos, 4, f"a field specifier of template {tid}")
                ie, length = struct.unpack_from("!HH", body, pos)
                pos += 4
                enterprise = 0
                if not v9 and ie & 0x8000:
                    _need(body, pos, 4, f"an enterprise number in template {tid}")
                    enterprise = struct.unpack_from("!I", body, pos)[0]
                    pos += 4
                    ie &= 0x7FFF
                if length == 0 or (v9 and length == 65535):
                    raise PacketError(
                        f"malformed: template {tid} field {ie} has impossible length {length}"
                    )
                fields.append((ie, length, enterprise))
            tmpl = Template(tid, tuple(fields), scope, options)
            if tmpl.min_length == 0:
                raise PacketError(f"malformed: template {tid} describes empty records")
            self.templates[key] = tmpl
            self.templates.move_to_end(key)
            while len(self.templates) > MAX_TEMPLATES:
                self.templates.popitem(last=False)
            self.stats.templates += 1
            self._release_pending(key)

    def _release_pending(self, key: tuple[str, int, int, int]) -> None:
        if not self.pending:
            return
        keep: deque[tuple[tuple[str, int, int, int], bytes, int, dict[str, int]]] = deque()
        ready: list[tuple[tuple[str, int, int, int], bytes, int, dict[str, int]]] = []
        for item in self.pending:
            (ready if item[0] == key else keep).append(item)
        self.pending = keep
        for _, body, packet_no, ctx in ready:
            self.stats.before_template += 1
            self.stats.problem(
                packet_no,
                f"data set of template {key[3]} came before its template; decoded when the"
                " template arrived",
            )
            self.late.extend(self._data(body, self.templates[key], key[0], packet_no, ctx))

    def take_late(self) -> list[dict[str, Any]]:
        """Records decoded from held data sets since the last call."""
        out, self.late = self.late, []
        self.stats.records += len(out)
        return out

    def _data(
        self, body: bytes, tmpl: Template, exporter: str, packet_no: int, ctx: dict[str, int]
    ) -> list[dict[str, Any]]:
        out = []
        pos = 0
        n = len(body)
        minimum = tmpl.min_length
        while n - pos >= minimum:
            values: dict[int, Any] = {}
            try:
                for ie, length, enterprise in tmpl.fields:
                    if length == 65535:
                        _need(body, pos, 1, "a variable-length field")
                        length = body[pos]
                        pos += 1
                        if length == 255:
                            _need(body, pos, 2, "a long variable-length field")
                            length = struct.unpack_from("!H", body, pos)[0]
                            pos += 2
                    _need(body, pos, length, f"field {ie} of template {tmpl.template_id}")
                    raw = body[pos : pos + length]
                    pos += length
                    if not enterprise:
                        values[ie] = raw
            except PacketError as exc:
                self.fail(exc, packet_no)
                break
            if tmpl.options:
                self.stats.options_records += 1
                continue
            rec = self._record(values, exporter, packet_no, ctx)
            if rec is not None:
                rec["source_line"] = packet_no
                out.append(rec)
        return out

    def _record(
        self, v: dict[int, bytes], exporter: str, packet_no: int, ctx: dict[str, int]
    ) -> dict[str, Any] | None:
        def num(ie: int) -> int | None:
            raw = v.get(ie)
            return int.from_bytes(raw, "big") if raw else None

        def addr(*ies: int) -> str | None:
            for ie in ies:
                raw = v.get(ie)
                if raw is None:
                    continue
                if len(raw) == 4:
                    return str(ipaddress.IPv4Address(raw))
                if len(raw) == 16:
                    return str(ipaddress.IPv6Address(raw))
                raise PacketError(f"malformed: address element {ie} has {len(raw)} bytes")
            return None

        try:
            start, end = self._times(v, ctx)
            event_no = num(IE_NAT_EVENT)
            src = addr(IE_SRC_V4, IE_SRC_V6)
            dst = addr(IE_DST_V4, IE_DST_V6)
            post_src = addr(IE_POST_SRC_V4, IE_POST_SRC_V6)
        except PacketError as exc:
            self.stats.malformed += 1
            self.stats.problem(packet_no, str(exc))
            return None
        if event_no in NAT_NO_MAPPING_EVENTS:
            self.stats.no_mapping_events += 1
            return None
        proto = num(IE_PROTO)
        rec: dict[str, Any] = {
            "start": start,
            "end": end,
            "protocol": _PROTO.get(proto, str(proto)) if proto is not None else None,
            "bytes": num(IE_OCTETS) if IE_OCTETS in v else num(IE_OCTETS_TOTAL),
            "packets": num(IE_PACKETS) if IE_PACKETS in v else num(IE_PACKETS_TOTAL),
            "dst_ip": dst,
            "dst_port": num(IE_DST_PORT),
            "device": exporter or f"odid={ctx['domain']}",
        }
        port_start = num(IE_PORT_START)
        if event_no in (BLOCK_ALLOC, BLOCK_DEALLOC) or port_start is not None:
            port_end = num(IE_PORT_END)
            if port_end is None and port_start is not None and IE_PORT_NUM in v:
                port_end = port_start + (num(IE_PORT_NUM) or 1) - 1
            rec.update(
                kind=RecordKind.PORT_BLOCK.value,
                inside_ip=src,
                public_ip=post_src,
                public_port=port_start,
                public_port_end=port_end,
                event="teardown" if event_no == BLOCK_DEALLOC else "create",
            )
            rec["session_id"] = f"natEvent={event_no}" if event_no else None
            key: tuple[Any, ...] = (rec["device"], src, post_src, port_start, port_end)
            if event_no == BLOCK_DEALLOC:
                self._close(rec, key, self.open_blocks, _has_start(v), block=True)
            elif event_no == BLOCK_ALLOC:
                self._open(self.open_blocks, key, start)
        elif event_no is not None or post_src is not None:
            event = "teardown" if event_no in NAT_DELETE_EVENTS else "create"
            rec.update(
                kind=RecordKind.NAT.value,
                inside_ip=src,
                inside_port=num(IE_SRC_PORT),
                public_ip=post_src,
                public_port=num(IE_POST_SRC_PORT),
                event=event,
                session_id=f"natEvent={event_no}" if event_no else None,
            )
            if event_no in NAT_CREATE_EVENTS or event_no in NAT_DELETE_EVENTS:
                family = event_no if event_no in NAT_CREATE_EVENTS else event_no - 1
                skey: tuple[Any, ...] = (
                    rec["device"],
                    family,
                    src,
                    rec["inside_port"],
                    post_src,
                    rec["public_port"],
                    proto,
                    dst,
                    rec["dst_port"],
                )
                if event == "teardown":
                    self._close(rec, skey, self.open_sessions, _has_start(v), block=False)
                else:
                    self._open(self.open_sessions, skey, start)
            elif event == "teardown" and end is None:
                rec["end"] = start
        else:
            rec.update(
                kind=RecordKind.FLOW.value,
                public_ip=src,
                public_port=num(IE_SRC_PORT),
                event="flow",
            )
        return rec

    def _open(
        self, table: OrderedDict[tuple[Any, ...], int], key: tuple[Any, ...], at: int
    ) -> None:
        """Remember an allocation / create; a repeated one (a re-sent or renewed allocation)
        replaces the earlier start, whose own record then ends where this one starts."""
        table[key] = at
        table.move_to_end(key)
        while len(table) > MAX_OPEN:
            table.popitem(last=False)
            self.stats.open_forgotten += 1

    def _close(
        self,
        rec: dict[str, Any],
        key: tuple[Any, ...],
        table: OrderedDict[tuple[Any, ...], int],
        has_start: bool,
        *,
        block: bool,
    ) -> None:
        """Make a de-allocation / delete record the end of the period its allocation opened."""
        at = rec["end"] if rec["end"] is not None else rec["start"]
        opened = table.pop(key, None)
        if has_start:  # the record says itself when the period began (flowStart...)
            rec["end"] = at
            return
        if opened is not None and opened <= at:
            rec["start"], rec["end"] = opened, at
            return
        rec["start"] = rec["end"] = at
        if block:
            self.stats.releases_without_allocation += 1
        else:
            self.stats.deletes_without_create += 1

    @staticmethod
    def _times(v: dict[int, bytes], ctx: dict[str, int]) -> tuple[int, int | None]:
        """(start, end) in microseconds since 1970; the export time when the record has none."""

        def u(ie: int) -> int:
            return int.from_bytes(v[ie], "big")

        start = end = None
        if IE_START_MS in v:
            start = u(IE_START_MS) * 1000
        elif IE_START_S in v:
            start = u(IE_START_S) * 1_000_000
        elif IE_START_US in v and len(v[IE_START_US]) == 8:
            start = _ntp_us(v[IE_START_US])
        elif IE_START_NS in v and len(v[IE_START_NS]) == 8:
            start = _ntp_us(v[IE_START_NS])
        if IE_END_MS in v:
            end = u(IE_END_MS) * 1000
        elif IE_END_S in v:
            end = u(IE_END_S) * 1_000_000
        elif IE_END_US in v and len(v[IE_END_US]) == 8:
            end = _ntp_us(v[IE_END_US])
        elif IE_END_NS in v and len(v[IE_END_NS]) == 8:
            end = _ntp_us(v[IE_END_NS])
        if start is None and IE_START_UPTIME in v:
            base = ctx["export_ms"] - ctx["uptime_ms"] if ctx["uptime_ms"] >= 0 else None
            if IE_SYS_INIT_MS in v:
                base = u(IE_SYS_INIT_MS)
            if base is not None:
                start = (base + u(IE_START_UPTIME)) * 1000
                if IE_END_UPTIME in v:
                    end = (base + u(IE_END_UPTIME)) * 1000
        if start is None and IE_OBS_MS in v:
            start = u(IE_OBS_MS) * 1000
        if start is None and IE_OBS_S in v:
            start = u(IE_OBS_S) * 1_000_000
        if start is None:
            start = ctx["export_ms"] * 1000
        if not 0 <= start < 7_258_118_400_000_000 or (end is not None and end < 0):
            raise PacketError(f"malformed: record time {start} us is not between 1970 and 2200")
        return start, end


_START_IES = (IE_START_S, IE_START_MS, IE_START_US, IE_START_NS, IE_START_UPTIME)


def _has_start(v: dict[int, bytes]) -> bool:
    return any(ie in v for ie in _START_IES)


# ---------------------------------------------------------------------------------------------
# Files: raw concatenated export packets, or pcap captures


def split_raw_packets(data: bytes) -> Iterator[tuple[int, bytes, str | None]]:
    """Yield (offset, packet, problem) from a file of export packets written one after another
    (IPFIX per RFC 5655; v5 by its record count; v9 packets start with version 9, which no
    FlowSet id can be). A problem ends the walk (the rest of the file cannot be framed)."""
    pos = 0
    n = len(data)
    while pos < n:
        if n - pos < 4:
            yield pos, data[pos:], f"truncated: {n - pos} bytes at the end of the file"
            return
        version, second = struct.unpack_from("!HH", data, pos)
        if version == 10:
            length = second
            if length < 16:
                yield pos, data[pos:], f"malformed: IPFIX message length {length} at {pos}"
                return
            yield pos, data[pos : pos + length], None
            pos += length
        elif version == 5:
            length = 24 + 48 * second
            yield pos, data[pos : pos + length], None
            pos += length
        elif version == 9:
            end = pos + 20
            while end + 4 <= n:
                sid, slen = struct.unpack_from("!HH", data, end)
                if sid == 9 or slen < 4:
                    break
                end += slen
            end = min(end, n)
            yield pos, data[pos:end], None
            pos = end
        else:
            yield pos, data[pos:], f"malformed: no export packet header at offset {pos}"
            return


_PCAP_MAGIC = {
    b"\xa1\xb2\xc3\xd4": (">", 1_000),
    b"\xd4\xc3\xb2\xa1": ("<", 1_000),
    b"\xa1\xb2\x3c\x4d": (">", 1),
    b"\x4d\x3c\xb2\xa1": ("<", 1),
}


_PCAP_HEADS = tuple(
    (magic + (b"\x00\x02\x00\x04" if order == ">" else b"\x02\x00\x04\x00")).decode(
        "utf-8", errors="replace"
    )
    for magic, (order, _) in _PCAP_MAGIC.items()
)


def is_pcap(data: bytes) -> bool:
    return data[:4] in _PCAP_MAGIC or is_pcapng(data)


def is_pcapng(data: bytes) -> bool:
    return data[:4] == b"\x0a\x0d\x0d\x0a" and data[8:12] in (b"\x4d\x3c\x2b\x1a",
                                                              b"\x1a\x2b\x3c\x4d")  # fmt: skip


def pcapng_udp_payloads(data: bytes) -> Iterator[tuple[int, bytes | None, str, str | None]]:
    """As ``pcap_udp_payloads`` for a pcapng file (IETF draft-ietf-opsawg-pcapng: Section
    Header, Interface Description, Enhanced and Simple Packet blocks; other blocks skipped):
    https://www.ietf.org/archive/id/draft-ietf-opsawg-pcapng-03.html"""
    pos = 0
    order = "<"
    linktypes: list[int] = []
    frame = 0
    while pos < len(data):
        if len(data) - pos < 12:
            yield frame + 1, None, "", "truncated: a pcapng block header is cut short"
            return
        btype = struct.unpack_from(order + "I", data, pos)[0]
        if btype == 0x0A0D0D0A:  # section header: its byte-order magic sets the order
            order = "<" if data[pos + 8 : pos + 12] == b"\x4d\x3c\x2b\x1a" else ">"
            linktypes = []
        blen = struct.unpack_from(order + "I", data, pos + 4)[0]
        if blen < 12 or blen % 4 or pos + blen > len(data):
            yield frame + 1, None, "", f"truncated: pcapng block of {blen} bytes at {pos}"
            return
        body = data[pos + 8 : pos + blen - 4]
        pos += blen
        if btype == 1 and len(body) >= 2:  # interface description
            linktypes.append(struct.unpack_from(order + "H", body, 0)[0])
        elif btype in (6, 3):  # enhanced / simple packet
            frame += 1
            if btype == 6:
                if len(body) < 20:
                    yield frame, None, "", "malformed: enhanced packet block too short"
                    continue
                iface, _hi, _lo, caplen, _orig = struct.unpack_from(order + "IIIII", body, 0)
                pkt = body[20 : 20 + caplen]
            else:
                iface, pkt = 0, body[4:]
            if iface >= len(linktypes):
                yield frame, None, "", f"malformed: packet on undeclared interface {iface}"
                continue
            try:
                yield (frame, *_udp_payload(pkt, linktypes[iface]), None)
            except PacketError as exc:
                yield frame, None, "", str(exc)


def pcap_udp_payloads(data: bytes) -> Iterator[tuple[int, bytes | None, str, str | None]]:
    """Yield (frame number, UDP payload or None, source address, problem) for each frame of a
    classic pcap file. Frames that are not IPv4/IPv6 UDP yield a None payload (skipped)."""
    order, ns_div = _PCAP_MAGIC[data[:4]]
    if len(data) < 24:
        yield 0, None, "", "truncated: the pcap global header is cut short"
        return
    linktype = struct.unpack_from(order + "I", data, 20)[0] & 0x0FFFFFFF
    pos = 24
    frame = 0
    while pos < len(data):
        frame += 1
        if len(data) - pos < 16:
            yield frame, None, "", "truncated: a pcap record header is cut short"
            return
        _sec, _frac, incl, _orig = struct.unpack_from(order + "IIII", data, pos)
        pos += 16
        if incl > 262_144 or pos + incl > len(data):
            yield frame, None, "", f"truncated: frame of {incl} bytes runs past the end"
            return
        pkt = data[pos : pos + incl]
        pos += incl
        try:
            yield (frame, *_udp_payload(pkt, linktype), None)
        except PacketError as exc:
            yield frame, None, "", str(exc)
    del ns_div


def _udp_payload(pkt: bytes, linktype: int) -> tuple[bytes | None, str]:
    off = 0
    ethertype: int | None = None
    if linktype == 1:  # Ethernet
        _need(pkt, 0, 14, "an Ethernet header")
        ethertype = struct.unpack_from("!H", pkt, 12)[0]
        off = 14
        while ethertype in (0x8100, 0x88A8):  # VLAN tags
            _need(pkt, off, 4, "a VLAN tag")
            ethertype = struct.unpack_from("!H", pkt, off + 2)[0]
            off += 4
    elif linktype == 113:  # Linux cooked capture
        _need(pkt, 0, 16, "a Linux SLL header")
        ethertype = struct.unpack_from("!H", pkt, 14)[0]
        off = 16
    elif linktype == 0:  # BSD loopback: 4-byte family in host order
        _need(pkt, 0, 4, "a loopback header")
        off = 4
    elif linktype in (101, 12, 14, 228, 229):  # raw IP
        off = 0
    else:
        raise PacketError(f"malformed: unsupported pcap link type {linktype}")
    _need(pkt, off, 1, "an IP header")
    ver = pkt[off] >> 4
    if ethertype is not None and ethertype not in (0x0800, 0x86DD):
        return None, ""
    if ver == 4:
        _need(pkt, off, 20, "an IPv4 header")
        ihl = (pkt[off] & 0x0F) * 4
        proto = pkt[off + 9]
        flags_frag = struct.unpack_from("!H", pkt, off + 6)[0]
        src = str(ipaddress.IPv4Address(pkt[off + 12 : off + 16]))
        if flags_frag & 0x1FFF or flags_frag & 0x2000:
            raise PacketError("malformed: fragmented IPv4 datagram (not reassembled)")
        udp = off + ihl
    elif ver == 6:
        _need(pkt, off, 40, "an IPv6 header")
        proto = pkt[off + 6]
        src = str(ipaddress.IPv6Address(pkt[off + 8 : off + 24]))
        udp = off + 40
    else:
        return None, ""
    if proto != 17:
        return None, src
    _need(pkt, udp, 8, "a UDP header")
    ulen = struct.unpack_from("!H", pkt, udp + 4)[0]
    if ulen < 8:
        raise PacketError(f"malformed: UDP length {ulen}")
    _need(pkt, udp, ulen, "the UDP payload")
    return pkt[udp + 8 : udp + ulen], src


def records_table(records: list[dict[str, Any]], source: str) -> pa.Table:
    """RECORD_SCHEMA table from decoded record dicts (times in microseconds)."""
    cols: dict[str, list[Any]] = {f.name: [] for f in RECORD_SCHEMA}
    for rec in records:
        for name, values in cols.items():
            if name == "source_file":
                values.append(source)
            elif name == "source_tz":
                values.append("UTC")
            else:
                values.append(rec.get(name))
    arrays = []
    for f in RECORD_SCHEMA:
        if f.name in ("start", "end"):
            arrays.append(pa.array(cols[f.name], pa.int64()).cast(f.type))
        else:
            arrays.append(pa.array(cols[f.name], f.type))
    return pa.Table.from_arrays(arrays, schema=RECORD_SCHEMA)


def _read_all(path: Path) -> bytes:
    if not path.is_file():
        raise FormatError(f"{path}: no such file")
    if path.stat().st_size > MAX_FILE_BYTES:
        raise FormatError(f"{path}: over {MAX_FILE_BYTES} bytes; split the capture")
    try:
        if c.is_gzip(path):
            with gzip.open(path, "rb") as fh:
                return fh.read(MAX_FILE_BYTES + 1)
        return path.read_bytes()
    except (EOFError, gzip.BadGzipFile, zlib.error, OSError) as exc:
        raise FormatError(f"{path}: the gzip stream is damaged or cut short ({exc})") from exc


class NetflowParser:
    NAME: ClassVar[str] = "netflow"
    DESCRIPTION: ClassVar[str] = (
        "NetFlow v5/v9 and IPFIX export packets (raw packet files or pcap), with RFC 8158 NAT"
        " events"
    )
    SOURCE: ClassVar[str] = (
        "RFC 3954 https://www.rfc-editor.org/rfc/rfc3954, RFC 7011 "
        "https://www.rfc-editor.org/rfc/rfc7011, RFC 8158 https://www.rfc-editor.org/rfc/rfc8158,"
        " Cisco NetFlow v5 format https://www.cisco.com/c/en/us/td/docs/net_mgmt/"
        "netflow_collection_engine/3-6/user/guide/format.html"
    )
    KINDS: ClassVar[tuple[RecordKind, ...]] = (
        RecordKind.FLOW,
        RecordKind.NAT,
        RecordKind.PORT_BLOCK,
    )

    def detect(self, head: list[str]) -> float:
        if not head:
            return 0.0
        first = head[0]
        if first.startswith(_PCAP_HEADS):
            return 0.9  # classic pcap (read_head decodes its magic leniently)
        if first == "" and any("M<+\x1a" in h[:16] for h in head[:6]):
            return 0.9  # pcapng: 0a 0d 0d 0a, length, then the byte-order magic
        if first.startswith("\x00\t") and len(first) >= 20:
            return 0.7  # NetFlow v9 header
        if first.startswith("\x00\x05"):
            return 0.6
        if first == "\x00" and len(head) > 1:
            return 0.55  # IPFIX: 0x000a is a NUL and a newline
        return 0.0

    def parse(self, path: Path, options: ParseOptions) -> Iterator[ParsedBatch]:
        data = _read_all(path)
        source = c.source_name(path, options)
        decoder = FlowDecoder()
        stats = decoder.stats
        records: list[dict[str, Any]] = []
        bad: list[BadLine] = []
        if is_pcap(data):
            frames = 0
            walk = pcapng_udp_payloads if is_pcapng(data) else pcap_udp_payloads
            for frame, payload, src, problem in walk(data):
                frames = frame
                if problem:
                    bad.append(BadLine(frame, problem, f"pcap frame {frame}"))
                    continue
                if payload is None:
                    continue
                records += decoder.decode(payload, src, frame)
                records += decoder.take_late()
            total = frames
        else:
            if not data:
                raise FormatError(f"{path}: the file is empty")
            total = 0
            for offset, packet, problem in split_raw_packets(data):
                total += 1
                if problem:
                    stats.malformed += 1
                    stats.problem(total, problem)
                    break
                records += decoder.decode(packet, "", total)
                records += decoder.take_late()
                del offset
            if (
                not stats.records
                and not stats.templates
                and not decoder.pending
                and stats.malformed + stats.truncated
            ):
                raise FormatError(
                    f"{path} does not look like NetFlow/IPFIX: none of its {total} packets could"
                    " be read. Name the right format or let it be detected."
                )
        decoder.finish()
        for packet_no, reason in stats.problems:
            bad.append(BadLine(packet_no, reason, f"export packet {packet_no}"))
        bad.sort(key=lambda b: b.line_no)
        if options.clock_skew:
            skew = int(options.clock_skew.total_seconds() * 1_000_000)
            for r in records:
                r["start"] -= skew
                if r.get("end") is not None:
                    r["end"] -= skew
        table = records_table(records, source)
        notes = [
            "times are seconds/milliseconds since 1970 (UTC) from the export packets; "
            f"decoder counts: {stats.as_dict()}"
        ]
        notes += closing_notes(stats)
        yield ParsedBatch(table, total, bad, notes, stats.no_mapping_events + stats.options_records)


def closing_notes(stats: DecodeStats) -> list[str]:
    """What a reader of the ingest report must know about periods that could not be paired."""
    notes = []
    if stats.releases_without_allocation:
        notes.append(
            f"{stats.releases_without_allocation} port block de-allocations (natEvent 17) came"
            " without their allocation (natEvent 16) in this input: each is stored as a block"
            " closed at its release instant (start = end); who held the block before that is"
            " answered only from the input that holds its allocation"
        )
    if stats.deletes_without_create:
        notes.append(
            f"{stats.deletes_without_create} NAT session delete events came without their"
            " create event in this input: each is stored closed at its delete instant"
            " (start = end)"
        )
    if stats.open_forgotten:
        notes.append(
            f"{stats.open_forgotten} open blocks/sessions were forgotten past {MAX_OPEN} held"
            " open; their closing records count as coming without their allocation"
        )
    return notes


PARSER = NetflowParser()


# ---------------------------------------------------------------------------------------------
# Writing export packets (for ``traffic synth``, replay into a collector, and tests)

NAT44_TEMPLATE: tuple[tuple[int, int], ...] = (
    (IE_OBS_MS, 8),
    (IE_SRC_V4, 4),
    (IE_POST_SRC_V4, 4),
    (IE_PROTO, 1),
    (IE_SRC_PORT, 2),
    (IE_POST_SRC_PORT, 2),
    (IE_DST_V4, 4),
    (IE_DST_PORT, 2),
    (IE_NAT_EVENT, 1),
)  # RFC 8158 section 4.2 NAT44 session create/delete (with destination)
PORT_BLOCK_TEMPLATE: tuple[tuple[int, int], ...] = (
    (IE_OBS_MS, 8),
    (IE_SRC_V4, 4),
    (IE_POST_SRC_V4, 4),
    (IE_PORT_START, 2),
    (IE_PORT_END, 2),
    (IE_NAT_EVENT, 1),
)  # RFC 8158 section 4.14/4.15 port block allocation / de-allocation


def _pack_value(ie: int, length: int, value: Any) -> bytes:
    if ie in _ADDR4 or ie in _ADDR6:
        packed = ipaddress.ip_address(value).packed
        if len(packed) != length:
            raise ValueError(f"address {value!r} does not fit element {ie} of {length} bytes")
        return packed
    return int(value).to_bytes(length, "big")


def template_set(template_id: int, fields: tuple[tuple[int, int], ...], *, v9: bool) -> bytes:
    """A template (Flow)Set defining ``fields`` as ``template_id``."""
    body = struct.pack("!HH", template_id, len(fields))
    body += b"".join(struct.pack("!HH", ie, ln) for ie, ln in fields)
    return struct.pack("!HH", 0 if v9 else 2, 4 + len(body)) + body


def data_set(
    template_id: int, fields: tuple[tuple[int, int], ...], rows: list[dict[int, Any]]
) -> bytes:
    """A data set of ``rows`` (element id -> value) encoded with ``fields``."""
    body = b"".join(b"".join(_pack_value(ie, ln, row[ie]) for ie, ln in fields) for row in rows)
    pad = (-len(body)) % 4
    return struct.pack("!HH", template_id, 4 + len(body) + pad) + body + b"\x00" * pad


def ipfix_message(sets: list[bytes], export_s: int, sequence: int = 0, domain: int = 1) -> bytes:
    """An IPFIX message (RFC 7011 section 3.1) carrying ``sets``."""
    body = b"".join(sets)
    return struct.pack("!HHIII", 10, 16 + len(body), export_s, sequence, domain) + body


def v9_packet(
    sets: list[bytes],
    export_s: int,
    uptime_ms: int,
    records: int,
    sequence: int = 0,
    source_id: int = 1,
) -> bytes:
    """A NetFlow v9 export packet (RFC 3954 section 5.1); ``records`` counts template and data
    records as the header's count field does."""
    header = struct.pack("!HHIIII", 9, records, uptime_ms, export_s, sequence, source_id)
    return header + b"".join(sets)


def v5_packet(flows: list[dict[str, Any]], export_us: int, uptime_ms: int = 3_600_000) -> bytes:
    """A NetFlow v5 packet; each flow has src, dst, sport, dport, proto, start_us, end_us,
    packets, bytes."""
    if not 1 <= len(flows) <= 30:
        raise ValueError("a NetFlow v5 packet carries 1..30 flows")
    secs, nsecs = divmod(export_us, 1_000_000)
    now_ms = export_us // 1000
    out = struct.pack("!HHIIIIBBH", 5, len(flows), uptime_ms, secs, nsecs * 1000, 0, 0, 0, 0)
    for f in flows:
        first = uptime_ms - (now_ms - f["start_us"] // 1000)
        last = uptime_ms - (now_ms - f["end_us"] // 1000)
        out += struct.pack(
            "!4s4s4sHHIIIIHHBBBBHHBBH",
            ipaddress.IPv4Address(f["src"]).packed,
            ipaddress.IPv4Address(f["dst"]).packed,
            b"\x00" * 4,
            0,
            0,
            f["packets"],
            f["bytes"],
            first,
            last,
            f["sport"],
            f["dport"],
            0,
            0,
            f["proto"],
            0,
            0,
            0,
            0,
            0,
            0,
        )
    return out


def write_pcap(
    path: Path,
    datagrams: list[tuple[str, bytes]],
    collector: str = "192.0.2.200",
    port: int = 4739,
    start_us: int = 0,
) -> None:
    """Write UDP datagrams (exporter IPv4 address, payload) as a classic pcap with raw-IP
    frames (link type 101), one frame per datagram."""
    out = [struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 101)]
    for i, (src, payload) in enumerate(datagrams):
        udp = struct.pack("!HHHH", 50000, port, 8 + len(payload), 0) + payload
        total = 20 + len(udp)
        ip = struct.pack(
            "!BBHHHBBH4s4s",
            0x45,
            0,
            total,
            i & 0xFFFF,
            0,
            64,
            17,
            0,
            ipaddress.IPv4Address(src).packed,
            ipaddress.IPv4Address(collector).packed,
        )
        frame = ip + udp
        ts = start_us + i
        out.append(struct.pack("<IIII", ts // 1_000_000, ts % 1_000_000, len(frame), len(frame)))
        out.append(frame)
    path.write_bytes(b"".join(out))
