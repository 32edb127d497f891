"""Compiled loops of the warm lookup path (numba, ``cache=True``: compiled once per machine,
then loaded from ``__pycache__``).

Two kernels do what the NumPy stages of a warm batch did, with the same results:

* ``search_part``: for every query, the part's address code (binary search over its sorted
  interned codes), a binary search for the query's first key, a scan of the key range with the
  time-window (and port-block) test. Out come (query, row) pairs, queries ascending and rows
  ascending per query: the order ``WarmSegment.search_codes`` gives.
* ``group_rank``: ``resolve._group_warm``'s grouping and ranking. Text columns are numbered in
  order of first appearance (as ``dictionary_encode``), rows are bucketed by query and sorted
  stably within each query by (kind, addresses, protocol, subscriber or ports, start), rows of
  one session merged, and the sessions of each query ranked by (distance, open, latest start,
  inside address in order of first appearance), ties by session order, as ``np.lexsort``.

This module imports numba, which costs about half a second: only the warm path imports it
(``warm_parts.WarmSegment`` when a part is loaded whole), never the first lookup after opening a
store, which reads row groups through the sparse index.
"""

from __future__ import annotations

import numpy as np
from numba import njit

INT64_MIN = np.iinfo(np.int64).min
INT64_MAX = np.iinfo(np.int64).max
PAIR_US = 1_000_000  # as values.PAIR_US
SMALL_SORT = 16
LANES = 16  # queries searched side by side


