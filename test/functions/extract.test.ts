// The extract function through its HTTP handler, on binance, bybit and okx served by the offline fake exchange.
import { HTTP } from 'cloudevents';
import request from 'supertest';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { buildEvent, toBinary, toStructured } from '../../shared/events/cloudevent.ts';
import {
  EventType,
  extractBatchSchema,
  extractSummarySchema,
  type ExtractBatch,
  type ExtractSummary,
  type OhlcvRecord,
  type TradeRecord,
} from '../../shared/events/schemas.ts';
import {
  startFakeExchange,
  type FakeExchange,
  type FakeExchangeId,
} from '../../scripts/offline/fake-exchange.ts';
import { MemoryCursorStore } from '../support/cursors.ts';
import { extractUnderTest } from '../support/extract.ts';
import { startSink, type TestSink } from '../support/sink.ts';

const MIN = 60_000;
/** A fixed "now", 30 s into a minute, so the newest candle is partial. */
const NOW = Date.UTC(2026, 10, 24, 12, 0, 30);

interface ExchangeCase {
  id: FakeExchangeId;
  spot: string;
  swap: string;
  klinesPath: string;
  /** Candles per OHLCV page this exchange serves (ccxt's page size). */
  pageSize: number;
}

const exchanges: ExchangeCase[] = [
  { id: 'binance', spot: 'BTC/USDT', swap: 'BTC/USDT:USDT', klinesPath: '/api/v3/klines', pageSize: 1000 },
  { id: 'bybit', spot: 'BTC/USDT', swap: 'BTC/USDT:USDT', klinesPath: '/v5/market/kline', pageSize: 1000 },
  { id: 'okx', spot: 'BTC/USDT', swap: 'BTC/USDT:USDT', klinesPath: '/api/v5/market', pageSize: 300 },
];

function batchesOf(sink: TestSink): ExtractBatch[] {
  return sink.events
    .filter((e) => e.type === EventType.extractBatch)
    .map((e) => extractBatchSchema.parse(e.data));
}

function candlesOf(sink: TestSink, symbol: string): OhlcvRecord[] {
  return batchesOf(sink)
    .filter((b) => b.dataset === 'ohlcv' && b.symbol === symbol)
    .sort((a, b) => a.chunk.index - b.chunk.index)
    .flatMap((b) => b.records as OhlcvRecord[]);
}

