// A local Knative Broker that follows the manifests: Trigger filters (exact attributes), the delivery policy (retry,
// linear/exponential backoff, dead-letter sink with Knative's error attributes), replies fed back, PingSources fired.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { CloudEvent } from 'cloudevents';
import { decodeRequest } from '../../shared/events/cloudevent.ts';
import { postEvent } from '../../shared/events/post.ts';
import { wellFormedTraceparent } from '../../shared/http/respond.ts';
import { cronMatches, type Delivery, type Wiring } from './manifests.ts';

/** Statuses Knative retries; any other non-2xx goes straight to the dead-letter sink. */
const RETRYABLE = (status: number) => status >= 500 || [404, 408, 409, 429].includes(status);

/** What happened to one delivery, for progress and tests. */
export interface DeliveryReport {
  trigger: string;
  subscriber: string;
  event: CloudEvent<unknown>;
  status: number | 'network-error';
  /** Headers of the subscriber's last answer, lower-case (load-raw names the object it wrote in them). */
  headers: Record<string, string>;
  attempts: number;
  deadLettered: boolean;
}

/** The router of one Broker. */
export class LocalBroker {
  private server: Server | undefined;
  private pending = 0;
  url = '';

  constructor(
    private readonly name: string,
    private readonly wiring: Wiring,
    /** Local URL of each Service by name. */
    private readonly urls: Record<string, string>,
    private readonly onDelivery: (r: DeliveryReport) => void = () => undefined,
    private readonly sleep: (ms: number) => Promise<void> = (ms) => new Promise((r) => setTimeout(r, ms)),
  ) {}

  /** Starts the Broker's ingress on `port` (0: any). */
  async start(port = 0): Promise<string> {
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const headers: Record<string, string> = {};
        for (const [k, v] of Object.entries(req.headers)) if (typeof v === 'string') headers[k] = v;
        try {
          const d = decodeRequest(headers, Buffer.concat(chunks));
          if (d.kind !== 'cloudevent') throw new Error('the Broker accepts CloudEvents only');
          res.writeHead(202).end();
          this.publish(d.event, wellFormedTraceparent(headers['traceparent']));
        } catch (err) {
          res
            .writeHead(400, { 'content-type': 'text/plain' })
            .end(String(err instanceof Error ? err.message : err));
        }
      });
    });
    await new Promise<void>((r) => this.server!.listen(port, '127.0.0.1', r));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/`;
    return this.url;
  }

  /**
   * Routes an event to every Trigger of this Broker whose filter it matches. `traceparent`: the trace context the event
   * came with, passed on to each subscriber (and its dead-letter sink) as Knative's Broker does.
   */
  publish(event: CloudEvent<unknown>, traceparent?: string): void {
    const attrs = event as unknown as Record<string, unknown>;
    for (const t of this.wiring.triggers.filter((x) => x.broker === this.name)) {
      if (!Object.entries(t.filter).every(([k, v]) => attrs[k] !== undefined && String(attrs[k]) === v))
        continue;
      const policy = t.delivery ?? this.wiring.brokers[this.name];
      this.pending += 1;
      void this.deliver(t.name, t.subscriber, event, policy, traceparent).finally(() => (this.pending -= 1));
    }
  }

  private async deliver(
    trigger: string,
    subscriber: string,
    event: CloudEvent<unknown>,
    policy: Delivery | undefined,
    traceparent: string | undefined,
  ): Promise<void> {
    const url = this.urls[subscriber];
    const retries = policy?.retry ?? 0;
    const result = url
      ? await postEvent(url, event, {
          retries,
          retryable: RETRYABLE,
          backoffMs: (n) =>
            !policy
              ? 0
              : policy.backoffPolicy === 'linear'
                ? policy.backoffDelayMs * (n + 1)
                : policy.backoffDelayMs * 2 ** n,
          sleep: this.sleep,
          traceparent,
        })
      : undefined;
    const status = result?.status ?? 'network-error';
    const attempts = result?.attempts ?? 0; // no URL for the subscriber: nothing was tried
    const headers: Record<string, string> = {};
    result?.headers?.forEach((v, k) => (headers[k] = v));
    if (result?.ok) {
      // A CloudEvent in the reply goes back into the Broker, as Knative does.
      if (headers['ce-specversion']) {
        const reply = decodeRequest(headers, result.body);
        if (reply.kind === 'cloudevent')
          this.publish(reply.event, wellFormedTraceparent(headers['traceparent']) ?? traceparent);
      }
      this.onDelivery({ trigger, subscriber, event, status, headers, attempts, deadLettered: false });
      return;
    }
    const dls = policy?.deadLetterSink;
    if (dls && this.urls[dls]) {
      const failed = event.cloneWith({
        knativeerrordest: url ?? subscriber,
        knativeerrorcode: String(status),
        knativeerrordata: Buffer.from((result?.body ?? '').slice(0, 1024)).toString('base64'),
      } as never);
      await postEvent(this.urls[dls] as string, failed, { traceparent });
    }
    this.onDelivery({ trigger, subscriber, event, status, headers, attempts, deadLettered: Boolean(dls) });
  }

  /** Fires every PingSource whose schedule matches the minute of `at` (all of them when `all`). */
  firePings(at: Date, all = false): number {
    let fired = 0;
    for (const p of this.wiring.pings.filter((x) => x.sink === this.name)) {
      if (!all && !cronMatches(p.schedule, at)) continue;
      this.publish(
        new CloudEvent({
          id: `${p.name}-${at.toISOString()}`,
          source: `/apis/v1/namespaces/local/pingsources/${p.name}`,
          type: 'dev.knative.sources.ping',
          time: at.toISOString(),
          data: p.data,
          ...p.extensions,
        }),
      );
      fired += 1;
    }
    return fired;
  }

  /** Resolves when no delivery is in flight. */
  async idle(): Promise<void> {
    while (this.pending > 0) await new Promise((r) => setTimeout(r, 20));
  }

  async close(): Promise<void> {
    await new Promise<void>((r) => (this.server ? this.server.close(() => r()) : r()));
  }
}