@njit(cache=True, nogil=True)
def search_part(
    key: np.ndarray,
    start: np.ndarray,
    end_eff: np.ndarray,
    port_end: np.ndarray,
    port_block: bool,
    g_map: np.ndarray,
    code_start: np.ndarray,
    sample: np.ndarray,
    stride: int,
    gcodes: np.ndarray,
    port_lo: np.ndarray,
    port_hi: np.ndarray,
    port: np.ndarray,
    at_lo: np.ndarray,
    at_hi: np.ndarray,
    min_start: int,
    reach: int,
) -> tuple[np.ndarray, np.ndarray]:
    """(query index, row) of every row of one warm part matching a query given by its
    interned address code (-1 = unknown), port key range [port_lo, port_hi), queried port
    (-1 = none; port blocks) and window [at_lo, at_hi]. ``g_map[code]``: the part's local
    code of an interned code (-1 = none); ``code_start[c]``: the first row of local code c;
    ``sample``: every ``stride``-th key (``WarmSegment``).

    The binary searches of ``LANES`` queries advance in lockstep, so that their cache misses
    overlap instead of following one another."""
    n = len(gcodes)
    mapped = len(g_map)
    cap = 2 * n + 16
    out_q = np.empty(cap, np.int64)
    out_r = np.empty(cap, np.int64)
    count = 0
    if len(key) == 0 or mapped == 0:
        return out_q[:0], out_r[:0]
    lane_q = np.empty(LANES, np.int64)
    lane_base = np.empty(LANES, np.int64)
    lane_len = np.empty(LANES, np.int64)
    lane_lo_key = np.empty(LANES, np.int64)
    lane_hi_key = np.empty(LANES, np.int64)
    lane_top = np.empty(LANES, np.int64)
    lane_local = np.empty(LANES, np.int64)
    lane_sb = np.empty(LANES, np.int64)
    lane_sn = np.empty(LANES, np.int64)
    lane_s0 = np.empty(LANES, np.int64)
    touched = np.int64(0)
    i = 0
    while i < n:
        # the next queries that can match in this part; each step below does one memory
        # access per lane, independent of the other lanes (their misses overlap)
        m = 0
        while i < n and m < LANES:
            gcode = gcodes[i]
            if 0 <= gcode < mapped and at_hi[i] >= min_start and at_lo[i] <= reach:
                lane_q[m] = i
                m += 1
            i += 1
        for j in range(m):
            lane_local[j] = g_map[gcodes[lane_q[j]]]
        kept = 0
        for j in range(m):
            local = lane_local[j]
            if local < 0:
                continue
            qi = lane_q[j]
            base = local << 17
            qport = port[qi]
            if port_block:
                lo_key = base
                hi_key = base + qport + 2 if qport >= 0 else base + (1 << 17)
            else:
                lo_key = base + port_lo[qi]
                hi_key = base + port_hi[qi]
            lane_q[kept] = qi
            lane_base[kept] = code_start[local]
            lane_top[kept] = code_start[local + 1]
            lane_len[kept] = lane_top[kept] - lane_base[kept]
            lane_lo_key[kept] = lo_key
            lane_hi_key[kept] = hi_key
            kept += 1
        m = kept
        # first over every ``stride``-th key (a small array that stays in cache): narrows
        # each lane to the rows between two samples
        active = True
        for j in range(m):
            b = lane_base[j]
            t = lane_top[j]
            if t - b > 2 * stride:
                lane_sb[j] = (b + stride - 1) // stride
                lane_sn[j] = (t + stride - 1) // stride - lane_sb[j]
                lane_s0[j] = lane_sb[j]
            else:
                lane_sn[j] = -1
        while active:
            active = False
            for j in range(m):
                length = lane_sn[j]
                if length > 1:
                    half = length >> 1
                    if sample[lane_sb[j] + half] < lane_lo_key[j]:
                        lane_sb[j] += half
                    lane_sn[j] = length - half
                    active = True
        for j in range(m):
            if lane_sn[j] < 0:
                continue
            k = lane_sb[j]
            if lane_sn[j] == 1 and sample[k] < lane_lo_key[j]:
                k += 1
            # the lower bound lies in ((k - 1) * stride, k * stride]
            b = lane_base[j] if k == lane_s0[j] else (k - 1) * stride + 1
            t = lane_top[j] if k * stride >= lane_top[j] else k * stride
            lane_base[j] = b
            lane_len[j] = t - b
        # lower bound of lo_key within each lane's rows, all lanes one step at a time
        active = True
        while active:
            active = False
            for j in range(m):
                length = lane_len[j]
                if length > 1:
                    half = length >> 1
                    if key[lane_base[j] + half] < lane_lo_key[j]:
                        lane_base[j] += half
                    lane_len[j] = length - half
                    active = True
        for j in range(m):
            r = lane_base[j]
            if lane_len[j] == 1 and key[r] < lane_lo_key[j]:
                r += 1
            lane_base[j] = r
            if r < lane_top[j]:  # the first row's times, fetched for all lanes at once
                touched += start[r] ^ end_eff[r]
        for j in range(m):
            r = lane_base[j]
            top = lane_top[j]
            hi_key = lane_hi_key[j]
            qi = lane_q[j]
            lo_t = at_lo[qi]
            hi_t = at_hi[qi]
            qport = port[qi]
            while r < top and key[r] < hi_key:
                if (
                    start[r] <= hi_t
                    and end_eff[r] >= lo_t
                    and (not port_block or qport < 0 or port_end[r] >= qport)
                ):
                    if count == cap:
                        cap *= 2
                        grown_q = np.empty(cap, np.int64)
                        grown_r = np.empty(cap, np.int64)
                        grown_q[:count] = out_q[:count]
                        grown_r[:count] = out_r[:count]
                        out_q = grown_q
                        out_r = grown_r
                    out_q[count] = qi
                    out_r[count] = r
                    count += 1
                r += 1
    if count < cap:  # a store past the answer: keeps the reads above from being optimised away
        out_q[cap - 1] = touched
    return out_q[:count], out_r[:count]


