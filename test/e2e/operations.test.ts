// End to end, the operator's view: transient failures retried with nothing lost or duplicated, a permanently bad
// event in the dead-letter store and the report, a lost tick's gap found by report and filled by repair, and a
// resumable backfill through the Broker.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildEvent, toBinary } from '../../shared/events/cloudevent.ts';
import { EventType } from '../../shared/events/schemas.ts';
import { BATCH_PREFIX, listKeys } from '../../shared/lake/list.ts';
import {
  ProgressFile,
  brokerSender,
  loadedCandles,
  planChunks,
  runBackfill,
  type BackfillOptions,
} from '../../shared/ops/backfill.ts';
import { gapChunks } from '../../shared/ops/repair.ts';
import { buildReport, formatReport, gapsReport } from '../../shared/report/queries.ts';
import { startChain, type Chain } from '../support/chain.ts';

const MIN = 60_000;
const T0 = Date.UTC(2026, 10, 24, 12, 0, 30);
const SYMBOLS = ['BTC/USDT', 'BTC/USDT:USDT', 'ETH/USDT', 'ETH/USDT:USDT'];
const FAST: BackfillOptions = {
  minIntervalMs: 0,
  settleMs: 1500,
  timeoutMs: 15_000,
  pollMs: 50,
  concurrency: 1,
};

let chain: Chain;
let progressDir: string;

beforeAll(async () => {
  chain = await startChain({ now: T0 });
  progressDir = mkdtempSync(join(tmpdir(), 'backfill-progress-'));
}, 120_000);

afterAll(async () => {
  await chain?.close();
  rmSync(progressDir, { recursive: true, force: true });
});

const count = async (sql: string, params: unknown[] = []) =>
  (await chain.db.pool.query<{ n: number }>(sql, params)).rows[0]!.n;

/** Fires the every-minute schedules (ohlcv and tickers) as the PingSources would at `at`. */
async function tick(at: number): Promise<void> {
  chain.setNow(at);
  expect(chain.broker.firePings(new Date(at))).toBeGreaterThan(0);
  await chain.settle();
}

