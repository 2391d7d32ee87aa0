// Reads the chain's wiring from knative/base (plain YAML, no kustomize needed): Services, Broker, Triggers,
// PingSources and SinkBindings, for the local run to follow instead of a hand-written copy.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';

type Obj = Record<string, unknown>;

/** One manifest. */
export interface Manifest {
  apiVersion: string;
  kind: string;
  metadata: { name: string; labels?: Record<string, string> };
  spec?: Obj;
  data?: Record<string, string>;
}

/** A Knative delivery policy. */
export interface Delivery {
  retry: number;
  backoffPolicy: 'linear' | 'exponential';
  backoffDelayMs: number;
  deadLetterSink: string | undefined;
}

/** The wiring the local router needs. */
export interface Wiring {
  services: Array<{
    name: string;
    labels: Record<string, string>;
    env: Record<string, string>;
    bundle: string;
  }>;
  brokers: Record<string, Delivery>;
  triggers: Array<{
    name: string;
    broker: string;
    filter: Record<string, string>;
    subscriber: string;
    delivery: Delivery | undefined;
  }>;
  pings: Array<{
    name: string;
    schedule: string;
    data: string;
    extensions: Record<string, string>;
    sink: string;
  }>;
  /** Service names that get K_SINK, and the Broker it points at. */
  sinkBindings: Array<{ services: string[]; sink: string }>;
}

/** Every YAML document under `dir`, recursively (kustomization files excluded). */
export function readManifests(dir: string): Manifest[] {
  const out: Manifest[] = [];
  for (const entry of readdirSync(dir).sort()) {
    const path = join(dir, entry);
    if (statSync(path).isDirectory()) out.push(...readManifests(path));
    else if (/\.ya?ml$/.test(entry) && entry !== 'kustomization.yaml') {
      for (const doc of parseAllDocuments(readFileSync(path, 'utf8'))) {
        const m = doc.toJSON() as Manifest | null;
        if (m && typeof m === 'object' && m.kind) out.push(m);
      }
    }
  }
  return out;
}

/** ISO-8601 duration (PT0.5S, PT2M, ...) in milliseconds. */
export function isoDurationMs(text: string): number {
  const m = /^P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?)?$/.exec(text);
  if (!m) throw new Error(`not an ISO-8601 duration: ${text}`);
  return (
    ((Number(m[1] ?? 0) * 24 + Number(m[2] ?? 0)) * 60 + Number(m[3] ?? 0)) * 60_000 +
    Math.round(Number(m[4] ?? 0) * 1000)
  );
}

function delivery(d: Obj | undefined): Delivery | undefined {
  if (!d) return undefined;
  const dls = (d['deadLetterSink'] as { ref?: { name: string } } | undefined)?.ref?.name;
  return {
    retry: Number(d['retry'] ?? 0),
    backoffPolicy: d['backoffPolicy'] === 'linear' ? 'linear' : 'exponential',
    backoffDelayMs: typeof d['backoffDelay'] === 'string' ? isoDurationMs(d['backoffDelay']) : 200,
    deadLetterSink: dls,
  };
}

type SinkSubject = { name?: string; selector?: { matchLabels?: Record<string, string> } };

