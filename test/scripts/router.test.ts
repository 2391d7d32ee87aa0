// The local Broker follows the manifests: exact-attribute filters, retries with the policy's backoff, dead letters
// with Knative's error attributes, replies fed back, PingSources on their crons; and the real knative/base wiring.
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import type { CloudEvent } from 'cloudevents';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildEvent, toBinary } from '../../shared/events/cloudevent.ts';
import {
  cronMatches,
  isoDurationMs,
  readManifests,
  wiring,
  type Wiring,
} from '../../scripts/local/manifests.ts';
import { LocalBroker, type DeliveryReport } from '../../scripts/local/router.ts';
import { readExchanges } from '../../scripts/lib/exchanges.mjs';

type Seen = { headers: IncomingHttpHeaders; body: string };
const servers: Array<{ close: () => void }> = [];
async function service(
  answer: (n: number) => { status: number; headers?: Record<string, string>; body?: string },
) {
  const seen: Seen[] = [];
  const s = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      seen.push({ headers: req.headers, body });
      const a = answer(seen.length);
      res.writeHead(a.status, a.headers ?? {}).end(a.body ?? '');
    });
  });
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  servers.push(s);
  return { url: `http://127.0.0.1:${(s.address() as AddressInfo).port}/`, seen };
}
afterAll(() => servers.forEach((s) => s.close()));

const reply = toBinary(buildEvent({ id: 'r1', source: '/a', type: 't2', time: 0, data: { from: 'a' } }));

describe('LocalBroker', () => {
  let a: Awaited<ReturnType<typeof service>>, b: typeof a, c: typeof a, dl: typeof a;
  const delays: number[] = [];
  const reports: DeliveryReport[] = [];
  let broker: LocalBroker;
  beforeAll(async () => {
    a = await service(() => ({ status: 200, headers: reply.headers, body: String(reply.body) }));
    b = await service((n) => ({ status: n <= 2 ? 503 : 200 }));
    c = await service(() => ({ status: 400, body: '{"error":"bad_request"}' }));
    dl = await service(() => ({ status: 204 }));
    const w: Wiring = {
      services: [],
      brokers: {
        default: { retry: 3, backoffPolicy: 'exponential', backoffDelayMs: 10, deadLetterSink: 'dl' },
      },
      triggers: [
        {
          name: 'ta',
          broker: 'default',
          filter: { type: 't1', exchange: 'x' },
          subscriber: 'a',
          delivery: undefined,
        },
        { name: 'tb', broker: 'default', filter: { type: 't2' }, subscriber: 'b', delivery: undefined },
        { name: 'tc', broker: 'default', filter: { type: 't3' }, subscriber: 'c', delivery: undefined },
        {
          name: 'td',
          broker: 'default',
          filter: { type: 'dev.knative.sources.ping', exchange: 'x' },
          subscriber: 'a',
          delivery: undefined,
        },
      ],
      pings: [
        {
          name: 'every-minute',
          schedule: 'CRON_TZ=UTC * * * * *',
          data: '{"k":1}',
          extensions: { exchange: 'x' },
          sink: 'default',
        },
        { name: 'hourly', schedule: 'CRON_TZ=UTC 7 * * * *', data: '{}', extensions: {}, sink: 'default' },
      ],
      sinkBindings: [],
    };
    broker = new LocalBroker(
      'default',
      w,
      { a: a.url, b: b.url, c: c.url, dl: dl.url },
      (r) => reports.push(r),
      async (ms) => {
        delays.push(ms);
      },
    );
    await broker.start();
  });
  afterAll(() => broker.close());

  it('routes by every filter attribute, feeds a reply back, retries with exponential backoff', async () => {
    const post = (ev: CloudEvent<unknown>) => fetch(broker.url, { method: 'POST', ...toBinary(ev) });
    expect(
      (
        await post(
          buildEvent({
            id: 'e1',
            source: '/s',
            type: 't1',
            time: 0,
            data: {},
            extensions: { exchange: 'y' },
          }),
        )
      ).status,
    ).toBe(202);
    await broker.idle();
    expect(a.seen).toHaveLength(0); // exchange y does not match the filter
    await post(
      buildEvent({ id: 'e2', source: '/s', type: 't1', time: 0, data: {}, extensions: { exchange: 'x' } }),
    );
    await broker.idle();
    await new Promise((r) => setTimeout(r, 50));
    await broker.idle();
    expect(a.seen.map((s) => s.headers['ce-id'])).toEqual(['e2']);
    // a's reply (type t2) went to b, which failed twice (503) and then took it.
    expect(b.seen.map((s) => s.headers['ce-id'])).toEqual(['r1', 'r1', 'r1']);
    expect(delays).toEqual([10, 20]);
    expect(reports.find((r) => r.subscriber === 'b')).toMatchObject({
      status: 200,
      attempts: 3,
      deadLettered: false,
    });
    // The subscriber's answer headers are reported (load-raw names the object it wrote in them).
    expect(reports.find((r) => r.subscriber === 'a')?.headers).toMatchObject({ 'ce-id': 'r1' });
  });

  it('sends a non-retryable refusal to the dead-letter sink with the error attributes, without retrying', async () => {
    await fetch(broker.url, {
      method: 'POST',
      ...toBinary(buildEvent({ id: 'e3', source: '/s', type: 't3', time: 0, data: { n: 3 } })),
    });
    await broker.idle();
    expect(c.seen).toHaveLength(1);
    expect(dl.seen).toHaveLength(1);
    const h = dl.seen[0]!.headers;
    expect(h['ce-id']).toBe('e3');
    expect(h['ce-knativeerrorcode']).toBe('400');
    expect(h['ce-knativeerrordest']).toBe(c.url);
    expect(Buffer.from(String(h['ce-knativeerrordata']), 'base64').toString()).toBe(
      '{"error":"bad_request"}',
    );
  });

  it('passes on the traceparent an event came with, to the subscriber and to the one its reply goes to', async () => {
    const tp = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';
    const seenA = a.seen.length;
    const seenB = b.seen.length;
    const ev = buildEvent({
      id: 'e4',
      source: '/s',
      type: 't1',
      time: 0,
      data: {},
      extensions: { exchange: 'x' },
    });
    const msg = toBinary(ev);
    await fetch(broker.url, { method: 'POST', headers: { ...msg.headers, traceparent: tp }, body: msg.body });
    await broker.idle();
    await new Promise((r) => setTimeout(r, 50));
    await broker.idle();
    expect(a.seen.slice(seenA).map((s) => s.headers['traceparent'])).toEqual([tp]);
    // a's reply (in the same trace: a sets no traceparent of its own) reached b with it too.
    expect(b.seen.slice(seenB).map((s) => s.headers['traceparent'])).toContain(tp);
    // A malformed traceparent is not passed on.
    const before = a.seen.length;
    await fetch(broker.url, {
      method: 'POST',
      headers: { ...toBinary({ ...ev, id: 'e5' } as never).headers, traceparent: 'not-a-traceparent' },
      body: msg.body,
    });
    await broker.idle();
    expect(a.seen.slice(before).map((s) => s.headers['traceparent'])).toEqual([undefined]);
  });

  it('fires the PingSources whose cron matches the minute', async () => {
    const before = a.seen.length;
    expect(broker.firePings(new Date(Date.UTC(2026, 10, 24, 12, 8)))).toBe(1);
    expect(broker.firePings(new Date(Date.UTC(2026, 10, 24, 12, 7)))).toBe(2);
    await broker.idle();
    expect(a.seen.length - before).toBe(2);
    expect(JSON.parse(a.seen.at(-1)!.body)).toEqual({ k: 1 });
    expect(a.seen.at(-1)!.headers['ce-type']).toBe('dev.knative.sources.ping');
  });
});

