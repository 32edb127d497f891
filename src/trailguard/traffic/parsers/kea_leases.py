"""ISC Kea DHCP lease files (memfile backend, CSV), DHCPv4 and DHCPv6.

Follows the column layout Kea writes (``src/lib/dhcpsrv/csv_lease_file4.h`` and
``csv_lease_file6.h``) and the Kea Administrator Reference Manual, "Memfile - Basic Storage for
Leases": https://kea.readthedocs.io/en/latest/arm/dhcp4-srv.html#memfile-basic-storage-for-leases
https://github.com/isc-projects/kea/blob/master/src/lib/dhcpsrv/csv_lease_file4.h

    address,hwaddr,client_id,valid_lifetime,expire,subnet_id,fqdn_fwd,fqdn_rev,hostname,state,
        user_context,pool_id                                                    (v4)
    address,duid,valid_lifetime,expire,subnet_id,pref_lifetime,lease_type,iaid,prefix_len,
        fqdn_fwd,fqdn_rev,hostname,hwaddr,state,user_context,hwtype,hwaddr_source,pool_id  (v6)

Older Kea versions write fewer trailing columns; the header line says which, and columns are
found by name. ``expire`` is seconds since 1970 (UTC) and the lease was granted or renewed at
``expire - valid_lifetime`` (Kea's client last transaction time), so no zone is needed. The file
is append-only (the lease file cleanup rewrites it): every line is one state of a lease.
Kea escapes a comma inside a value as ``&#x2c``; it is restored.

Normalisation: kind ``dhcp``; ``inside_ip`` the leased address (a delegated prefix is kept as
its first address, the prefix in ``session_id``), ``start``/``end`` the lease period, ``mac``
the hardware address, ``subscriber`` the client's hostname when it gave one, ``session_id`` the
client identifier (v4 client_id or v6 DUID). Event ``lease``; ``release`` when the lease was
released (valid_lifetime 0); ``expired`` for state 2 (expired-reclaimed). Declined addresses
(state 1) are not assignments and are counted in ``skipped_lines``.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import ClassVar

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from trailguard.traffic.model import FormatError, ParsedBatch, ParseOptions, RecordKind
from trailguard.traffic.parsers import _common as c

V4_HEAD = "address,hwaddr,client_id,valid_lifetime,expire,subnet_id"
V6_HEAD = "address,duid,valid_lifetime,expire,subnet_id,pref_lifetime,lease_type"
_MAX_EPOCH = 7_258_118_400  # 2200-01-01
_MAC = r"^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5,19}$"


def _mask(arr: pa.Array) -> np.ndarray:
    return np.asarray(pc.fill_null(arr, False).to_numpy(zero_copy_only=False), dtype=bool)


class KeaLeasesParser:
    NAME: ClassVar[str] = "kea-leases"
    DESCRIPTION: ClassVar[str] = "ISC Kea DHCPv4/DHCPv6 memfile lease CSV"
    SOURCE: ClassVar[str] = (
        "Kea ARM, Memfile lease storage, and csv_lease_file4.h / csv_lease_file6.h: "
        "https://kea.readthedocs.io/en/latest/arm/dhcp4-srv.html#memfile-basic-storage-for-leases"
        " https://github.com/isc-projects/kea/blob/master/src/lib/dhcpsrv/csv_lease_file4.h"
    )
    KINDS: ClassVar[tuple[RecordKind, ...]] = (RecordKind.DHCP,)

    def detect(self, head: list[str]) -> float:
        lines = [h for h in head if h.strip()]
        if not lines:
            return 0.0
        if lines[0].startswith((V4_HEAD, V6_HEAD)):
            return 0.99
        return 0.0

    def parse(self, path: Path, options: ParseOptions) -> Iterator[ParsedBatch]:
        source = c.source_name(path, options)
        header: list[str] | None = None
        for chunk in c.iter_line_chunks(path, options):
            if header is None:
                first = chunk.lines[0].as_py() if len(chunk) else ""
                if not first or not first.startswith((V4_HEAD, V6_HEAD)):
                    raise FormatError(
                        f"{path} does not look like a Kea lease file: its first line is not a"
                        f" Kea lease CSV header (expected {V4_HEAD!r}... or {V6_HEAD!r}...)."
                        " Name the right format or let it be detected."
                    )
                header = first.strip().split(",")
            yield self._parse_chunk(chunk, header, source)

    @staticmethod
    def _parse_chunk(chunk: c.LineChunk, header: list[str], source: str) -> ParsedBatch:
        lines = chunk.lines
        n = len(lines)
        v6 = header[1] == "duid"
        notes = [
            "lease times are seconds since 1970 (UTC); the lease began at expire minus"
            " valid_lifetime"
        ]
        head_text = ",".join(header)
        is_header = _mask(pc.equal(lines, head_text))
        blank = ~c.nonempty(pc.utf8_trim_whitespace(lines))
        cand = chunk.usable & ~is_header & ~blank
        idx = np.flatnonzero(cand)
        sub = lines.take(pa.array(idx))
        fields = pc.split_pattern(sub, ",")
        ncols = np.asarray(pc.list_value_length(fields).to_numpy(zero_copy_only=False))
        width_ok = ncols == len(header)

        def col(name: str) -> pa.Array:
            if name not in header:
                return pa.nulls(len(sub), pa.string())
            safe = pc.if_else(
                pa.array(width_ok), fields, pa.scalar([""] * len(header), pa.list_(pa.string()))
            )
            value = pc.list_element(safe, header.index(name))
            return pc.replace_substring(value, "&#x2c", ",")

        addr_raw = col("address")
        addr, addr_ok = c.canonical_ips(addr_raw)
        valid = c.to_numpy_str_ints(col("valid_lifetime"), default=-1)
        expire = c.to_numpy_str_ints(col("expire"), default=-1)
        state_txt = col("state")
        state = c.to_numpy_str_ints(state_txt, default=0)
        hw = c.empty_to_null(pc.fill_null(col("hwaddr"), ""))
        hw_present = c.valid_mask(hw)
        hw_ok = _mask(pc.match_substring_regex(hw, _MAC)) | ~hw_present
        checks = [
            c.Check(
                f"expected {len(header)} comma-separated columns as in the header", ~width_ok, ncols
            ),
            c.Check("invalid leased address", width_ok & ~addr_ok, addr_raw),
            c.Check(
                "valid_lifetime is not a number of seconds",
                width_ok & (valid < 0),
                col("valid_lifetime"),
            ),
            c.Check(
                "expire is not a time in seconds since 1970 before 2200",
                width_ok & ((expire < 0) | (expire > _MAX_EPOCH) | (expire < valid)),
                col("expire"),
            ),
            c.Check("invalid hardware address", width_ok & ~hw_ok, hw),
        ]
        bad, bad_lines = c.collect_bad(checks, lines, chunk.first_line, row_lines=idx)
        declined = ~bad & (state == 1)
        keep = ~bad & ~declined
        k = pa.array(np.flatnonzero(keep))
        start_s = (expire - valid)[keep]
        end_s = expire[keep]
        event = np.where(
            valid[keep] == 0, "release", np.where(state[keep] == 2, "expired", "lease")
        )
        ident = col("duid") if v6 else col("client_id")
        if v6:
            ltype = c.to_numpy_str_ints(col("lease_type"), default=0)
            pd = (ltype == 2)[keep]
            prefix = pc.binary_join_element_wise(addr.take(k), col("prefix_len").take(k), "/")
            session = pc.if_else(
                pa.array(pd), pc.binary_join_element_wise("pd=", prefix, ""), ident.take(k)
            )
        else:
            session = ident.take(k)
        table = c.build_table(
            RecordKind.DHCP,
            int(keep.sum()),
            source,
            idx[keep] + chunk.first_line,
            {
                "event": pa.array(event, pa.string()),
                "start": c.ts_array(start_s * 1_000_000),
                "end": c.ts_array(end_s * 1_000_000),
                "source_tz": "UTC",
                "inside_ip": addr.take(k),
                "subscriber": c.empty_to_null(pc.fill_null(col("hostname").take(k), "")),
                "mac": pc.utf8_lower(hw.take(k)),
                "session_id": c.empty_to_null(pc.fill_null(session, "")),
            },
        )
        all_bad = list(chunk.bad) + bad_lines
        all_bad.sort(key=lambda b: b.line_no)
        skipped = int(is_header.sum() + (blank & chunk.usable).sum() + declined.sum())
        return ParsedBatch(table, n, all_bad, notes, skipped)


PARSER = KeaLeasesParser()


def format_csv(leases: list[dict[str, object]], *, v6: bool = False) -> str:
    """A Kea memfile lease file (for ``traffic synth`` and tests). Each lease is a dict with
    ``address``, ``start`` and ``end`` (aware datetimes) and any of ``hwaddr``, ``client_id``
    (v4) / ``duid`` (v6), ``hostname``, ``state``, ``subnet_id``; a comma in a value is
    escaped as Kea does (``&#x2c``)."""
    header = (
        "address,duid,valid_lifetime,expire,subnet_id,pref_lifetime,lease_type,iaid,prefix_len,"
        "fqdn_fwd,fqdn_rev,hostname,hwaddr,state,user_context,hwtype,hwaddr_source,pool_id"
        if v6
        else "address,hwaddr,client_id,valid_lifetime,expire,subnet_id,fqdn_fwd,fqdn_rev,"
        "hostname,state,user_context,pool_id"
    )
    out = [header]
    for lease in leases:
        start, end = lease["start"], lease["end"]
        if not isinstance(start, datetime) or not isinstance(end, datetime) or end < start:
            raise ValueError(f"lease {lease.get('address')!r} needs start <= end (datetimes)")
        valid = int((end - start).total_seconds())
        expire = int(end.timestamp())

        def esc(key: str, default: str = "", lease: dict[str, object] = lease) -> str:
            return str(lease.get(key, default)).replace(",", "&#x2c")

        if v6:
            row = [esc("address"), esc("duid"), str(valid), str(expire), esc("subnet_id", "1"),
                   str(valid // 2), "0", "1", "128", "0", "0", esc("hostname"), esc("hwaddr"),
                   esc("state", "0"), "", "1", "0", "0"]  # fmt: skip
        else:
            row = [esc("address"), esc("hwaddr"), esc("client_id"), str(valid), str(expire),
                   esc("subnet_id", "1"), "0", "0", esc("hostname"), esc("state", "0"), "",
                   "0"]  # fmt: skip
        out.append(",".join(row))
    return "\n".join(out) + "\n"
