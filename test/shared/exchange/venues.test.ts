// The venue table against ccxt's real request building: for every exchange and market kind, the window reaches the
// exchange in its own parameters, and no parameter its API does not define (a raw `until`) is ever sent.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadExtractConfig } from '../../../shared/config.ts';
import { ExchangeClient, type CallContext } from '../../../shared/exchange/client.ts';
import { VENUES, pagingBehaviour } from '../../../shared/exchange/venues.ts';
import { log } from '../../../shared/log.ts';
import { parseTimeframe } from '../../../shared/time.ts';
import { fixtures, startReplayServer } from '../../support/recorded.ts';

const since = Date.UTC(2026, 10, 20, 10, 0);
const until = since + 60 * 60_000;
const tf = parseTimeframe('1m')!;
let server: Awaited<ReturnType<typeof startReplayServer>>;
beforeAll(async () => {
  server = await startReplayServer();
});
afterAll(() => server.close());

/** The query of every request ccxt sent for `run`, whatever the (empty) answers made of it. */
async function queries(exchange: string, run: (c: ExchangeClient, ctx: CallContext) => Promise<unknown>) {
  const client = new ExchangeClient(
    loadExtractConfig({
      EXCHANGE: exchange,
      K_SINK: 'http://127.0.0.1:9/',
      EXCHANGE_API_BASE_URL: server.url,
      CURSOR_STORE: 'none',
      RETRY_WINDOW_MS: '0',
    }),
  );
  client.useMarkets(fixtures[exchange]!.markets);
  server.reply('{}');
  const before = server.requests.length;
  await run(client, { stats: { requests: 0, retries: 0, weight: 0 }, log }).catch(() => undefined);
  return server.requests.slice(before).map((r) => new URL(r, 'http://x').searchParams);
}

const cases = Object.keys(VENUES).flatMap((exchange) =>
  ['BTC/USDT', 'BTC/USDT:USDT']
    .filter((s) => fixtures[exchange]?.markets[s] !== undefined)
    .map((symbol) => ({ exchange, symbol })),
);

describe('the venue table against the requests ccxt builds', () => {
  it('covers the seven default exchanges and coinbase, spot and swaps where they have them', () => {
    expect(new Set(cases.map((c) => c.exchange))).toEqual(
      new Set(['binance', 'bybit', 'okx', 'kraken', 'kucoin', 'gate', 'bitget', 'coinbase']),
    );
    expect(cases.length).toBeGreaterThanOrEqual(12);
  });

  it.each(cases)(
    '$exchange $symbol candles: the window in its own parameters, never a raw until',
    async (c) => {
      const sent = await queries(c.exchange, (client, ctx) =>
        client.candles(c.symbol, tf, { since, until, limit: 100, now: until }, ctx),
      );
      expect(sent.length).toBeGreaterThan(0);
      for (const q of sent) {
        expect([...q.keys()]).not.toContain('until');
        expect([...q.keys()]).not.toContain('till');
      }
      const values = sent.flatMap((q) => [...q.values()]);
      // ms or s, inclusive or exclusive (kraken's `since` is exclusive: one interval earlier).
      const asTime = (t: number) =>
        [t, t - 1, t - tf.ms].flatMap((x) => [String(x), String(Math.floor(x / 1000))]);
      // The start of the window reaches the exchange (ms or s, as its API takes it).
      expect(values.some((v) => asTime(since).includes(v))).toBe(true);
      if (pagingBehaviour(c.exchange, 'ohlcv').until) {
        expect(
          values.some((v) => asTime(until).includes(v)),
          `${c.exchange} gets the end of the window`,
        ).toBe(true);
      }
    },
  );

  it.each(cases)('$exchange $symbol trades: only parameters the exchange defines', async (c) => {
    const sent = await queries(c.exchange, (client, ctx) =>
      client.trades(c.symbol, { since, until, limit: 100 }, ctx),
    );
    expect(sent.length).toBeGreaterThan(0);
    for (const q of sent) {
      expect([...q.keys()]).not.toContain('until');
      expect([...q.keys()]).not.toContain('till');
    }
    if (c.exchange === 'gate') {
      // ccxt sends `from` for contracts only and leaks `until`: Gate's own from/to (seconds) carry the window.
      expect(sent.at(-1)!.get('from')).toBe(String(Math.floor(since / 1000)));
      expect(sent.at(-1)!.get('to')).toBe(String(Math.floor((until - 1) / 1000)));
    }
  });
});
