"""Apache / nginx access logs: Common Log Format, combined, and their virtual-host variants.

Layouts read (anything after the size: referer, user agent, X-Forwarded-For, timings, is
ignored):

* Apache ``common`` ``%h %l %u %t \\"%r\\" %>s %b`` and ``combined`` (+ referer and user
  agent): Apache HTTP Server 2.4, "Log Files", https://httpd.apache.org/docs/2.4/logs.html
  (sections Common Log Format, Combined Log Format); the directives ``%h %l %u %t %r %>s %b
  %v %p`` in mod_log_config, https://httpd.apache.org/docs/2.4/mod/mod_log_config.html#formats
  (``%v``: the canonical ServerName of the server serving the request; ``%p``: its port).
* Apache ``vhost_combined`` as Debian ships it, ``%v:%p %h %l %u %t ...`` (debian
  config-dir/apache2.conf,
  https://anonscm.debian.org/cgit/pkg-apache/apache2.git/tree/debian/config-dir/apache2.conf),
  and ``vhost_common`` / ``vhost_combined`` as openSUSE ships them, ``%v %h %l %u %t ...``
  (apache2-mod_log_config.conf,
  https://build.opensuse.org/projects/home:gwendolau/packages/apache2/files/apache2-mod_log_config.conf):
  a virtual host with or without ``:port`` before the client.
* ``%h %{remote}p %l %u %t ...`` (common or combined with the client's port after its
  address; mod_log_config ``%{format}p`` with ``remote``,
  https://httpd.apache.org/docs/2.4/mod/mod_log_config.html#formats; RFC 6302 section 2,
  https://www.rfc-editor.org/rfc/rfc6302#section-2).
* nginx's predefined ``combined`` (``$remote_addr - $remote_user [$time_local] "$request"
  $status $body_bytes_sent "$http_referer" "$http_user_agent"``) and formats that put the
  virtual host first, ``$host $remote_addr - $remote_user [$time_local] ...`` or
  ``$server_name $remote_addr ...`` (no port): nginx, ngx_http_log_module, log_format,
  https://nginx.org/en/docs/http/ngx_http_log_module.html#log_format; ``$host`` is the host
  name of the request line or Host header without its port, or the server name,
  https://nginx.org/en/docs/http/ngx_http_core_module.html#var_host. ``$time_iso8601``
  (``[2026-11-17T08:14:07+01:00]``) may stand in for ``$time_local``
  (https://nginx.org/en/docs/http/ngx_http_log_module.html#var_time_iso8601).

A line holds a virtual host when four fields come before the time instead of three. Zone
offsets of either sign (``-0700``, ``+05:30``) are kept in ``source_tz``.

Records are kind ``access``: ``public_ip`` = the client address (IPv4 or IPv6), ``start`` = the
request time with its offset kept in ``source_tz`` (``-0700`` -> ``-07:00``), ``subscriber`` =
the authenticated user when not ``-``, ``event`` = the request method (``request`` when the
request line has none, e.g. ``"-"`` for a 408), ``bytes`` = the response size, ``device`` = the
virtual host, ``dst_ip``/``dst_port`` = the virtual host (when it is an address) and its port.
``public_port`` is the client's port where the line logs it (Apache ``%h %{remote}p %l %u %t
...``, mod_log_config's ``%{remote}p``, "the client's actual port"; RFC 6302 section 2 asks
Internet-facing servers to log the source port), null otherwise.

Decisions: a client logged as a host name (``HostnameLookups On``) is not an address and is
reported as a bad line; so is a client written as ``address:port`` with no virtual host before
it, because the port cannot be told apart from the server's; so is Apache's documentation
example ``comonvhost`` (``%v %l %u %t ...``), which logs no client at all. Escaped bytes
(``\\x16``) and ``\\n`` inside the request line are kept as written.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from trailguard.traffic.model import ParsedBatch, ParseOptions, RecordKind
from trailguard.traffic.parsers import _common as c

# the virtual host (Apache %v, nginx $host / $server_name): a name or IPv4 address, or an
# IPv6 address in brackets, with an optional :port (Apache %p)
_VHOST = r"(?:(?P<vhost>\[[0-9A-Fa-f:.]+\]|[^\s:\[\]\"]+)(?::(?P<vport>\d+))? )?"
_TIME = (
    r"(?:(?P<d>\d{1,2})/(?P<mon>[A-Za-z]{3})/(?P<y>\d{4}):(?P<h>\d{2}):(?P<mi>\d{2}):(?P<s>\d{2})"
    r"(?:\.(?P<f>\d{1,6}))? (?P<z>[+-]\d{4})"
    r"|(?P<iy>\d{4})-(?P<im>\d{2})-(?P<id>\d{2})T(?P<ih>\d{2}):(?P<imi>\d{2}):(?P<is>\d{2})"
    r"(?:\.(?P<if>\d{1,6}))?(?P<iz>Z|[+-]\d{2}:?\d{2}))"
)
# Apache "%h %{remote}p ..." (mod_log_config: %{remote}p is "the client's actual port"),
# the layout RFC 6302 asks of Internet-facing servers so a client behind carrier-grade NAT can
# be told apart: an address, then a port of digits only. Tried first; a client is never digits
# only, so no other layout reads the same line.
_ADDR_PORT = r"(?P<pclient>\d{1,3}(?:\.\d{1,3}){3}|[0-9A-Fa-f]*:[0-9A-Fa-f:.]*) (?P<pport>\d{1,5})"
_LINE = (
    r"^(?:" + _ADDR_PORT + r"|" + _VHOST + r"(?P<client>\S+))"
    r" (?P<ident>\S+) (?P<user>\S+) \[" + _TIME + r"\] "
    r"\"(?P<req>(?:[^\"\\]|\\.)*)\" (?P<status>\d{3}|-) (?P<size>\d+|-)(?P<rest>.*)$"
)
_FIELDS = [
    "pclient",
    "pport",
    "vhost",
    "vport",
    "client",
    "ident",
    "user",
    "d",
    "mon",
    "y",
    "h",
    "mi",
    "s",
    "f",
    "z",
    "iy",
    "im",
    "id",
    "ih",
    "imi",
    "is",
    "if",
    "iz",
    "req",
    "status",
    "size",
]
_HOSTNAME = r"^[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*$"
_V4_PORT = r"^\d{1,3}(\.\d{1,3}){3}:\d+$"


class WebAccessParser:
    NAME: ClassVar[str] = "web-access"
    DESCRIPTION: ClassVar[str] = (
        "Apache/nginx access logs (common, combined, vhost_combined, nginx $host first)"
    )
    SOURCE: ClassVar[str] = (
        "Apache HTTP Server 2.4, Log Files: https://httpd.apache.org/docs/2.4/logs.html; "
        "nginx log_format: https://nginx.org/en/docs/http/ngx_http_log_module.html#log_format"
    )
    KINDS: ClassVar[tuple[RecordKind, ...]] = (RecordKind.ACCESS,)

    def detect(self, head: list[str]) -> float:
        lines = [h for h in head if h.strip()]
        if not lines:
            return 0.0
        hits = sum(1 for h in lines if re.match(_LINE, h))
        return 0.9 * hits / len(lines)

    def parse(self, path: Path, options: ParseOptions) -> Iterator[ParsedBatch]:
        source = c.source_name(path, options)
        for chunk in c.iter_line_chunks(path, options):
            if chunk.first_line == 1:
                c.refuse_if_no_marker(chunk, _LINE, self.NAME, path)
            yield self._parse_chunk(chunk, options, source)

    def _parse_chunk(self, chunk: c.LineChunk, options: ParseOptions, source: str) -> ParsedBatch:
        lines = chunk.lines
        n = len(lines)
        parts = pc.extract_regex(lines, _LINE)
        matched = c.valid_mask(parts) & chunk.usable
        blank = ~c.nonempty(pc.utf8_trim_whitespace(lines)) & chunk.usable
        f = c.struct_fields(parts, _FIELDS)
        month = c.month_numbers(pc.utf8_capitalize(f["mon"]))
        iso = c.nonempty(f["iy"])  # $time_iso8601

        def pick(local: str, iso_name: str) -> pa.Array:
            return pc.if_else(pa.array(iso), f[iso_name], f[local])

        naive, impossible = c.civil_to_epoch_us(
            c.to_numpy_str_ints(pick("y", "iy")),
            np.where(iso, c.to_numpy_str_ints(f["im"]), month),
            c.to_numpy_str_ints(pick("d", "id")),
            c.to_numpy_str_ints(pick("h", "ih")),
            c.to_numpy_str_ints(pick("mi", "imi")),
            c.to_numpy_str_ints(pick("s", "is")),
            c.fraction_to_us(pick("f", "if")),
        )
        offs, _, zone = c.offset_seconds(pick("z", "iz"))
        bad_zone = matched & (np.abs(offs) > 18 * 3600)
        utc = c.apply_skew(naive - offs * 1_000_000, options.clock_skew)
        # the client's address from whichever layout the line has (%h %{remote}p or not)
        port_layout = c.nonempty(f["pport"])
        f["client"] = pc.if_else(pa.array(port_layout), f["pclient"], f["client"])
        client_port = c.to_numpy_str_ints(f["pport"], default=-1)
        client, client_ok = c.canonical_ips(f["client"])
        no_vhost = ~c.nonempty(f["vhost"])
        hostname = np.asarray(
            pc.fill_null(pc.match_substring_regex(f["client"], _HOSTNAME), False).to_numpy(
                zero_copy_only=False
            ),
            dtype=bool,
        )
        v4_port = np.asarray(
            pc.fill_null(pc.match_substring_regex(f["client"], _V4_PORT), False).to_numpy(
                zero_copy_only=False
            ),
            dtype=bool,
        )
        vport = c.to_numpy_str_ints(f["vport"], default=-1)
        vport_present = c.nonempty(f["vport"])
        checks = [
            c.Check(
                "not an access log line (common/combined, with or without a virtual host)",
                ~matched & ~blank & chunk.usable,
            ),
            c.Check("impossible date or time", matched & (impossible | bad_zone)),
            c.Check(
                "client is a host name, not an address (HostnameLookups?)",
                matched & ~client_ok & hostname & ~v4_port,
                f["client"],
            ),
            c.Check(
                "client is address:port with no virtual host; cannot tell the port's side",
                matched & ~client_ok & v4_port & no_vhost,
                f["client"],
            ),
            c.Check("invalid client address", matched & ~client_ok, f["client"]),
            c.Check(
                "client port out of range 0..65535",
                matched & port_layout & (client_port > 65535),
                f["pport"],
            ),
            c.Check(
                "virtual host port out of range 0..65535",
                matched & vport_present & ((vport < 0) | (vport > 65535)),
                f["vport"],
            ),
        ]
        bad, bad_lines = c.collect_bad(checks, lines, chunk.first_line)
        keep = matched & ~bad
        kp = pa.array(np.flatnonzero(keep))
        method = pc.struct_field(
            pc.extract_regex(pc.fill_null(f["req"], ""), r"^(?P<m>[A-Za-z]+) "), "m"
        )
        method = pc.if_else(pc.is_valid(method), pc.utf8_upper(method), "request")
        vhost = c.empty_to_null(pc.fill_null(f["vhost"], ""))
        vhost_ip, vhost_is_ip = c.canonical_ips(pc.utf8_trim(vhost, "[]"))
        user = pc.if_else(pc.equal(f["user"], "-"), pa.scalar(None, pa.string()), f["user"])
        size = c.to_numpy_str_ints(f["size"])
        size_present = np.asarray(
            pc.fill_null(pc.match_substring_regex(f["size"], r"^\d+$"), False).to_numpy(
                zero_copy_only=False
            ),
            dtype=bool,
        )
        table = c.build_table(
            RecordKind.ACCESS,
            int(keep.sum()),
            source,
            np.flatnonzero(keep) + chunk.first_line,
            {
                "event": method.take(kp),
                "start": c.ts_array(utc[keep]),
                "source_tz": zone.take(kp),
                "public_ip": client.take(kp),
                "public_port": pa.array(client_port[keep], pa.int32(), mask=~port_layout[keep]),
                "dst_ip": pc.if_else(
                    pa.array(vhost_is_ip), vhost_ip, pa.scalar(None, pa.string())
                ).take(kp),
                "dst_port": pa.array(vport[keep], pa.int32(), mask=~vport_present[keep]),
                "subscriber": user.take(kp),
                "bytes": pa.array(size[keep], pa.int64(), mask=~size_present[keep]),
                "device": vhost.take(kp),
            },
        )
        return ParsedBatch(
            table=table,
            lines_read=n,
            bad_lines=sorted(chunk.bad + bad_lines, key=lambda b: b.line_no),
            notes=[],
            skipped_lines=int(blank.sum()),
        )


PARSER = WebAccessParser()
