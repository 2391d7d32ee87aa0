// A test event sink standing in for the Knative Broker: records every CloudEvent it accepts, can refuse on demand.
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { CloudEvent } from 'cloudevents';
import { decodeRequest } from '../../shared/events/cloudevent.ts';

/** A running sink. */
export interface TestSink {
  url: string;
  events: CloudEvent<unknown>[];
  /** Raw messages as received (headers lower-case, body text). */
  messages: Array<{ headers: Record<string, string>; body: string }>;
  /** The next `times` requests get `status` (e.g. 503, 400). */
  refuse(status: number, times?: number): void;
  /** Every request after the first `accepted` ones gets `status`. */
  refuseAfter(accepted: number, status: number): void;
  close(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

/** Starts a sink on a free loopback port. */
export async function startSink(): Promise<TestSink> {
  let refusals: Array<{ status: number; left: number }> = [];
  let acceptLimit = Infinity;
  let acceptLimitStatus = 503;
  const events: CloudEvent<unknown>[] = [];
  const messages: TestSink['messages'] = [];
  const server: Server = createServer((req, res) => {
    void (async () => {
      const body = await readBody(req);
      const r = refusals.find((x) => x.left > 0);
      if (r) {
        r.left -= 1;
        res.writeHead(r.status, { 'content-type': 'text/plain' }).end('refused by test');
        return;
      }
      if (events.length >= acceptLimit) {
        res.writeHead(acceptLimitStatus).end('refused by test');
        return;
      }
      try {
        const headers: Record<string, string> = {};
        for (const [k, v] of Object.entries(req.headers)) if (typeof v === 'string') headers[k] = v;
        const d = decodeRequest(headers, body);
        if (d.kind !== 'cloudevent') throw new Error('not a CloudEvent');
        events.push(d.event);
        messages.push({ headers, body });
        res.writeHead(202).end();
      } catch (err) {
        res.writeHead(400).end(String(err));
      }
    })();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const close = () => new Promise<void>((resolve) => server.close(() => resolve()));
  return {
    url: `http://127.0.0.1:${port}/`,
    events,
    messages,
    refuse(status, times = 1) {
      refusals = [...refusals.filter((x) => x.left > 0), { status, left: times }];
    },
    refuseAfter(accepted, status) {
      acceptLimit = accepted;
      acceptLimitStatus = status;
    },
    close,
    [Symbol.asyncDispose]: close,
  };
}