/** The wiring of a set of manifests. */
export function wiring(ms: Manifest[]): Wiring {
  const w: Wiring = { services: [], brokers: {}, triggers: [], pings: [], sinkBindings: [] };
  const bindings: Array<{ subject: SinkSubject; sink: string }> = [];
  for (const m of ms) {
    const spec = (m.spec ?? {}) as Obj;
    if (m.kind === 'Service' && m.apiVersion.startsWith('serving.knative.dev')) {
      const c = (
        (spec['template'] as Obj)['spec'] as {
          containers: Array<{ command?: string[]; env?: Array<{ name: string; value?: string }> }>;
        }
      ).containers[0];
      const env = Object.fromEntries(
        (c?.env ?? []).filter((e) => e.value !== undefined).map((e) => [e.name, e.value as string]),
      );
      const bundle = /\/app\/([^/]+)\/index\.mjs$/.exec(c?.command?.[1] ?? '')?.[1] ?? m.metadata.name;
      w.services.push({ name: m.metadata.name, labels: m.metadata.labels ?? {}, env, bundle });
    } else if (m.kind === 'Broker') {
      w.brokers[m.metadata.name] = delivery(spec['delivery'] as Obj) ?? {
        retry: 0,
        backoffPolicy: 'exponential',
        backoffDelayMs: 200,
        deadLetterSink: undefined,
      };
    } else if (m.kind === 'Trigger') {
      w.triggers.push({
        name: m.metadata.name,
        broker: String(spec['broker']),
        filter: ((spec['filter'] as Obj | undefined)?.['attributes'] as Record<string, string>) ?? {},
        subscriber: (spec['subscriber'] as { ref: { name: string } }).ref.name,
        delivery: delivery(spec['delivery'] as Obj | undefined),
      });
    } else if (m.kind === 'PingSource') {
      w.pings.push({
        name: m.metadata.name,
        schedule: String(spec['schedule'] ?? '* * * * *'),
        data: String(spec['data'] ?? ''),
        extensions:
          ((spec['ceOverrides'] as Obj | undefined)?.['extensions'] as Record<string, string>) ?? {},
        sink: (spec['sink'] as { ref: { name: string } }).ref.name,
      });
    } else if (m.kind === 'SinkBinding') {
      bindings.push({
        subject: spec['subject'] as SinkSubject,
        sink: (spec['sink'] as { ref: { name: string } }).ref.name,
      });
    }
  }
  // A SinkBinding's subject is a Service by name or by labels.
  w.sinkBindings = bindings.map(({ subject, sink }) => ({
    sink,
    services: w.services
      .filter((s) =>
        subject.name
          ? s.name === subject.name
          : Object.entries(subject.selector?.matchLabels ?? {}).every(([k, v]) => s.labels[k] === v),
      )
      .map((s) => s.name),
  }));
  return w;
}

/** True when a 5-field cron (with an optional CRON_TZ=UTC/TZ=UTC prefix) fires at the minute of `t` (UTC). */
export function cronMatches(schedule: string, t: Date): boolean {
  const expr = schedule.replace(/^(CRON_TZ|TZ)=\S+\s+/, '').trim();
  const fields = expr.split(/\s+/);
  if (fields.length !== 5) throw new Error(`not a 5-field cron: ${schedule}`);
  const values = [t.getUTCMinutes(), t.getUTCHours(), t.getUTCDate(), t.getUTCMonth() + 1, t.getUTCDay()];
  const ranges: Array<[number, number]> = [
    [0, 59],
    [0, 23],
    [1, 31],
    [1, 12],
    [0, 6],
  ];
  return fields.every((f, i) => {
    const v = values[i] as number;
    const [lo, hi] = ranges[i] as [number, number];
    return f.split(',').some((part) => {
      const [range = '*', stepText] = part.split('/');
      const step = stepText ? Number(stepText) : 1;
      const [a, b] =
        range === '*'
          ? [lo, hi]
          : range.includes('-')
            ? range.split('-').map(Number)
            : [Number(range), stepText ? hi : Number(range)];
      return v >= (a as number) && v <= (b as number) && (v - (a as number)) % step === 0;
    });
  });
}

/** The wiring with only the Services `keep` accepts, and the Triggers and bindings that lead to them. */
export function restrict(w: Wiring, keep: (service: Wiring['services'][number]) => boolean): Wiring {
  const services = w.services.filter(keep);
  const names = new Set(services.map((s) => s.name));
  return {
    ...w,
    services,
    triggers: w.triggers.filter((t) => names.has(t.subscriber)),
    sinkBindings: w.sinkBindings.map((b) => ({ ...b, services: b.services.filter((s) => names.has(s)) })),
  };
}
