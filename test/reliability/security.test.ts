// Security: transform's token is enforced; the real entry points with known secrets never log them (happy and error
// paths); every Service is cluster-local; the container runs as a non-root user.
import { execFileSync } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import type { Server } from 'node:http';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { functionServer } from '../../shared/http/server.ts';
import { log, setLogSink, type LogSink } from '../../shared/log.ts';
import { startFakeExchange, type FakeExchange } from '../../scripts/offline/fake-exchange.ts';
import { seriesEvents } from '../support/batches.ts';
import { startHttpFaultProxy, startTcpProxy, type HttpFaultProxy, type TcpProxy } from '../support/faults.ts';
import { startLake, type Lake } from '../support/lake.ts';
import { listen, post, postEvent, postNotification, type Listening } from '../support/pipeline.ts';
import { startDatabase, type TestDatabase } from '../support/postgres.ts';
import { rowCounts } from '../support/reliability.ts';
import { startSink, type TestSink } from '../support/sink.ts';

const root = join(import.meta.dirname, '../..');
const DB_PASSWORD = 'pg-Secret-7f3a9c1e5b';
const S3_SECRET = 's3-Secret-4b8d2e6a0c';
const TOKEN = 'tok-Secret-9c5e1a7f3b2d';
const SECRETS = [DB_PASSWORD, S3_SECRET, TOKEN];
const BUCKET = 'security-raw';
const NOW = Date.UTC(2026, 10, 24, 12, 0, 30);

let lake: Lake;
let s3proxy: HttpFaultProxy;
let pgproxy: TcpProxy;
let db: TestDatabase;
let fake: FakeExchange;
let sink: TestSink;
const fns: Record<string, Listening> = {};
const lines: string[] = [];
const written: string[] = [];
let previousSink: LogSink;
const restore: Array<() => void> = [];

/** Imports a function's real entry point with `env` as its environment and serves what it registered. */
async function entry(name: string, module: string, env: Record<string, string>): Promise<Listening> {
  const saved = { ...process.env };
  Object.assign(process.env, env);
  try {
    await import(module);
  } finally {
    for (const k of Object.keys(env)) if (saved[k] === undefined) delete process.env[k];
    Object.assign(process.env, saved);
  }
  const server: Server = functionServer(name);
  return listen(server);
}

beforeAll(async () => {
  previousSink = setLogSink((line) => lines.push(line));
  for (const stream of [process.stdout, process.stderr]) {
    const original = stream.write.bind(stream);
    stream.write = ((chunk: unknown, ...rest: unknown[]) => {
      written.push(String(chunk));
      return (original as (...a: unknown[]) => boolean)(chunk, ...rest);
    }) as typeof stream.write;
    restore.push(() => {
      stream.write = original as typeof stream.write;
    });
  }
  [lake, db, fake, sink] = await Promise.all([
    startLake(),
    startDatabase(),
    startFakeExchange({ exchange: 'binance', now: NOW }),
    startSink(),
  ]);
  await lake.createBucket(BUCKET);
  s3proxy = await startHttpFaultProxy(lake.endpoint);
  const u = new URL(db.url);
  pgproxy = await startTcpProxy(u.hostname, Number(u.port || 5432));
  // A role whose password is the secret: checked for real on password-auth servers (embedded, containers).
  const dbUrl = new URL(await db.loginAs(DB_PASSWORD));
  dbUrl.hostname = pgproxy.host;
  dbUrl.port = String(pgproxy.port);
  const common = {
    S3_ENDPOINT: s3proxy.url,
    MINIO_USER: 'S3RVER',
    MINIO_PASSWORD: S3_SECRET,
    RAW_BUCKET: BUCKET,
    LOG_LEVEL: 'DEBUG',
  };
  fns['transform'] = await entry('transform', '../../functions/transform/index.ts', {
    ...common,
    DATABASE_URL: dbUrl.toString(),
    POSTGRESQL_PASSWORD: DB_PASSWORD,
    TRANSFORM_AUTH_TOKEN: TOKEN,
  });
  fns['load-raw'] = await entry('load-raw', '../../functions/load-raw/index.ts', common);
  fns['dead-letter'] = await entry('dead-letter', '../../functions/dead-letter/index.ts', common);
  fns['extract'] = await entry('extract', '../../functions/extract/index.ts', {
    ...common,
    EXCHANGE: 'binance',
    K_SINK: sink.url,
    EXCHANGE_API_BASE_URL: fake.url,
    RETRY_WINDOW_MS: '300',
    RETRY_BASE_DELAY_MS: '5',
  });
}, 60_000);