@njit(cache=True, nogil=True)
def effective_end(
    key: np.ndarray,
    start: np.ndarray,
    end: np.ndarray,
    has_end: np.ndarray,
    holder: np.ndarray,
    interim: np.ndarray,
    open_us: int,
    pair_us: int,
) -> tuple[np.ndarray, np.ndarray]:
    """``segments.run_periods`` over every key run of a part in one pass (the same rule, the
    same results): rows sorted by (key, start) are cut into periods, each period's end worked
    out once and carried to its rows. Returns (effective end, end basis) per row; basis 0 =
    logged (a closing record), 1 = closed by the next period on the key (re-allocation,
    release not logged), 2 = capped by the open-session horizon."""
    n = len(key)
    out = np.empty(n, np.int64)
    basis = np.zeros(n, np.int8)
    i = 0
    while i < n:
        k = key[i]
        run_end = i + 1
        while run_end < n and key[run_end] == k:
            run_end += 1
        c0 = i
        while c0 < run_end:
            cur_end = INT64_MIN
            if has_end[c0]:
                cur_end = end[c0]
            last_start = start[c0]
            j = c0 + 1
            while j < run_end:
                joins = start[j] - start[j - 1] <= pair_us or (
                    interim[j] and holder[j] == holder[j - 1]
                )
                if joins and not has_end[j] and cur_end != INT64_MIN and start[j] > cur_end:
                    joins = False  # an opening record after the period's release
                if not joins:
                    break
                if has_end[j] and end[j] > cur_end:
                    cur_end = end[j]
                if start[j] > last_start:
                    last_start = start[j]
                j += 1
            if cur_end != INT64_MIN:
                e = cur_end
                b = 0
            else:
                cap = last_start + open_us
                nxt = start[j] if j < run_end else INT64_MAX
                if nxt != INT64_MAX and nxt - 1 < cap:
                    e = nxt - 1 if nxt - 1 > last_start else last_start
                    b = 1
                else:
                    e = cap
                    b = 2
            for r in range(c0, j):
                if has_end[r]:
                    out[r] = end[r]
                    basis[r] = 0
                else:
                    # never before its own start (a close stamped before the open, clocks)
                    out[r] = e if e > start[r] else start[r]
                    basis[r] = b
            c0 = j
        i = run_end
    return out, basis


