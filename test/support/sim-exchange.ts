// A simulated exchange with configurable quirks, answering windowed requests for candles or trades as real venues do.

/** How the simulated exchange answers a request for records in [since, until). */
export interface Quirks {
  /** Honours `since`; otherwise answers its newest records up to now whatever `since` asks. */
  since: boolean;
  /** Honours `until`; otherwise answers as if `until` were now. */
  until: boolean;
  /** With both bounds, answers the oldest records from `since` ('since') or the newest before `until` ('until'). */
  anchor: 'since' | 'until';
  /** Largest page it gives, whatever limit is asked. */
  cap: number;
  /** Serves only its newest N records. */
  retainsNewest?: number;
  /** Answers newest first. */
  descending: boolean;
  /** Treats `until` as inclusive (one record more at the end). */
  inclusiveUntil: boolean;
  /** Starts a page that answers from `since` with the record just before it (the one containing `since`). */
  boundaryDuplicate: boolean;
}

/** A record of the simulated exchange: time and unique key. */
export interface SimRecord {
  ts: number;
  key: string;
}

/** A simulated exchange holding `records` (any order) at time `now`, with the request log. */
export function simExchange(records: readonly SimRecord[], now: number, q: Quirks) {
  const held = [...records]
    .filter((r) => r.ts <= now)
    .sort((a, b) => a.ts - b.ts || (a.key < b.key ? -1 : 1));
  const served = q.retainsNewest !== undefined ? held.slice(-q.retainsNewest) : held;
  const calls: Array<{ since: number; until: number | undefined; limit: number }> = [];
  const fetchPage = async (since: number, until: number | undefined, limit: number): Promise<SimRecord[]> => {
    calls.push({ since, until, limit });
    const lo = q.since ? since : -Infinity;
    const hi = q.until && until !== undefined ? until : now + 1;
    const range = served.filter((r) => r.ts >= lo && (q.inclusiveUntil ? r.ts <= hi : r.ts < hi));
    const n = Math.min(limit, q.cap);
    const fromSince = q.since && q.anchor === 'since';
    let page = fromSince ? range.slice(0, n) : range.slice(-n);
    if (q.boundaryDuplicate && fromSince) {
      const before = served.filter((r) => r.ts < since).at(-1);
      if (before) page = [before, ...page];
    }
    return q.descending ? [...page].reverse() : page;
  };
  return { held, served, calls, fetchPage };
}