afterAll(async () => {
  for (const f of Object.values(fns)) await f.close();
  for (const r of restore) r();
  setLogSink(previousSink);
  await pgproxy?.close();
  await s3proxy?.close();
  await sink?.close();
  await fake?.close();
  await db?.close();
  await lake?.close();
});

const T0 = Date.UTC(2026, 10, 24);
const batch = (symbol: string) =>
  seriesEvents({ exchange: 'binance', dataset: 'ohlcv', symbol, timeframe: '1m', extractedAt: T0 }, [
    { ts: T0, open: '1.5', high: '2', low: '1', close: '1.5', volume: '3', closed: true },
  ])[0]!;

/** Stores a batch through load-raw and returns MinIO's notification for it. */
async function stored(symbol: string): Promise<Record<string, unknown>> {
  const before = lake.notifications.length;
  expect((await postEvent(fns['load-raw']!.url, batch(symbol))).status).toBe(204);
  const note = lake.notifications.slice(before).find((n) => n.key.includes(symbol.replace('/', '-')));
  expect(note).toBeDefined();
  return note!.payload;
}

describe("transform's token", () => {
  it.each([
    ['no Authorization header', undefined],
    ['a wrong token', `Bearer ${TOKEN}x`],
    ['a prefix of the token', `Bearer ${TOKEN.slice(0, -1)}`],
    ['the token in another case', `Bearer ${TOKEN.toUpperCase()}`],
    ['Basic with the token', `Basic ${Buffer.from(`minio:${TOKEN}`).toString('base64')}`],
    ['another scheme', `Token ${TOKEN}`],
    ['the token without a scheme', TOKEN],
    ['an empty Bearer', 'Bearer '],
  ])('%s: 401 with WWW-Authenticate, nothing written', async (_what, authorization) => {
    const payload = await stored(`AUTH${Math.floor(Math.random() * 1e6)}/USDT`);
    const before = await rowCounts(db.pool);
    const res = await post(fns['transform']!.url, JSON.stringify(payload), {
      'content-type': 'application/json',
      ...(authorization !== undefined ? { authorization } : {}),
    });
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toMatch(/^Bearer/);
    expect(JSON.parse(res.text)).toMatchObject({ error: 'unauthorized' });
    expect(await rowCounts(db.pool)).toEqual(before);
    // The same notification with the token is loaded: it was refused for its credentials alone.
    const ok = await postNotification(fns['transform']!.url, payload, TOKEN);
    expect(ok.status).toBe(200);
    expect(JSON.parse(ok.text).results).toEqual([expect.objectContaining({ status: 'loaded' })]);
  });

  it('the token in the query string or the body does not count; GET without a token is refused too', async () => {
    const payload = await stored('AUTHQ/USDT');
    const before = await rowCounts(db.pool);
    const inQuery = await post(`${fns['transform']!.url}?token=${TOKEN}`, JSON.stringify(payload), {
      'content-type': 'application/json',
    });
    expect(inQuery.status).toBe(401);
    const inBody = await post(fns['transform']!.url, JSON.stringify({ ...payload, token: TOKEN }), {
      'content-type': 'application/json',
    });
    expect(inBody.status).toBe(401);
    expect((await fetch(fns['transform']!.url)).status).toBe(401);
    expect(await rowCounts(db.pool)).toEqual(before);
  });
});