describe.each(exchanges)('extract on $id', (x) => {
  let fake: FakeExchange;
  let sink: TestSink;
  beforeAll(async () => {
    fake = await startFakeExchange({ exchange: x.id, now: NOW });
    sink = await startSink();
  });
  afterAll(async () => {
    await fake?.close();
    await sink?.close();
  });
  afterEach(() => {
    fake.clearFaults();
    sink.events.length = 0;
    sink.messages.length = 0;
  });
  const make = (env: Record<string, string> = {}) =>
    extractUnderTest({
      exchange: x.id,
      apiBaseUrl: fake.url,
      sinkUrl: sink.url,
      now: NOW,
      env: { CURSOR_STORE: 'none', ...env },
    });

  it('GET describes the deployment', async () => {
    const res = await request(make().server).get('/').expect(200);
    expect(res.body).toMatchObject({ function: 'extract', exchange: x.id });
    expect(res.body.datasets).toEqual(
      expect.arrayContaining(['ohlcv', 'trades', 'tickers', 'orderbook', 'funding', 'markets']),
    );
  });

  it('OHLCV: exact decimals from the exchange, contiguous candles, only the newest one partial', async () => {
    const res = await request(make().server)
      .post('/')
      .send({ datasets: ['ohlcv'], symbols: [x.spot], timeframe: '1m', lookback: 'PT3H' })
      .expect(200);
    const summary = extractSummarySchema.parse(res.body);
    const candles = candlesOf(sink, x.spot);
    expect(candles.length).toBe(180);
    candles.forEach((c, i) => {
      if (i > 0) expect(c.ts - (candles[i - 1] as OhlcvRecord).ts).toBe(MIN);
      expect(c.closed).toBe(i < candles.length - 1);
    });
    expect((candles.at(-1) as OhlcvRecord).ts).toBe(Math.floor(NOW / MIN) * MIN);
    // Every value is the exchange's own decimal text as sent on the wire.
    const wire = fake.requests
      .filter((r) => r.path.startsWith(x.klinesPath))
      .map((r) => r.body)
      .join('\n');
    for (const c of candles) {
      for (const v of [c.open, c.high, c.low, c.close]) expect(wire).toContain(`"${v}"`);
    }
    expect(summary.series[0]).toMatchObject({
      dataset: 'ohlcv',
      symbol: x.spot,
      records: 180,
      closed: 179,
      missing: [],
    });
  });

  it('OHLCV over several exchange pages: nothing lost, nothing doubled', async () => {
    const minutes = x.pageSize * 2 + 123;
    const since = Math.floor(NOW / MIN) * MIN - minutes * MIN;
    const res = await request(make().server)
      .post('/')
      .send({ datasets: ['ohlcv'], symbols: [x.swap], timeframe: '1m', since, until: since + minutes * MIN })
      .expect(200);
    const candles = candlesOf(sink, x.swap);
    expect(candles.map((c) => c.ts)).toEqual(Array.from({ length: minutes }, (_, i) => since + i * MIN));
    expect(candles.every((c) => c.closed)).toBe(true);
    expect(res.body.series[0].pages).toBeGreaterThanOrEqual(3);
  });

  it('other datasets: trades, tickers, order book, funding and markets', async () => {
    const res = await request(make().server)
      .post('/')
      .send({
        datasets: ['trades', 'tickers', 'orderbook', 'funding', 'markets'],
        symbols: [x.spot, x.swap],
        lookback: '5m',
        depth: 5,
      })
      .expect(200);
    const summary = res.body as ExtractSummary;
    const by = (d: string) => batchesOf(sink).filter((b) => b.dataset === d);
    const recs = (d: string) => by(d).flatMap((b) => b.records as unknown[]);
    expect(recs('trades').length).toBeGreaterThan(0);
    const tickers = recs('tickers') as Array<{ symbol: string }>;
    expect(tickers.map((t) => t.symbol).sort()).toEqual([x.spot, x.swap].sort());
    const levels = recs('orderbook') as Array<{ side: string; level: number }>;
    expect(levels.filter((l) => l.side === 'bid').length).toBeLessThanOrEqual(10);
    expect(levels.length).toBeGreaterThan(0);
    const funding = recs('funding') as Array<{ symbol: string; fundingRate: string | null }>;
    expect(funding.map((f) => f.symbol)).toEqual([x.swap]);
    const markets = recs('markets') as Array<{ symbol: string; type: string }>;
    expect(markets.map((m) => m.symbol)).toEqual(expect.arrayContaining([x.spot, x.swap]));
    expect(summary.series.map((s) => s.dataset).sort()).toEqual([
      'funding',
      'markets',
      'orderbook',
      'orderbook',
      'tickers',
      'trades',
      'trades',
    ]);
    // The series run side by side; the summary still counts every byte the sink took, once.
    expect(summary.events).toBe(sink.messages.length);
    expect(summary.bytes).toBe(sink.messages.reduce((n, m) => n + Buffer.byteLength(m.body), 0));
  });

  it('trades: every trade of the window once, or the part the exchange cannot serve reported', async () => {
    const res = await request(make().server)
      .post('/')
      .send({ datasets: ['trades'], symbols: [x.spot], lookback: 'PT2H' })
      .expect(200);
    const series = (res.body as ExtractSummary).series[0]!;
    const trades = batchesOf(sink).flatMap((b) =>
      b.dataset === 'trades' ? (b.records as TradeRecord[]) : [],
    );
    expect(new Set(trades.map((t) => t.id)).size).toBe(trades.length);
    expect(trades.every((t, i) => i === 0 || t.ts >= trades[i - 1]!.ts)).toBe(true);
    expect(trades.every((t) => t.ts >= NOW - 7_200_000 && t.ts < NOW)).toBe(true);
    if (x.id === 'binance') {
      // Binance pages by time: ids are consecutive from the window start to now.
      expect(series.missing).toEqual([]);
      expect(trades.every((t, i) => i === 0 || Number(t.id) === Number(trades[i - 1]!.id) + 1)).toBe(true);
      expect(trades[0]!.ts - (NOW - 7_200_000)).toBeLessThan(4_000);
      expect(NOW - trades.at(-1)!.ts).toBeLessThan(4_000);
    } else {
      // Bybit and OKX serve only recent trades: the older part is reported, not passed over (with the oldest
      // trade's millisecond: others sharing it may have been cut off).
      expect(series.missing).toEqual([
        {
          since: NOW - 7_200_000,
          until: trades[0]!.ts + 1,
          reason: `${x.id} serves only its newest trades whatever since asks; older ones in the window were not available`,
          retryable: false,
        },
      ]);
    }
  });

  it('retries 5xx and 429 (with Retry-After) and then succeeds', async () => {
    fake.addFault({ pathPrefix: x.klinesPath, status: 500, times: 2 });
    fake.addFault({ pathPrefix: x.klinesPath, status: 429, headers: { 'retry-after': '1' }, times: 1 });
    const res = await request(make().server)
      .post('/')
      .send({ datasets: ['ohlcv'], symbols: [x.spot], lookback: 'PT10M' })
      .expect(200);
    expect(res.body.retries).toBe(3);
    expect(candlesOf(sink, x.spot)).toHaveLength(10);
  });

  it('a page failing for good fails the request with 503 after the pages before it; the retry delivers the whole window', async () => {
    const minutes = x.pageSize * 2;
    const since = Math.floor(NOW / MIN) * MIN - minutes * MIN;
    let n = 0;
    fake.addFault({ match: (r) => r.path.startsWith(x.klinesPath) && ++n >= 2, status: 502 });
    const fn = make({ RETRY_WINDOW_MS: '200' });
    const body = { datasets: ['ohlcv'], symbols: [x.spot], since, until: since + minutes * MIN };
    const res = await request(fn.server).post('/').send(body).expect(503);
    expect(res.body.error).toBe('exchange_unavailable');
    // Pages are delivered as they arrive, in time order (memory does not grow with the window): what went out is
    // the start of the window, without a hole (okx's first answer is its newest 100 candles, held until the part
    // before them is asked, which failed: nothing went out).
    const sent = candlesOf(sink, x.spot).map((c) => c.ts);
    expect(sent.length).toBeLessThan(minutes);
    expect(sent).toEqual(Array.from({ length: sent.length }, (_, i) => since + i * MIN));
    fake.clearFaults();
    await request(fn.server).post('/').send(body).expect(200);
    const all = new Set(candlesOf(sink, x.spot).map((c) => c.ts));
    expect([...all].sort((a, b) => a - b)).toEqual(
      Array.from({ length: minutes }, (_, i) => since + i * MIN),
    );
  });

  it('418 stops all calls at once and honours Retry-After', async () => {
    const fn = make();
    fake.addFault({ pathPrefix: x.klinesPath, status: 418, headers: { 'retry-after': '120' } });
    const res = await request(fn.server)
      .post('/')
      .send({ datasets: ['ohlcv'], symbols: [x.spot], lookback: 'PT10M' })
      .expect(503);
    expect(res.body.error).toBe('exchange_ip_banned');
    expect(Number(res.headers['retry-after'])).toBeGreaterThan(100);
    fake.clearFaults();
    const before = fake.requests.length;
    const again = await request(fn.server)
      .post('/')
      .send({ datasets: ['tickers'], symbols: [x.spot] })
      .expect(503);
    expect(again.body.error).toBe('exchange_ip_banned');
    expect(fake.requests.length).toBe(before);
  });

  it('451 is a clear error naming EXCHANGE_API_BASE_URL', async () => {
    fake.addFault({ pathPrefix: x.klinesPath, status: 451 });
    const res = await request(make().server)
      .post('/')
      .send({ datasets: ['ohlcv'], symbols: [x.spot], lookback: 'PT10M' })
      .expect(451);
    expect(res.body.message).toMatch(/EXCHANGE_API_BASE_URL/);
    // The message names this exchange and its host; Binance's alternative host only on Binance.
    expect(res.body.message).toMatch(
      new RegExp(`^${x.id} refuses requests from this location \\(HTTP 451\\) at http://127\\.0\\.0\\.1`),
    );
    expect(res.body.message.includes('data-api.binance.vision')).toBe(x.id === 'binance');
  });

  it('a window in the future is a 400; a window without data writes nothing', async () => {
    const future = await request(make().server)
      .post('/')
      .send({ datasets: ['ohlcv'], symbols: [x.spot], since: NOW + 3_600_000, until: NOW + 7_200_000 })
      .expect(400);
    expect(future.body.error).toBe('window_in_future');
    // Before the simulated market was listed (2020-01-01): no candles, no event, nothing missing to retry.
    const before = Date.UTC(2019, 5, 1);
    const res = await request(make().server)
      .post('/')
      .send({ datasets: ['ohlcv'], symbols: [x.spot], since: before, until: before + 3_600_000 })
      .expect(200);
    expect(res.body.events).toBe(0);
    expect(res.body.series[0]).toMatchObject({ records: 0, events: 0 });
    expect(sink.events).toHaveLength(0);
  });

  it('chunks stay under MAX_EVENT_BYTES and join to the whole series', async () => {
    const res = await request(make({ MAX_EVENT_BYTES: '16384' }).server)
      .post('/')
      .send({ datasets: ['ohlcv'], symbols: [x.spot], lookback: '1000m' })
      .expect(200);
    expect(res.body.events).toBeGreaterThan(5);
    for (const m of sink.messages) expect(Buffer.byteLength(m.body)).toBeLessThanOrEqual(16384);
    const candles = candlesOf(sink, x.spot);
    expect(candles).toHaveLength(1000);
    expect(new Set(candles.map((c) => c.ts)).size).toBe(1000);
  });

  it('a sink that refuses a chunk makes the request fail, never a silent success', async () => {
    sink.refuse(503, 5);
    const res = await request(make().server)
      .post('/')
      .send({ datasets: ['ohlcv'], symbols: [x.spot], lookback: 'PT10M' });
    expect(res.status).toBeGreaterThanOrEqual(500);
    expect(res.body.error).toBe('sink_refused');
  });
});

