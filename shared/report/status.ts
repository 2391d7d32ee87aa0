// Everything the status page shows, composed from the report queries (one implementation, two views).
import type { S3Client } from '@aws-sdk/client-s3';
import type { Pool } from '../db/pool.ts';
import type { Logger } from '../log.ts';
import { readDeadLetters, type DeadLetters } from './dead-letters.ts';
import { inParts, type PartFailure } from './parts.ts';
import {
  catalogueReport,
  coverageReport,
  failuresReport,
  gapsReport,
  knownExchanges,
  recentFindings,
  runsReport,
  type CatalogueEntry,
  type CoverageReport,
  type FindingEntry,
  type GapReport,
  type Report,
  type ReportFilter,
  type RunsReport,
} from './queries.ts';

/** A gap with the command line that fills it. */
export interface RepairableGap extends GapReport {
  repair: string;
}

/** Dead letters, or why the raw bucket could not be read. */
export type DeadLetterState = (DeadLetters & { error?: undefined }) | { error: string; items: [] };

/** The status page's data (also served as JSON). */
export interface StatusReport {
  generatedAt: string;
  range: { from: string; to: string };
  filter: ReportFilter;
  /** Exchanges with any data (for the filter), whatever the filter. */
  exchanges: string[];
  catalogue: CatalogueEntry[];
  coverage: CoverageReport;
  /** Gaps overlapping the range, whole, with their repair command. */
  gaps: RepairableGap[];
  findings: Report['findings'];
  recentFindings: FindingEntry[];
  rejected: Report['rejected'];
  runs: RunsReport;
  deadLetters: DeadLetterState;
  /** The parts not given within the time budget, or failed: shown empty, named on the page. */
  unavailable: PartFailure[];
  summary: {
    series: number;
    ok: number;
    late: number;
    stale: number;
    unscheduled: number;
    gaps: number;
    missingCandles: number;
    findings: number;
    rejected: number;
    deadLetters: number | null;
  };
}

/** Quotes one shell word when it holds anything but plain characters (a symbol from the database could). */
export function shellWord(word: string): string {
  return /^[A-Za-z0-9_./:=,@%+-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}

/** The `npm run repair` command line that fills [start, end) of a series. */
export function repairCommand(
  g: Pick<GapReport, 'exchange' | 'symbol' | 'timeframe' | 'start' | 'end'>,
): string {
  return [
    'npm run repair --',
    shellWord(`--exchange=${g.exchange}`),
    shellWord(`--symbol=${g.symbol}`),
    shellWord(`--timeframe=${g.timeframe}`),
    shellWord(`--from=${g.start}`),
    shellWord(`--to=${g.end}`),
  ].join(' ');
}

/** Reads the dead letters, turning an unreachable bucket into a message (the page still shows everything else). */
export async function deadLetterState(
  s3: S3Client,
  bucket: string,
  opts: { filter: ReportFilter; limit: number },
  log: Logger,
): Promise<DeadLetterState> {
  try {
    return await readDeadLetters(s3, bucket, opts);
  } catch (err) {
    log.error('dead letters could not be read', err, { bucket });
    return { error: `the raw bucket ${bucket} could not be read (see the function log)`, items: [] };
  }
}

/** Builds the status report for a filter and a range, at `now`. */
export async function buildStatus(
  deps: { pool: Pool; deadLetters: () => Promise<DeadLetterState> },
  opts: {
    now: Date;
    from: Date;
    to: Date;
    filter: ReportFilter;
    maxSlots?: number;
    /** Each part answers within this or is shown as not given (default 10 s). */
    budgetMs?: number;
    /** Errors that concern the whole answer (no database at all): thrown instead of shown per part. */
    fatal?: (err: unknown) => boolean;
  },
): Promise<StatusReport> {
  const { pool } = deps;
  const range = { from: opts.from, to: opts.to };
  const emptyCoverage: CoverageReport = {
    from: range.from.toISOString(),
    to: range.to.toISOString(),
    series: [],
    skipped: [],
  };
  const { values, unavailable } = await inParts(
    {
      exchanges: { run: () => knownExchanges(pool), fallback: [] as string[] },
      catalogue: {
        run: () => catalogueReport(pool, opts.now, opts.filter),
        fallback: [] as CatalogueEntry[],
      },
      coverage: {
        run: () => coverageReport(pool, { ...range, now: opts.now }, opts.filter, opts.maxSlots),
        fallback: emptyCoverage,
      },
      gaps: { run: () => gapsReport(pool, opts.filter, range), fallback: [] as GapReport[] },
      failures: {
        run: () => failuresReport(pool, opts.filter),
        fallback: { findings: [], rejected: [] } as Pick<Report, 'findings' | 'rejected'>,
      },
      recentFindings: { run: () => recentFindings(pool, opts.filter), fallback: [] as FindingEntry[] },
      runs: {
        run: () => runsReport(pool, range, opts.filter),
        fallback: { streams: [], recent: [] } as RunsReport,
      },
      deadLetters: {
        run: deps.deadLetters,
        fallback: { items: [], error: 'not read in time' } as DeadLetterState,
      },
    },
    opts.budgetMs ?? 10_000,
    opts.fatal ?? (() => false),
  );
  const { exchanges, catalogue, coverage, gaps, failures, runs, deadLetters } = values;
  const recent = values.recentFindings;
  const count = (f: CatalogueEntry['freshness']) => catalogue.filter((c) => c.freshness === f).length;
  return {
    generatedAt: opts.now.toISOString(),
    range: { from: opts.from.toISOString(), to: opts.to.toISOString() },
    filter: opts.filter,
    exchanges,
    catalogue,
    coverage,
    gaps: gaps.map((g) => ({ ...g, repair: repairCommand(g) })),
    findings: failures.findings,
    recentFindings: recent,
    rejected: failures.rejected,
    runs,
    deadLetters,
    unavailable,
    summary: {
      series: catalogue.length,
      ok: count('ok'),
      late: count('late'),
      stale: count('stale'),
      unscheduled: count('unscheduled'),
      gaps: gaps.length,
      missingCandles: gaps.reduce((n, g) => n + g.missingCandles, 0),
      findings: failures.findings.reduce((n, f) => n + f.count, 0),
      rejected: failures.rejected.length,
      deadLetters:
        deadLetters.error !== undefined
          ? null
          : opts.filter.exchange === undefined && opts.filter.dataset === undefined
            ? deadLetters.listed
            : deadLetters.items.length,
    },
  };
}
