"""A Zeek conn.log writer (TSV, UTC seconds), as Zeek writes it:
https://docs.zeek.org/en/master/logs/conn.html

The one writer of the synthetic flow probes of the demo and of the exercise's counterpart
providers; traffic's ``zeek-conn`` parser reads the files back. Plain Python: it names no
capability, so both may use it.
"""

from __future__ import annotations

import random
from datetime import datetime

_FIELDS = (
    "#fields\tts\tuid\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\tproto\tservice\tduration"
    "\torig_bytes\tresp_bytes\tconn_state\tlocal_orig\tlocal_resp\tmissed_bytes\thistory"
    "\torig_pkts\torig_ip_bytes\tresp_pkts\tresp_ip_bytes\ttunnel_parents"
)
_TYPES = (
    "#types\ttime\tstring\taddr\tport\taddr\tport\tenum\tstring\tinterval\tcount\tcount"
    "\tstring\tbool\tbool\tcount\tstring\tcount\tcount\tcount\tcount\tset[string]"
)
_UID_CHARACTERS = "abcdefghijkmnopqrstuvwxyz0123456789"


class ZeekConnLog:
    """The connections of one conn.log. Each row draws from ``rng`` its uid, then its
    orig_bytes and resp_bytes: the same generator and rows write the same file."""

    def __init__(self, rng: random.Random) -> None:
        self._rng = rng
        self._rows: list[tuple[float, str]] = []

    def add(
        self,
        at: datetime,
        orig: str,
        oport: int,
        resp: str,
        rport: int,
        proto: str,
        service: str,
        duration: float,
    ) -> None:
        """One completed connection (state SF) from ``orig``:``oport`` to ``resp``:``rport``."""
        rng = self._rng
        uid = "C" + "".join(rng.choice(_UID_CHARACTERS) for _ in range(17))
        ts = at.timestamp()
        self._rows.append(
            (
                ts,
                f"{ts:.6f}\t{uid}\t{orig}\t{oport}\t{resp}\t{rport}\t{proto}\t{service}"
                f"\t{duration:.6f}\t{rng.randint(200, 90000)}\t{rng.randint(200, 90000)}"
                "\tSF\t-\t-\t0\tShADadFf\t12\t2000\t10\t9000\t(empty)",
            )
        )

    def text(self, opened: str, closed: str) -> str:
        """The file: its header (``#open``: ``opened``), the rows in time order, and
        ``#close`` (``closed``; Zeek writes ``-`` while the log is still open)."""
        header = [
            "#separator \\x09",
            "#set_separator\t,",
            "#empty_field\t(empty)",
            "#unset_field\t-",
            "#path\tconn",
            f"#open\t{opened}",
            _FIELDS,
            _TYPES,
        ]
        rows = [text for _, text in sorted(self._rows)]
        return "\n".join([*header, *rows, f"#close\t{closed}"]) + "\n"