describe('extract requests and events (binance)', () => {
  let fake: FakeExchange;
  let sink: TestSink;
  beforeAll(async () => {
    fake = await startFakeExchange({ exchange: 'binance', now: NOW });
    sink = await startSink();
  });
  afterAll(async () => {
    await fake?.close();
    await sink?.close();
  });
  const make = (env: Record<string, string> = {}) =>
    extractUnderTest({
      exchange: 'binance',
      apiBaseUrl: fake.url,
      sinkUrl: sink.url,
      now: NOW,
      env: { CURSOR_STORE: 'none', ...env },
    });

  const requestEvent = (data: unknown, extra: Record<string, string> = {}) =>
    buildEvent({
      id: 'tick-1',
      source: '/apis/v1/namespaces/crypto/pingsources/ohlcv-1m',
      type: 'dev.knative.sources.ping',
      time: NOW,
      data,
      extensions: { exchange: 'binance', ...extra },
    });

  it.each(['binary', 'structured'] as const)(
    'a %s-mode CloudEvent gets a summary CloudEvent back',
    async (mode) => {
      const ev = requestEvent({ datasets: ['ohlcv'], symbols: ['BTC/USDT'], lookback: 'PT5M' });
      const msg = mode === 'binary' ? toBinary(ev) : toStructured(ev);
      const res = await request(make().server).post('/').set(msg.headers).send(msg.body).expect(200);
      expect(res.headers['ce-type']).toBe(EventType.extractSummary);
      const reply = HTTP.toEvent({ headers: res.headers as Record<string, string>, body: res.text });
      expect(Array.isArray(reply)).toBe(false);
      const data = extractSummarySchema.parse((reply as { data: unknown }).data);
      expect(data.requestId).toBe('tick-1');
    },
  );

  it.each(['', 'text/plain'])(
    'a PingSource tick without a JSON content type (%j) is read as JSON',
    async (type) => {
      const { headers } = toBinary(requestEvent({}));
      const h: Record<string, string> = { ...headers };
      delete h['content-type'];
      if (type) h['content-type'] = type;
      const res = await request(make().server)
        .post('/')
        .set(h)
        .send(Buffer.from(JSON.stringify({ datasets: ['tickers'], symbols: ['BTC/USDT'] })))
        .expect(200);
      expect(res.headers['ce-type']).toBe(EventType.extractSummary);
    },
  );

  it('batch events are valid CloudEvents with deterministic ids and the routing extensions', async () => {
    sink.events.length = 0;
    const body = { datasets: ['ohlcv'], symbols: ['BTC/USDT'], since: NOW - 30 * MIN, until: NOW - 10 * MIN };
    await request(make().server).post('/').send(body).expect(200);
    const first = sink.events.map((e) => e.id);
    await request(make().server).post('/').send(body).expect(200);
    const second = sink.events.slice(first.length).map((e) => e.id);
    expect(second).toEqual(first);
    for (const e of sink.events) {
      expect(e.validate()).toBe(true);
      expect(e['exchange']).toBe('binance');
      expect(e['dataset']).toBe('ohlcv');
      expect(e['schemaversion']).toBe('1');
      expect(e.source).toBe('/cryptopipe/extract/binance');
    }
  });

  const bad: Array<{
    name: string;
    send: () => { headers: Record<string, string>; body: string | Buffer };
    status: number;
    message: RegExp;
  }> = [
    {
      name: 'not JSON',
      send: () => ({ headers: { 'content-type': 'application/json' }, body: 'datasets=ohlcv' }),
      status: 400,
      message: /not valid JSON/,
    },
    {
      name: 'empty body',
      send: () => ({ headers: { 'content-type': 'application/json' }, body: '' }),
      status: 400,
      message: /empty/,
    },
    {
      name: 'an array',
      send: () => ({ headers: { 'content-type': 'application/json' }, body: '[]' }),
      status: 400,
      message: /JSON object/,
    },
    { name: 'no datasets', send: () => json({ symbols: ['BTC/USDT'] }), status: 400, message: /datasets/ },
    {
      name: 'unknown dataset',
      send: () => json({ datasets: ['candles'] }),
      status: 400,
      message: /datasets\.0/,
    },
    {
      name: 'unknown field',
      send: () => json({ datasets: ['tickers'], symbol: 'BTC/USDT' }),
      status: 400,
      message: /symbol/,
    },
    {
      name: 'ohlcv without symbols',
      send: () => json({ datasets: ['ohlcv'] }),
      status: 400,
      message: /symbols are required/,
    },
    {
      name: 'bad timeframe',
      send: () => json({ datasets: ['ohlcv'], symbols: ['BTC/USDT'], timeframe: '7m' }),
      status: 400,
      message: /no timeframe '7m'.*1m/,
    },
    {
      name: 'malformed timeframe',
      send: () => json({ datasets: ['ohlcv'], symbols: ['BTC/USDT'], timeframe: 'hourly' }),
      status: 400,
      message: /timeframe/,
    },
    {
      name: 'since and lookback',
      send: () => json({ datasets: ['ohlcv'], symbols: ['BTC/USDT'], since: 1, lookback: '1h' }),
      status: 400,
      message: /either since or lookback/,
    },
    {
      name: 'until before since',
      send: () => json({ datasets: ['ohlcv'], symbols: ['BTC/USDT'], since: 10, until: 5 }),
      status: 400,
      message: /until must be after since/,
    },
    {
      name: 'bad lookback',
      send: () => json({ datasets: ['ohlcv'], symbols: ['BTC/USDT'], lookback: 'a while' }),
      status: 400,
      message: /duration/,
    },
    {
      name: 'bad since',
      send: () => json({ datasets: ['ohlcv'], symbols: ['BTC/USDT'], since: 'yesterday' }),
      status: 400,
      message: /since/,
    },
    {
      name: 'unknown symbol',
      send: () => json({ datasets: ['ohlcv'], symbols: ['NOPE/USDT'] }),
      status: 400,
      message: /unknown symbol.*NOPE\/USDT/,
    },
    {
      name: 'exchange id instead of symbol',
      send: () => json({ datasets: ['ohlcv'], symbols: ['BTCUSDT'] }),
      status: 400,
      message: /did you mean BTC\/USDT/,
    },
    {
      name: 'SQL in a symbol',
      send: () => json({ datasets: ['ohlcv'], symbols: ["BTC/USDT'; DROP TABLE x;--"] }),
      status: 400,
      message: /symbols\.0/,
    },
    {
      name: 'another exchange',
      send: () => json({ exchange: 'bybit', datasets: ['tickers'] }),
      status: 400,
      message: /serves 'binance', not 'bybit'/,
    },
    {
      name: 'funding on a spot market',
      send: () => json({ datasets: ['funding'], symbols: ['BTC/USDT'] }),
      status: 400,
      message: /only for swap/,
    },
    {
      name: 'depth too large',
      send: () => json({ datasets: ['orderbook'], symbols: ['BTC/USDT'], depth: 100000 }),
      status: 400,
      message: /depth/,
    },
    {
      name: 'wrong event type',
      send: () =>
        toBinary(buildEvent({ id: '1', source: '/x', type: 'com.example.other', time: NOW, data: {} })),
      status: 400,
      message: /unsupported event type/,
    },
    {
      name: 'unsupported schema version',
      send: () =>
        toBinary(
          buildEvent({
            id: '1',
            source: '/x',
            type: EventType.extractRequest,
            time: NOW,
            data: { datasets: ['tickers'] },
            extensions: { schemaversion: '2' },
          }),
        ),
      status: 400,
      message: /schema version '2'/,
    },
    {
      name: 'CloudEvent with invalid data',
      send: () =>
        toBinary(
          buildEvent({
            id: '1',
            source: '/x',
            type: EventType.extractRequest,
            time: NOW,
            data: { datasets: 'ohlcv' },
          }),
        ),
      status: 400,
      message: /datasets/,
    },
  ];
  function json(body: unknown) {
    return { headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) };
  }
  it.each(bad)('$name -> $status with a message', async ({ send, status, message }) => {
    const { headers, body } = send();
    const res = await request(make().server).post('/').set(headers).send(body);
    expect(res.status).toBe(status);
    expect(res.body.message).toMatch(message);
  });

  it.each(['application/json', ''])('a body over MAX_BODY_BYTES is a 413 (content type %j)', async (type) => {
    const big = JSON.stringify({
      datasets: ['tickers'],
      runId: 'x'.repeat(100),
      symbols: Array(200).fill('BTC/USDT'),
    });
    let r = request(make({ MAX_BODY_BYTES: '1024' }).server).post('/');
    if (type) r = r.set('content-type', type);
    const res = await r.send(Buffer.from(big));
    expect(res.status).toBe(413);
    expect(res.body.message).toMatch(/MAX_BODY_BYTES/);
  });

  it('PUT is 405', async () => {
    const res = await request(make().server).put('/').send('{}').expect(405);
    expect(res.body.message).toMatch(/POST/);
  });
});