describe('secrets never reach a log line', () => {
  it('happy paths and error paths (bad S3 credentials, S3 5xx, PostgreSQL down and cut, bad token) log no secret', async () => {
    // Happy paths: an extraction with S3 cursors, load-raw, transform, a dead letter.
    const extract = await post(
      fns['extract']!.url,
      JSON.stringify({ datasets: ['ohlcv'], symbols: ['BTC/USDT'], lookback: 'PT5M' }),
      { 'content-type': 'application/json' },
    );
    expect(extract.status, extract.text).toBe(200);
    const incremental = await post(
      fns['extract']!.url,
      JSON.stringify({ datasets: ['ohlcv'], symbols: ['BTC/USDT'] }),
      { 'content-type': 'application/json' },
    );
    expect(incremental.status, incremental.text).toBe(200);
    const payload = await stored('SECRET/USDT');
    expect((await postNotification(fns['transform']!.url, payload, TOKEN)).status).toBe(200);
    const dead = batch('DEAD/USDT');
    expect((await postEvent(fns['dead-letter']!.url, dead)).status).toBe(204);

    // Bad credentials: S3 answers every request 403 SignatureDoesNotMatch.
    s3proxy.addFault({ status: 403, code: 'SignatureDoesNotMatch' });
    try {
      expect((await postEvent(fns['load-raw']!.url, batch('BADCRED/USDT'))).status).toBe(503);
      expect((await postEvent(fns['dead-letter']!.url, dead)).status).toBe(503);
      const unseen = JSON.parse(JSON.stringify(payload).replaceAll('SECRET', 'NEVER')) as Record<
        string,
        unknown
      >;
      expect((await postNotification(fns['transform']!.url, unseen, TOKEN)).status).toBe(503);
      const cursorRead = await post(
        fns['extract']!.url,
        JSON.stringify({ datasets: ['ohlcv'], symbols: ['ETH/USDT'] }),
        { 'content-type': 'application/json' },
      );
      expect(cursorRead.status, cursorRead.text).toBe(503);
    } finally {
      s3proxy.clearFaults();
    }

    // S3 answering 500.
    s3proxy.addFault({ status: 500 });
    expect((await postEvent(fns['load-raw']!.url, batch('S3DOWN/USDT'))).status).toBe(503);
    s3proxy.clearFaults();

    // PostgreSQL refusing connections, then every pooled connection cut.
    const next = await stored('PGDOWN/USDT');
    pgproxy.down();
    pgproxy.cutAll();
    expect((await postNotification(fns['transform']!.url, next, TOKEN)).status).toBe(503);
    pgproxy.up();
    expect((await postNotification(fns['transform']!.url, next, TOKEN)).status).toBe(200);
    const other = await stored('PGCUT/USDT');
    pgproxy.cutAll();
    const afterCut = await postNotification(fns['transform']!.url, other, TOKEN);
    expect([200, 503]).toContain(afterCut.status);
    expect((await postNotification(fns['transform']!.url, other, TOKEN)).status).toBe(200);

    // A wrong token.
    expect((await postNotification(fns['transform']!.url, next, 'Bearer-guess-0123456789')).status).toBe(401);

    const all = [...lines, ...written];
    expect(lines.filter((l) => l.includes('"severity":"ERROR"')).length).toBeGreaterThan(3);
    expect(lines.some((l) => l.includes('object loaded'))).toBe(true);
    for (const secret of SECRETS) {
      const forms = [secret, encodeURIComponent(secret), Buffer.from(secret).toString('base64')];
      const leaks = all.filter((l) => forms.some((f) => l.includes(f)));
      expect(leaks, `lines containing ${secret.slice(0, 6)}...`).toEqual([]);
    }
    // Nothing even tried to log a secret (redaction is the last line of defence, not the design).
    expect(all.filter((l) => l.includes('[redacted]'))).toEqual([]);
  });

  it('every entry point registered its secrets: a line that would carry one is redacted', () => {
    const before = lines.length;
    log.error('simulated leak', new Error(`postgres://crypto:${DB_PASSWORD}@db/crypto refused`), {
      s3: S3_SECRET,
      header: `Bearer ${TOKEN}`,
    });
    const line = lines.slice(before).join('\n');
    expect(line).toContain('simulated leak');
    for (const secret of SECRETS) expect(line).not.toContain(secret);
    // The password twice (the error's message and its stack), the S3 secret and the token once each.
    expect(line.match(/\[redacted\]/g)).toHaveLength(4);
  });
});

/**
 * Services meant to be reachable from outside the cluster. None: MinIO calls transform inside the cluster, the Broker
 * calls the rest, and the status page is read through the cluster too. A public one must be added here on purpose.
 */
const INTENDED_PUBLIC = new Set<string>();

