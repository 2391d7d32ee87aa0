// extract over recorded exchange replies: id-less kucoin trades, exact text and derived values as the sink receives them.
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ExtractBatch } from '../../shared/events/schemas.ts';
import { extractUnderTest } from '../support/extract.ts';
import { fixtures, startReplayServer } from '../support/recorded.ts';
import { startSink, type TestSink } from '../support/sink.ts';

let replayServer: Awaited<ReturnType<typeof startReplayServer>>;
let sink: TestSink;
beforeAll(async () => {
  [replayServer, sink] = await Promise.all([startReplayServer(), startSink()]);
});
afterAll(async () => {
  await replayServer.close();
  await sink.close();
});

/** Runs one extract request for `exchange`, every exchange call answered with the recorded reply of `method`. */
async function extract(exchange: string, method: string, body: Record<string, unknown>, now: number) {
  const entry = fixtures[exchange]!.responses[method]![0]!;
  replayServer.reply(JSON.stringify(entry.httpResponse));
  const fn = extractUnderTest({
    exchange,
    apiBaseUrl: replayServer.url,
    sinkUrl: sink.url,
    now,
    env: { CURSOR_STORE: 'none' },
  });
  fn.client.useMarkets(fixtures[exchange]!.markets);
  sink.events.length = 0;
  const res = await request(fn.server).post('/').set('content-type', 'application/json').send(body);
  return { res, records: sink.events.flatMap((e) => (e.data as ExtractBatch).records as unknown[]) };
}

describe('extract with recorded replies', () => {
  it("kucoin's trades, which have no id, are delivered with seq: keys instead of failing the request", async () => {
    const ts = 1709897616745;
    const { res, records } = await extract(
      'kucoin',
      'fetchTrades',
      { datasets: ['trades'], symbols: ['BTC/USDT'], since: ts - 60_000, until: ts + 60_000 },
      ts + 120_000,
    );
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(records).toEqual([
      {
        id: 'seq:7613805866401793',
        ts,
        side: 'sell',
        price: '67347.4',
        amount: '0.00453030',
        cost: null,
        takerOrMaker: null,
      },
    ]);
  });

  it("gate's trade amount arrives as the exchange wrote it (0.00020)", async () => {
    const ts = 1710327648162;
    const { res, records } = await extract(
      'gate',
      'fetchTrades',
      { datasets: ['trades'], symbols: ['BTC/USDT'], since: ts - 60_000, until: ts + 60_000 },
      ts + 120_000,
    );
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(records).toMatchObject([{ id: '7835390042', amount: '0.00020', cost: null }]);
  });

  it("okx's ticker: ccxt's float-noise percentage is not delivered", async () => {
    const { res, records } = await extract(
      'okx',
      'fetchTicker',
      { datasets: ['tickers'], symbols: ['BTC/USDT'] },
      Date.UTC(2026, 0, 1),
    );
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(records).toMatchObject([
      { symbol: 'BTC/USDT', last: '73384.8', open: '72166.8', change: null, percentage: null, vwap: null },
    ]);
  });
});