@njit(cache=True, nogil=True)
def order_by_key_then_start(key: np.ndarray, start: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``np.lexsort((start, key))`` for keys in 0 .. 2**32 - 1, for the ingest's sort, and the
    keys in that order.

    A stable radix sort by the key (two 16-bit digits: one counting pass, two scatter passes)
    keeps rows of one key in their input order; each run of equal keys is then put in order
    of start, stably (insertion for the usual few rows of one address and port, a merge sort
    for longer runs). Ties in (key, start) keep their input order, as ``lexsort`` does."""
    n = len(key)
    low = np.zeros(65537, np.int64)
    high = np.zeros(65537, np.int64)
    for i in range(n):
        k = key[i]
        low[(k & 0xFFFF) + 1] += 1
        high[(k >> 16) + 1] += 1
    for d in range(1, 65537):
        low[d] += low[d - 1]
        high[d] += high[d - 1]
    by_low = np.empty(n, np.int64)
    key_low = np.empty(n, np.int64)
    for i in range(n):
        k = key[i]
        d = k & 0xFFFF
        by_low[low[d]] = i
        key_low[low[d]] = k
        low[d] += 1
    order = np.empty(n, np.int64)
    keys = np.empty(n, np.int64)
    for j in range(n):
        k = key_low[j]
        d = k >> 16
        order[high[d]] = by_low[j]
        keys[high[d]] = k
        high[d] += 1
    j = 0
    while j < n:
        e = j + 1
        while e < n and keys[e] == keys[j]:
            e += 1
        if e - j > 32:
            run = order[j:e].copy()
            order[j:e] = run[np.argsort(start[run], kind="mergesort")]
        else:
            for a in range(j + 1, e):
                row = order[a]
                s = start[row]
                b = a - 1
                while b >= j and start[order[b]] > s:
                    order[b + 1] = order[b]
                    b -= 1
                order[b + 1] = row
        j = e
    return order, keys


@njit(cache=True, nogil=True)
def _first_codes(values: np.ndarray, sparse: np.ndarray, dense: np.ndarray) -> np.ndarray:
    """Codes in order of first appearance (negative values -> -1). ``sparse`` (indexed by
    value, any content) and ``dense`` (one slot per row) form a sparse set: no clearing."""
    n = len(values)
    out = np.empty(n, np.int64)
    count = 0
    for i in range(n):
        v = values[i]
        if v < 0:
            out[i] = -1
            continue
        s = sparse[v]
        if 0 <= s < count and dense[s] == v:
            out[i] = s
        else:
            sparse[v] = count
            dense[count] = v
            out[i] = count
            count += 1
    return out


@njit(cache=True, nogil=True)
def _rows_less(keys: np.ndarray, a: int, b: int) -> bool:
    for k in range(keys.shape[1]):
        x = keys[a, k]
        y = keys[b, k]
        if x != y:
            return x < y
    return False


@njit(cache=True, nogil=True)
def _stable_sort(idx: np.ndarray, lo: int, hi: int, keys: np.ndarray, tmp: np.ndarray) -> None:
    """Sort idx[lo:hi] stably by the rows of ``keys`` (keys[i] = the keys of item i)."""
    m = hi - lo
    if m <= SMALL_SORT:
        for i in range(lo + 1, hi):
            item = idx[i]
            j = i - 1
            while j >= lo and _rows_less(keys, item, idx[j]):
                idx[j + 1] = idx[j]
                j -= 1
            idx[j + 1] = item
        return
    # bottom-up merge sort over runs sorted by insertion
    for run in range(lo, hi, SMALL_SORT):
        run_hi = min(run + SMALL_SORT, hi)
        for i in range(run + 1, run_hi):
            item = idx[i]
            j = i - 1
            while j >= run and _rows_less(keys, item, idx[j]):
                idx[j + 1] = idx[j]
                j -= 1
            idx[j + 1] = item
    width = SMALL_SORT
    while width < m:
        for left in range(lo, hi, 2 * width):
            mid = min(left + width, hi)
            right = min(left + 2 * width, hi)
            if mid >= right:
                continue
            i = left
            j = mid
            k = left
            while i < mid and j < right:
                if _rows_less(keys, idx[j], idx[i]):
                    tmp[k] = idx[j]
                    j += 1
                else:
                    tmp[k] = idx[i]
                    i += 1
                k += 1
            while i < mid:
                tmp[k] = idx[i]
                i += 1
                k += 1
            while j < right:
                tmp[k] = idx[j]
                j += 1
                k += 1
            for t in range(left, right):
                idx[t] = tmp[t]
        width *= 2


@njit(cache=True, nogil=True)
def group_rank(
    q: np.ndarray,
    start: np.ndarray,
    end: np.ndarray,
    end_eff: np.ndarray,
    kind: np.ndarray,
    inside_ip: np.ndarray,
    public_ip: np.ndarray,
    protocol: np.ndarray,
    subscriber: np.ndarray,
    inside_port: np.ndarray,
    public_port: np.ndarray,
    at: np.ndarray,
    nat: bool,
    max_code: int,
) -> tuple[
    np.ndarray,
    np.ndarray,
    np.ndarray,
    np.ndarray,
    np.ndarray,
    np.ndarray,
    np.ndarray,
    np.ndarray,
    np.ndarray,
    np.ndarray,
]:
    """Group candidate rows into sessions and rank them per query (see the module
    docstring). ``nat``: the NAT stage (searched by public address; keys end with the inside
    and public ports) or an assignment stage (searched by inside address; keyed by
    subscriber). ``max_code``: above every interned code of the text columns.

    Returns (row order, then per session: query, rank, first row (in the row order), rows,
    start, end (INT64_MIN = none), has end, distance, and the session order by query and
    rank)."""
    n = len(q)
    nq = len(at)
    sparse = np.empty(max_code + 1, np.int64)
    dense = np.empty(n + 1, np.int64)
    nkeys = 7 if nat else 6
    keys = np.empty((n, nkeys), np.int64)  # one row's keys side by side
    keys[:, 0] = _first_codes(kind, sparse, dense)
    # the searched address is the same for every row of a query: its raw codes
    if nat:
        keys[:, 1] = _first_codes(inside_ip, sparse, dense)
        keys[:, 2] = public_ip
    else:
        keys[:, 1] = inside_ip
        keys[:, 2] = _first_codes(public_ip, sparse, dense)
    keys[:, 3] = _first_codes(protocol, sparse, dense)
    if nat:
        for i in range(n):
            p = inside_port[i]
            keys[i, 4] = -1 if p == INT64_MIN else p
            p = public_port[i]
            keys[i, 5] = -1 if p == INT64_MIN else p
    else:
        keys[:, 4] = _first_codes(subscriber, sparse, dense)
    keys[:, nkeys - 1] = start
    # rows bucketed by query (stable), then sorted within each query
    offsets = np.zeros(nq + 1, np.int64)
    for i in range(n):
        offsets[q[i] + 1] += 1
    for j in range(nq):
        offsets[j + 1] += offsets[j]
    fill = offsets[:-1].copy()
    order = np.empty(n, np.int64)
    for i in range(n):
        order[fill[q[i]]] = i
        fill[q[i]] += 1
    tmp = np.empty(n, np.int64)
    for j in range(nq):
        if offsets[j + 1] - offsets[j] > 1:
            _stable_sort(order, offsets[j], offsets[j + 1], keys, tmp)
    # sessions: runs of rows with equal keys whose starts follow within PAIR_US
    s_first = np.empty(n, np.int64)
    count = 0
    for pos in range(n):
        row = order[pos]
        new = pos == 0
        if not new:
            prev = order[pos - 1]
            if q[row] != q[prev] or start[row] - start[prev] > PAIR_US:
                new = True
            else:
                for k in range(nkeys - 1):
                    if keys[row, k] != keys[prev, k]:
                        new = True
                        break
        if new:
            s_first[count] = pos
            count += 1
    s_first = s_first[:count]
    s_q = np.empty(count, np.int64)
    s_rows = np.empty(count, np.int64)
    s_start = np.empty(count, np.int64)
    s_end = np.empty(count, np.int64)
    s_has_end = np.empty(count, np.bool_)
    s_distance = np.empty(count, np.int64)
    s_open = np.empty(count, np.int64)
    s_tie_ip = np.empty(count, np.int64)
    for s in range(count):
        lo = s_first[s]
        hi = s_first[s + 1] if s + 1 < count else n
        first = order[lo]
        qq = q[first]
        begin = start[first]
        last_end = INT64_MIN
        has_end = False
        eff = INT64_MIN
        for pos in range(lo, hi):
            row = order[pos]
            if start[row] < begin:
                begin = start[row]
            if end[row] != INT64_MIN:
                has_end = True
                if end[row] > last_end:
                    last_end = end[row]
            if end_eff[row] > eff:
                eff = end_eff[row]
        cover = last_end if has_end else eff
        a = at[qq]
        dist = begin - a
        if a - cover > dist:
            dist = a - cover
        if dist < 0:
            dist = 0
        s_q[s] = qq
        s_rows[s] = hi - lo
        s_start[s] = begin
        s_end[s] = last_end
        s_has_end[s] = has_end
        s_distance[s] = dist
        s_open[s] = 0 if has_end else 1
        s_tie_ip[s] = inside_ip[first]
    # rank: (distance, open, latest start first, inside address by first appearance)
    tie = _first_codes(s_tie_ip, sparse, dense)
    rank_keys = np.empty((count, 4), np.int64)
    for s in range(count):
        rank_keys[s, 0] = s_distance[s]
        rank_keys[s, 1] = s_open[s]
        rank_keys[s, 2] = -s_start[s]
        rank_keys[s, 3] = tie[s]
    s_order = np.arange(count)
    s_rank = np.empty(count, np.int64)
    s_tmp = np.empty(count, np.int64)
    lo = 0
    while lo < count:
        hi = lo + 1
        while hi < count and s_q[hi] == s_q[lo]:
            hi += 1
        if hi - lo > 1:
            _stable_sort(s_order, lo, hi, rank_keys, s_tmp)
        for pos in range(lo, hi):
            s_rank[s_order[pos]] = pos - lo
        lo = hi
    return (
        order,
        s_q,
        s_rank,
        s_first,
        s_rows,
        s_start,
        s_end,
        s_has_end,
        s_distance,
        s_order,
    )


_primed = False


def prime() -> None:
    """Load (or, the first time on a machine, compile) every kernel for the argument types
    the warm path passes: the first call of a numba function costs about 0.3-0.5 s even from
    its cache, which belongs in warming parts, not in a lookup."""
    global _primed
    if _primed:
        return
    one = np.zeros(1, np.int64)
    none = np.zeros(0, np.int64)
    search_part(
        one, one, one, none, False, np.zeros(1, np.int32), np.zeros(2, np.int64), one, 64,
        one, one, one, one, one, one, 0, 0,
    )  # fmt: skip
    search_part(
        one, one, one, one, True, np.zeros(1, np.int32), np.zeros(2, np.int64), one, 64,
        one, one, one, one, one, one, 0, 0,
    )  # fmt: skip
    for nat in (True, False):
        group_rank(one, one, one, one, one, one, one, one, one, one, one, one, nat, 2)
    effective_end(one, one, one, np.zeros(1, np.bool_), one, np.zeros(1, np.bool_), 0, PAIR_US)
    _primed = True