interface Resource {
  apiVersion: string;
  kind: string;
  metadata: { name: string; labels?: Record<string, string> };
  spec?: {
    template?: {
      spec?: {
        containers?: Array<{
          env?: Array<{ name: string; value?: string; valueFrom?: { secretKeyRef?: unknown } }>;
          securityContext?: {
            runAsNonRoot?: boolean;
            allowPrivilegeEscalation?: boolean;
            runAsUser?: number;
          };
        }>;
        securityContext?: { runAsNonRoot?: boolean; runAsUser?: number };
      };
    };
  };
}

function manifests(dir: string): Resource[] {
  const out: Resource[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (!entry.isFile() || !/\.ya?ml$/.test(entry.name) || entry.name === 'kustomization.yaml') continue;
    const text = readFileSync(join(entry.parentPath, entry.name), 'utf8');
    for (const doc of parseAllDocuments(text)) if (doc.contents) out.push(doc.toJSON() as Resource);
  }
  return out;
}

describe('deployment', () => {
  const base = manifests(join(root, 'knative/base'));
  const rendered = (overlay: string) => {
    const text = execFileSync('kubectl', ['kustomize', join(root, 'knative/overlays', overlay)], {
      encoding: 'utf8',
    });
    return parseAllDocuments(text).map((d) => d.toJSON() as Resource);
  };
  const knativeServices = (rs: Resource[]) =>
    rs.filter((r) => r.kind === 'Service' && r.apiVersion.startsWith('serving.knative.dev/'));

  it.each([
    ['knative/base', () => base],
    ['overlay prod', () => rendered('prod')],
    ['overlay dev', () => rendered('dev')],
  ])(
    '%s: every Knative Service is cluster-local, runs as non-root, takes secrets only from Secrets',
    (_n, get) => {
      const services = knativeServices(get());
      // extract per exchange, load-raw, transform, dead-letter (and whatever is added later, checked the same way).
      expect(services.map((s) => s.metadata.name).sort()).toEqual(
        expect.arrayContaining(['dead-letter', 'load-raw', 'transform']),
      );
      expect(services.length).toBeGreaterThanOrEqual(4);
      for (const s of services) {
        if (!INTENDED_PUBLIC.has(s.metadata.name))
          expect(s.metadata.labels?.['networking.knative.dev/visibility'], s.metadata.name).toBe(
            'cluster-local',
          );
        const spec = s.spec?.template?.spec;
        const containers = spec?.containers ?? [];
        expect(containers.length, s.metadata.name).toBeGreaterThan(0);
        for (const c of containers) {
          const nonRoot = c.securityContext?.runAsNonRoot ?? spec?.securityContext?.runAsNonRoot;
          expect(nonRoot, `${s.metadata.name} runAsNonRoot`).toBe(true);
          expect(c.securityContext?.runAsUser ?? spec?.securityContext?.runAsUser ?? 1000).not.toBe(0);
          expect(c.securityContext?.allowPrivilegeEscalation, `${s.metadata.name} privilege escalation`).toBe(
            false,
          );
          for (const e of c.env ?? []) {
            if (/PASSWORD|SECRET|TOKEN|ACCESS_KEY/.test(e.name) && e.name !== 'MINIO_USER')
              expect(
                e.valueFrom?.secretKeyRef,
                `${s.metadata.name} ${e.name} must come from a Secret`,
              ).toBeDefined();
          }
        }
      }
    },
  );

  it('the Dockerfile runs the image as a numeric non-root user', () => {
    const dockerfile = readFileSync(join(root, 'Dockerfile'), 'utf8');
    const stages = dockerfile.split(/^FROM /m).slice(1);
    const runtime = stages.at(-1) ?? '';
    const users = [...runtime.matchAll(/^USER\s+(\S+)/gm)].map((m) => m[1] ?? '');
    expect(users.length, 'the runtime stage sets USER').toBeGreaterThan(0);
    const user = users.at(-1) ?? '';
    // Numeric, so that Kubernetes can verify runAsNonRoot; neither root nor uid 0.
    expect(user).toMatch(/^[0-9]+(:[0-9]+)?$/);
    expect(Number(user.split(':')[0])).toBeGreaterThan(0);
  });
});