describe('incremental runs (no window in the request)', () => {
  let fake: FakeExchange;
  let sink: TestSink;
  beforeAll(async () => {
    fake = await startFakeExchange({ exchange: 'binance', now: NOW });
    sink = await startSink();
  });
  afterAll(async () => {
    await fake?.close();
    await sink?.close();
  });

  it('a missed tick and a failed run are filled in by the next run, without anyone acting', async () => {
    const cursors = new MemoryCursorStore();
    const fn = extractUnderTest({
      exchange: 'binance',
      apiBaseUrl: fake.url,
      sinkUrl: sink.url,
      now: NOW,
      cursors,
      env: { INITIAL_LOOKBACK: 'PT30M' },
    });
    const tick = { datasets: ['ohlcv'], symbols: ['BTC/USDT'], timeframe: '1m' };
    const deliveredClosed = () =>
      new Set(
        candlesOf(sink, 'BTC/USDT')
          .filter((c) => c.closed)
          .map((c) => c.ts),
      );

    // Tick 1 at NOW: the initial lookback.
    await request(fn.server).post('/').send(tick).expect(200);
    // Tick 2 is missed entirely (no request). Tick 3 at NOW+5m fails: the sink refuses.
    fn.clock.now = NOW + 5 * MIN;
    fake.setNow(fn.clock.now);
    sink.refuse(503, 2); // SINK_RETRIES=1: both attempts of the first event are refused
    await request(fn.server).post('/').send(tick).expect(503);
    // Tick 4 at NOW+9m succeeds and must cover everything since tick 1.
    fn.clock.now = NOW + 9 * MIN;
    fake.setNow(fn.clock.now);
    const res = await request(fn.server).post('/').send(tick).expect(200);

    const start = Math.floor(NOW / MIN) * MIN - 30 * MIN;
    const lastClosed = Math.floor(fn.clock.now / MIN) * MIN - MIN;
    const want = Array.from({ length: (lastClosed - start) / MIN + 1 }, (_, i) => start + i * MIN);
    expect([...deliveredClosed()].sort((a, b) => a - b)).toEqual(want);
    expect(res.body.series[0].window.since).toBe(Math.floor(NOW / MIN) * MIN);
  });

  // NOW is Tuesday 2026-11-24: the first weekly window opens on a Monday, the first monthly one on the 1st.
  const firstWindows = [
    { timeframe: '1h', lookback: 'PT5H', since: Date.UTC(2026, 10, 24, 7) },
    { timeframe: '1w', lookback: 'P21D', since: Date.UTC(2026, 10, 2) },
    { timeframe: '1M', lookback: 'P90D', since: Date.UTC(2026, 7, 1) },
  ];
  for (const c of firstWindows)
    it(`the first ${c.timeframe} window starts on a candle's open`, async () => {
      const fn = extractUnderTest({
        exchange: 'binance',
        apiBaseUrl: fake.url,
        sinkUrl: sink.url,
        now: NOW,
        cursors: new MemoryCursorStore(),
        env: { INITIAL_LOOKBACK: c.lookback },
      });
      const res = await request(fn.server)
        .post('/')
        .send({ datasets: ['ohlcv'], symbols: ['BTC/USDT'], timeframe: c.timeframe })
        .expect(200);
      expect(new Date(res.body.series[0].window.since).toISOString()).toBe(new Date(c.since).toISOString());
    });
});