describe('manifests', () => {
  it('cron and durations', () => {
    const t = new Date(Date.UTC(2026, 10, 24, 8, 5));
    expect(cronMatches('CRON_TZ=UTC 5 0,8,16 * * *', t)).toBe(true);
    expect(cronMatches('5 0,8,16 * * *', new Date(Date.UTC(2026, 10, 24, 9, 5)))).toBe(false);
    expect(cronMatches('*/15 * * * *', new Date(Date.UTC(2026, 10, 24, 9, 45)))).toBe(true);
    expect(cronMatches('17 3 * * *', new Date(Date.UTC(2026, 10, 24, 3, 17)))).toBe(true);
    expect(isoDurationMs('PT0.5S')).toBe(500);
    expect(isoDurationMs('PT2M')).toBe(120_000);
  });

  it('reads the chain from knative/base: services, the Broker policy, triggers, schedules and the SinkBinding', () => {
    const w = wiring(readManifests(join(import.meta.dirname, '../../knative/base')));
    // One extract Service per line of knative/exchanges.txt (seven by default), and the four others.
    const extracts = readExchanges()
      .map((e) => `extract-${e.id}`)
      .sort();
    expect(extracts.length).toBeGreaterThanOrEqual(7);
    expect(w.services.map((s) => s.name).sort()).toEqual(
      [...extracts, 'dead-letter', 'load-raw', 'status', 'transform'].sort(),
    );
    expect(w.services.find((s) => s.name === 'extract-okx')?.env['EXCHANGE']).toBe('okx');
    expect(w.brokers['default']).toEqual({
      retry: 6,
      backoffPolicy: 'exponential',
      backoffDelayMs: 500,
      deadLetterSink: 'dead-letter',
    });
    expect(w.triggers.find((t) => t.subscriber === 'load-raw')?.filter).toEqual({
      type: 'cryptopipe.extract.batch',
    });
    expect(w.pings.filter((p) => p.extensions['exchange'] === 'binance').length).toBeGreaterThanOrEqual(3);
    expect(w.sinkBindings).toEqual([
      {
        sink: 'default',
        services: extracts,
      },
    ]);
  });
});
