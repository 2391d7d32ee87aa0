// POSTing a CloudEvent: each caller's retry policy, the answer handed back, and an unreachable Broker told apart.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildEvent } from '../../../shared/events/cloudevent.ts';
import { postEvent, postMessage, sendToBroker } from '../../../shared/events/post.ts';
import { ServiceUnreachable } from '../../../shared/unreachable.ts';

/** Answers request n with answers[n] (the last one repeated); a negative status never answers. */
let answers: number[] = [];
const seen: Array<{ headers: Record<string, unknown>; body: Buffer }> = [];
let server: Server;
let url: string;

beforeAll(async () => {
  server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      seen.push({ headers: req.headers, body: Buffer.concat(chunks) });
      const status = answers[Math.min(seen.length - 1, answers.length - 1)] ?? 200;
      if (status < 0) return;
      res.writeHead(status, { 'x-n': String(seen.length) }).end(status >= 300 ? `no ${seen.length}` : '');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
});
afterAll(() => {
  server.closeAllConnections();
  server.close();
});

/** A loopback port nothing listens on. */
async function closedPort(): Promise<string> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return `http://127.0.0.1:${port}/`;
}

const event = buildEvent({ id: 'p1', source: '/test', type: 't', time: 0, data: { a: 1 } });

describe('postEvent', () => {
  const cases = [
    { name: '2xx at once', answers: [202], retries: 2, want: { ok: true, status: 202, attempts: 1 } },
    {
      name: 'retryable refusals, then taken',
      answers: [503, 429, 200],
      retries: 2,
      want: { ok: true, attempts: 3 },
    },
    { name: 'retries run out', answers: [503], retries: 1, want: { ok: false, status: 503, attempts: 2 } },
    {
      name: 'a refusal not retried',
      answers: [400],
      retries: 3,
      want: { ok: false, status: 400, attempts: 1 },
    },
  ];
  for (const c of cases)
    it(c.name, async () => {
      answers = c.answers;
      seen.length = 0;
      const waits: number[] = [];
      const retried: number[] = [];
      const r = await postEvent(url, event, {
        retries: c.retries,
        retryable: (s) => s === 503 || s === 429,
        backoffMs: (n) => 10 * 2 ** n,
        sleep: async (ms) => void waits.push(ms),
        onRetry: (f) => retried.push(f.attempts),
      });
      expect(r).toMatchObject(c.want);
      expect(seen).toHaveLength(r.attempts);
      expect(waits).toEqual(retried.map((_, i) => 10 * 2 ** i));
      expect(r.headers?.get('x-n')).toBe(String(r.attempts));
      expect(r.reason).toBe(r.ok ? '' : `HTTP ${r.status}: no ${r.attempts}`);
      expect(seen[0]!.headers).toMatchObject({ 'ce-id': 'p1', 'content-type': 'application/json' });
      expect(JSON.parse(seen[0]!.body.toString())).toEqual({ a: 1 });
    });

  it('retries an attempt without an answer, and says why it failed', async () => {
    const r = await postEvent(await closedPort(), event, { retries: 2 });
    expect(r).toMatchObject({ ok: false, status: undefined, attempts: 3 });
    expect(r.reason).toMatch(/fetch failed/);
  });

  it('gives up an attempt after its timeout', async () => {
    answers = [-1];
    const r = await postMessage(url, { headers: {}, body: 'x' }, { timeoutMs: 100 });
    expect(r).toMatchObject({ ok: false, status: undefined, attempts: 1 });
    expect(r.reason).toMatch(/TimeoutError/);
  });

  it('sends a binary body as its bytes', async () => {
    answers = [200];
    seen.length = 0;
    const bytes = Buffer.from([0, 255, 1]);
    await postMessage(url, { headers: { 'content-type': 'application/octet-stream' }, body: bytes });
    expect(seen[0]!.body.equals(bytes)).toBe(true);
  });
});

describe('sendToBroker', () => {
  it('resolves on 2xx, names a refusal, and tells an unreachable Broker apart', async () => {
    answers = [202];
    await sendToBroker(url, { headers: {}, body: '{}' });
    answers = [503];
    await expect(sendToBroker(url, { headers: {}, body: '{}' })).rejects.toThrow(/^HTTP 503: no \d+$/);
    const down = await closedPort();
    const err = await sendToBroker(down, { headers: {}, body: '{}' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ServiceUnreachable);
    expect((err as Error).message).toBe(
      `cannot reach the Broker at ${down}: connection refused (127.0.0.1:${new URL(down).port})`,
    );
  });
});
