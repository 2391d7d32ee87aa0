// Repair: the gaps that `report` shows, turned into exactly the backfill chunks that fill them.
import type { GapReport } from '../report/queries.ts';
import { planChunks, type Chunk } from './backfill.ts';

/** Which gaps to repair; every field narrows the selection. */
export interface GapFilter {
  exchange?: string;
  symbols?: readonly string[];
  timeframe?: string;
  /** Only the part of each gap inside [from, to). */
  from?: number;
  to?: number;
}

/** The chunks that fill the selected gaps: one window per gap (clipped to from/to), cut at `candlesPerChunk`. */
export function gapChunks(
  gaps: readonly GapReport[],
  filter: GapFilter,
  now: number,
  candlesPerChunk: number,
): Chunk[] {
  return selectGaps(gaps, filter).flatMap((g) => {
    const since = Math.max(Date.parse(g.start), filter.from ?? -Infinity);
    const until = Math.min(Date.parse(g.end), filter.to ?? Infinity);
    if (!(until > since)) return [];
    return planChunks({
      exchange: g.exchange,
      symbols: [g.symbol],
      timeframe: g.timeframe,
      since,
      until,
      now,
      candlesPerChunk,
    });
  });
}

/** The gaps of the selected series that overlap [from, to). */
export function selectGaps(gaps: readonly GapReport[], filter: GapFilter): GapReport[] {
  return gaps.filter(
    (g) =>
      (!filter.exchange || g.exchange === filter.exchange) &&
      (!filter.symbols || filter.symbols.includes(g.symbol)) &&
      (!filter.timeframe || g.timeframe === filter.timeframe) &&
      Date.parse(g.end) > (filter.from ?? -Infinity) &&
      Date.parse(g.start) < (filter.to ?? Infinity),
  );
}

/** The command line that repairs one gap, as `report` and the status page show it. */
export function repairCommand(
  g: Pick<GapReport, 'exchange' | 'symbol' | 'timeframe' | 'start' | 'end'>,
): string {
  return `npm run repair -- --exchange=${g.exchange} --symbols=${g.symbol} --timeframe=${g.timeframe} --from=${g.start} --to=${g.end}`;
}