describe('operations, end to end', () => {
  it('retries a stage that fails transiently: nothing lost, nothing duplicated', async () => {
    // load-raw answers 503 to the first two deliveries of every event; transform to the first three notifications.
    const seen = new Map<string, number>();
    chain.gates['load-raw'] = (req) => {
      const id = String(req.headers['ce-id']);
      seen.set(id, (seen.get(id) ?? 0) + 1);
      return (seen.get(id) as number) <= 2 ? 503 : undefined;
    };
    let notifications = 0;
    chain.gates.transform = () => (++notifications <= 3 ? 503 : undefined);
    expect(chain.broker.firePings(new Date(T0), true)).toBeGreaterThanOrEqual(4);
    await chain.settle();
    delete chain.gates['load-raw'];
    delete chain.gates.transform;

    expect(chain.reports.filter((r) => r.deadLettered)).toEqual([]);
    const toLoadRaw = chain.reports.filter((r) => r.subscriber === 'load-raw');
    expect(toLoadRaw.length).toBeGreaterThan(0);
    expect(toLoadRaw.every((r) => r.status === 204 && r.attempts === 3)).toBe(true);
    expect(notifications).toBeGreaterThan(3);

    // Nothing lost: 30 closed candles and the open one per symbol, a ticker per symbol, funding for the swaps.
    for (const s of SYMBOLS) {
      expect(await count(`SELECT count(*)::int AS n FROM ohlcv WHERE symbol = $1 AND closed`, [s])).toBe(30);
      expect(await count(`SELECT count(*)::int AS n FROM ohlcv WHERE symbol = $1`, [s])).toBe(31);
    }
    expect(await count(`SELECT count(DISTINCT symbol)::int AS n FROM ticker_snapshots`)).toBe(4);
    expect(await count(`SELECT count(*)::int AS n FROM funding_rates`)).toBe(2);
    // Nothing duplicated: one raw object per batch event, one ledger row per object, every object loaded.
    const objects = await listKeys(chain.s3, 'crypto-raw', BATCH_PREFIX);
    expect(objects).toHaveLength(new Set(toLoadRaw.map((r) => r.event.id)).size);
    const ledger = (await chain.db.pool.query(`SELECT object_key FROM ingestion_ledger ORDER BY 1`)).rows;
    expect(ledger.map((r) => r.object_key)).toEqual([...objects].sort());
  });

  it('puts a permanently bad event in the dead-letter store and a bad object among the rejected; report shows both', async () => {
    const bad = buildEvent({
      id: 'bad-batch-1',
      source: 'cryptopipe/test',
      type: EventType.extractBatch,
      time: T0,
      data: { schemaVersion: 1, exchange: 'binance', dataset: 'ohlcv', records: [{ ts: 'yesterday' }] },
      extensions: { exchange: 'binance', dataset: 'ohlcv' },
    });
    const { headers, body } = toBinary(bad);
    expect((await fetch(chain.broker.url, { method: 'POST', headers, body })).status).toBe(202);
    const badKey = `${BATCH_PREFIX}binance/dataset=ohlcv/symbol=BTC-USDT/timeframe=1m/date=2026-11-24/broken.json`;
    await chain.s3.send(
      new PutObjectCommand({
        Bucket: 'crypto-raw',
        Key: badKey,
        Body: '{"truncated": ',
        ContentType: 'application/json',
      }),
    );
    await chain.settle();

    const refused = chain.reports.filter((r) => r.event.id === 'bad-batch-1');
    expect(refused).toHaveLength(1);
    expect(refused[0]).toMatchObject({
      subscriber: 'load-raw',
      status: 400,
      attempts: 1,
      deadLettered: true,
    });
    const report = await buildReport(chain.db.pool, chain.deadLetters, new Date(chain.now()));
    expect(report.deadLetters).toHaveLength(1);
    expect(report.deadLetters[0]!.key).toContain('cryptopipe.extract.batch');
    expect(report.rejected.map((r) => r.key)).toEqual([badKey]);
    expect(report.rejected[0]!.reason).toMatch(/JSON/i);
    const text = formatReport(report);
    expect(text).toContain('dead letters: 1');
    expect(text).toContain(badKey);
  });

  it('a skipped tick leaves no gap: the next tick continues from the cursor', async () => {
    const before = await count(`SELECT count(*)::int AS n FROM ohlcv WHERE closed`);
    await tick(T0 + 5 * MIN); // the ticks of T0+1..T0+4 never fired
    expect(await count(`SELECT count(*)::int AS n FROM ohlcv WHERE closed`)).toBe(
      before + 5 * SYMBOLS.length,
    );
    expect(await gapsReport(chain.db.pool)).toEqual([]);
  });

  it('a lost delivery leaves a gap that report finds and repair fills exactly, with the exchange values', async () => {
    // The BTC/USDT candles of the tick at T0+10 are acknowledged and thrown away (a lost delivery); the cursor moved on.
    chain.gates['load-raw'] = (req) => {
      const data = req.body as { dataset?: string; symbol?: string };
      return data.dataset === 'ohlcv' && data.symbol === 'BTC/USDT' ? 'drop' : undefined;
    };
    await tick(T0 + 10 * MIN);
    delete chain.gates['load-raw'];
    await tick(T0 + 12 * MIN);

    const gaps = await gapsReport(chain.db.pool);
    expect(gaps).toEqual([
      {
        exchange: 'binance',
        symbol: 'BTC/USDT',
        timeframe: '1m',
        start: new Date(Date.UTC(2026, 10, 24, 12, 5)).toISOString(),
        end: new Date(Date.UTC(2026, 10, 24, 12, 10)).toISOString(),
        missingCandles: 5,
      },
    ]);
    const report = await buildReport(chain.db.pool, chain.deadLetters, new Date(chain.now()));
    expect(report.series.find((s) => s.symbol === 'BTC/USDT')).toMatchObject({ gaps: 1, missingCandles: 5 });

    const chunks = gapChunks(gaps, { exchange: 'binance' }, chain.now(), 1000);
    expect(chunks.map((c) => [c.symbol, c.expected])).toEqual([['BTC/USDT', 5]]);
    const klinesBefore = chain.fake.requests.filter((r) => r.path.endsWith('/klines')).length;
    const result = await runBackfill(
      chunks,
      { send: brokerSender(chain.broker.url), loaded: loadedCandles(chain.db.pool) },
      FAST,
    );
    await chain.settle();
    expect(result.outcomes.complete).toBe(1);
    expect(result.incomplete).toEqual([]);
    expect(await gapsReport(chain.db.pool)).toEqual([]);
    // Exactly that window was asked of the exchange, and the repaired rows are its values on the wire.
    const asked = chain.fake.requests.filter((r) => r.path.endsWith('/klines')).slice(klinesBefore);
    expect(asked.length).toBeGreaterThan(0);
    const repaired = (
      await chain.db.pool.query(
        `SELECT open::text, close::text FROM ohlcv WHERE symbol = 'BTC/USDT' AND open_time >= $1 AND open_time < $2`,
        [new Date(Date.UTC(2026, 10, 24, 12, 5)), new Date(Date.UTC(2026, 10, 24, 12, 10))],
      )
    ).rows;
    expect(repaired).toHaveLength(5);
    const wire = asked.map((r) => r.body).join('\n');
    for (const r of repaired) {
      expect(wire).toContain(`"${r.open}"`);
      expect(wire).toContain(`"${r.close}"`);
    }
  });

  it('backfills a date range through the Broker and resumes after an interruption without sending a chunk twice', async () => {
    const chunks = planChunks({
      exchange: 'binance',
      symbols: ['ETH/USDT', 'BTC/USDT:USDT'],
      timeframe: '1h',
      since: Date.UTC(2026, 10, 20),
      until: Date.UTC(2026, 10, 23),
      now: chain.now(),
      candlesPerChunk: 24,
    });
    expect(chunks).toHaveLength(6);
    const progressPath = join(progressDir, 'binance.json');
    const deps = () => ({
      send: brokerSender(chain.broker.url),
      loaded: loadedCandles(chain.db.pool),
      progress: new ProgressFile(progressPath),
    });
    // "Interrupted" after two chunks: the second run must only send the four others.
    const first = await runBackfill(chunks.slice(0, 2), deps(), FAST);
    expect(first.requestsSent).toBe(2);
    const requestsBefore = chain.reports.filter((r) => r.event.type === EventType.extractRequest).length;
    const second = await runBackfill(chunks, deps(), FAST);
    await chain.settle();
    expect(second.outcomes).toMatchObject({ resumed: 2, complete: 4, 'no-data': 0, partial: 0 });
    expect(second.requestsSent).toBe(4);
    expect(
      chain.reports.filter((r) => r.event.type === EventType.extractRequest).length - requestsBefore,
    ).toBe(4);
    for (const s of ['ETH/USDT', 'BTC/USDT:USDT'])
      expect(
        await count(
          `SELECT count(*)::int AS n FROM ohlcv WHERE symbol = $1 AND timeframe = '1h' AND closed AND open_time >= '2026-11-20' AND open_time < '2026-11-23'`,
          [s],
        ),
      ).toBe(72);
    // Without the progress file, PostgreSQL itself says everything is there: nothing is sent.
    const third = await runBackfill(
      chunks,
      { ...deps(), progress: new ProgressFile(join(progressDir, 'none.json')) },
      FAST,
    );
    expect(third.requestsSent).toBe(0);
    expect(third.outcomes['already-loaded']).toBe(6);
    expect(await gapsReport(chain.db.pool)).toEqual([]);
  });
});
