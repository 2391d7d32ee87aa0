// Local run of the whole chain as knative/base wires it: every function as its own server (the container's entry),
// a local Broker following the Triggers, delivery policy, SinkBinding and PingSources, embedded S3 sending MinIO's
// notifications, embedded PostgreSQL. `--offline` serves recorded exchange data instead of the live APIs.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import S3rver from 's3rver';
import { loadCommonConfig } from '../shared/config.ts';
import { migrate } from '../shared/db/migrate.ts';
import { tableRowCounts } from '../shared/db/counts.ts';
import { createPool, ensureDatabase } from '../shared/db/pool.ts';
import type { S3Client } from '@aws-sdk/client-s3';
import { BATCH_PREFIX } from '../shared/lake/list.ts';
import { userMetadata } from '../shared/lake/read.ts';
import { ensureBucket, s3Client } from '../shared/lake/s3.ts';
import { ProgressConsole } from './local/console.ts';
import { exchangeIds } from './lib/exchanges.mjs';
import { bundleNames } from './lib/functions.mjs';
import { startEmbeddedServer } from './local/embedded-postgres.ts';
import { takenPorts } from './local/ports.ts';
import { readManifests, restrict, wiring } from './local/manifests.ts';
import { LocalBroker } from './local/router.ts';
import { NotificationQueue, minioPayload, type S3rverEvent } from './local/notifier.ts';
import {
  FAKE_EXCHANGES,
  isFakeExchangeId,
  startFakeExchange,
  type FakeExchangeId,
} from './offline/fake-exchange.ts';

const root = resolve(import.meta.dirname, '..');
// The AWS SDK's notice that its 2027 releases need Node 22 is not actionable in a local run on Node 20.
process.env['AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED'] ??= 'true';
const args = process.argv.slice(2);
const flag = (name: string) => args.includes(`--${name}`);
const option = (name: string) => args.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);

if (flag('help')) {
  console.log(`npm start -- [--offline] [--once] [--exchanges=binance,bybit] [--port=8080]
  --offline    serve recorded exchange responses (no network needed)
  --once       fire every PingSource once, wait until everything is in PostgreSQL, print the row counts, exit
  --port=8080 --broker-port=8070 --s3-port=4568 --pg-port=54329
               the functions from --port on (extract-<exchange>..., load-raw, transform, dead-letter, status), the
               Broker, embedded S3 and embedded PostgreSQL; all on 127.0.0.1
  --state-dir=.local
               where embedded S3 and PostgreSQL keep their files
Schedules, routes and retries come from knative/base. SIGINT or SIGTERM stops every process.`);
  process.exit(0);
}

const offline = flag('offline');
const once = flag('once');
const exchanges = (option('exchanges')?.split(',') ?? exchangeIds()).filter(Boolean);
const basePort = portOption('port', 8080);
const brokerPort = portOption('broker-port', 8070);
const s3Port = portOption('s3-port', 4568);
const pgPort = portOption('pg-port', 54329);
const stateDir = resolve(root, option('state-dir') ?? '.local');
const children: ChildProcess[] = [];
const closers: Array<() => Promise<unknown>> = [];

function portOption(name: string, fallback: number): number {
  const value = option(name);
  if (value === undefined) return fallback;
  const port = Number(value);
  if (Number.isInteger(port) && port > 0 && port < 65536) return port;
  console.error(`--${name}: '${value}' is not a port number`);
  process.exit(64);
}

/** A path as the user reads it: relative to the project when inside it. */
function shown(path: string): string {
  const rel = relative(root, path);
  return rel.startsWith('..') ? path : rel;
}

function line(text: string): void {
  process.stdout.write(`${new Date().toISOString().slice(11, 19)}  ${text}\n`);
}

async function reachable(id: string): Promise<string | undefined> {
  // Loaded here, not at start: ccxt takes a while to load and an offline run does not need it.
  const { exchangeProfile } = await import('../shared/exchange/profile.ts');
  const host = exchangeProfile(id)?.host;
  if (!host) return undefined;
  try {
    await fetch(`https://${host}/`, { method: 'HEAD', signal: AbortSignal.timeout(4000) });
    return undefined;
  } catch (err) {
    return `${host}: ${(err as Error).cause ? String((err as { cause: unknown }).cause) : (err as Error).message}`;
  }
}

/** Exits with one line when another process (another npm start, most likely) holds one of the ports. */
async function refuseTakenPorts(ports: Array<[string, number]>): Promise<void> {
  const taken = await takenPorts(ports);
  if (taken.length === 0) return;
  console.error(
    `ports already in use on 127.0.0.1: ${taken.map(([name, port]) => `${port} (${name})`).join(', ')}; is another npm start running? Stop it, or choose other ports (npm start -- --help)`,
  );
  process.exit(1);
}

/** Embedded S3 (s3rver) unless S3_ENDPOINT is set; `onEvent` receives its object events. */
async function startS3(onEvent: (e: S3rverEvent) => void): Promise<{ url: string; embedded: boolean }> {
  if (process.env['S3_ENDPOINT']) return { url: process.env['S3_ENDPOINT'], embedded: false };
  const dir = join(stateDir, 's3');
  mkdirSync(dir, { recursive: true });
  const server = new S3rver({ port: s3Port, address: '127.0.0.1', silent: true, directory: dir });
  (server as unknown as { on(name: 'event', fn: (e: S3rverEvent) => void): void }).on('event', onEvent);
  await server.run();
  closers.push(() => server.close());
  return { url: `http://127.0.0.1:${s3Port}`, embedded: true };
}

/** Embedded PostgreSQL (real binaries from npm, data under .local/pg) unless DATABASE_URL is set; migrated. */
async function startPostgres(): Promise<string> {
  let url = process.env['DATABASE_URL'];
  if (!url) {
    const server = await startEmbeddedServer({
      dataDir: join(stateDir, 'pg'),
      port: pgPort,
      persistent: true,
    });
    closers.push(() => server.stop());
    url = await ensureDatabase(server.url, 'crypto');
  }
  const pool = createPool(loadCommonConfig({ DATABASE_URL: url }).db, 1);
  const applied = await migrate(pool);
  await pool.end();
  line(
    `PostgreSQL ready (${process.env['DATABASE_URL'] ? 'DATABASE_URL' : `embedded, data in ${shown(join(stateDir, 'pg'))}`})${applied.length > 0 ? `, applied migrations ${applied.join(', ')}` : ''}`,
  );
  return url;
}

/** How to serve one function from source, on 127.0.0.1: as its bundle's entry does (scripts/build.mjs), through tsx. */
function entryArgs(name: string): string[] {
  return ['--import', 'tsx', join(root, 'scripts/serve-function.ts'), name, '--host=127.0.0.1'];
}

function startFunction(
  name: string,
  label: string,
  port: number,
  env: Record<string, string>,
): Promise<void> {
  const child = spawn(process.execPath, entryArgs(name), {
    env: {
      ...process.env,
      ...env,
      PORT: String(port),
      AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
    },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  children.push(child);
  return new Promise((resolveStart, reject) => {
    let buf = '';
    child.stdout!.on('data', (b: Buffer) => {
      buf += b.toString();
      let i: number;
      while ((i = buf.indexOf('\n')) >= 0) {
        const text = buf.slice(0, i);
        buf = buf.slice(i + 1);
        if (text.includes('"function listening"')) resolveStart();
        if (/"severity":"(WARNING|ERROR)"/.test(text)) line(`${label}: ${text}`);
      }
    });
    child.on('exit', (code) => reject(new Error(`${label} exited with code ${code}`)));
  });
}

async function main(): Promise<void> {
  const token = randomBytes(16).toString('hex');
  if (offline) {
    // An exchange without an offline simulator is left out of the run (its extract too), said in one line each.
    for (const id of exchanges.filter((x) => !isFakeExchangeId(x))) {
      exchanges.splice(exchanges.indexOf(id), 1);
      line(`offline: ${id} skipped: no offline simulator for it (there are: ${FAKE_EXCHANGES.join(', ')})`);
    }
  }
  // The wiring: knative/base as the cluster would run it, restricted to the exchanges asked for.
  const wired = restrict(
    wiring(readManifests(join(root, 'knative/base'))),
    (svc) => !svc.env['EXCHANGE'] || exchanges.includes(svc.env['EXCHANGE']),
  );
  // Ports in the order of the table of functions: the extracts in list order, then the rest of the chain.
  const order = bundleNames(exchanges);
  wired.services.sort((a, b) => order.indexOf(a.name) - order.indexOf(b.name));
  const urls = Object.fromEntries(
    wired.services.map((svc, i) => [svc.name, `http://127.0.0.1:${basePort + i}/`]),
  );
  await refuseTakenPorts([
    ...wired.services.map((svc, i): [string, number] => [svc.name, basePort + i]),
    ['the Broker', brokerPort],
    ...(process.env['S3_ENDPOINT'] ? [] : [['embedded S3', s3Port] as [string, number]]),
    ...(process.env['DATABASE_URL'] ? [] : [['embedded PostgreSQL', pgPort] as [string, number]]),
  ]);
  mkdirSync(stateDir, { recursive: true });
  const apis: Record<string, string> = {};
  if (offline) {
    for (const [i, id] of exchanges.entries()) {
      const fake = await startFakeExchange({ exchange: id as FakeExchangeId, port: 9101 + i });
      closers.push(() => fake.close());
      apis[id] = fake.url;
    }
    line(`offline: recorded exchange data served for ${exchanges.join(', ')}`);
  } else {
    for (const id of exchanges) {
      const problem = await reachable(id);
      if (problem) {
        console.error(
          `${id} cannot be reached from this machine (${problem}); run offline with: npm start -- --offline`,
        );
        process.exit(2);
      }
    }
  }

  // Lines per batch once transform has put its rows into PostgreSQL, counted as transform reports them.
  const progress = new ProgressConsole(line);
  notifications = new NotificationQueue(
    urls['transform'] as string,
    token,
    (status, attempt) => {
      if (attempt === 1 || attempt % 10 === 0)
        line(`transform answered ${status} to a notification; retrying in order (attempt ${attempt})`);
    },
    undefined,
    (answer) => progress.transformed(answer),
  );
  const queue = notifications;
  // The bucket notification is configured with prefix exchange= and suffix .json (as scripts/minio-notify.sh does).
  // MinIO's notification lists the object's user metadata (load-raw's traceparent, which transform's span continues):
  // read with a HEAD before the notification goes, in the queue's order.
  const reader: { s3?: S3Client } = {};
  const s3 = await startS3((e) => {
    const r = e.Records[0];
    const key = r?.s3.object.key ?? '';
    if (!r || !key.startsWith(BATCH_PREFIX) || !key.endsWith('.json')) return;
    const metadata = reader.s3 ? userMetadata(reader.s3, r.s3.bucket.name, key) : Promise.resolve({});
    queue.push(metadata.then((m) => minioPayload(e, m)));
  });
  const databaseUrl = await startPostgres();
  const lake = { endpoint: s3.url, region: 'us-east-1', accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' };
  reader.s3 = s3Client({ ...lake, bucket: 'crypto-raw' });
  // An external S3 may refuse the local credentials: its bucket is then the operator's to create.
  await ensureBucket(reader.s3, 'crypto-raw').catch((err: unknown) => {
    if (s3.embedded) throw err;
  });

  const broker = new LocalBroker('default', wired, urls, (r) => progress.delivery(r));
  brokerForShutdown = broker;
  const brokerUrl = await broker.start(brokerPort);
  const bound = new Set(wired.sinkBindings.flatMap((b) => b.services));
  const common = {
    S3_ENDPOINT: s3.url,
    AWS_ACCESS_KEY_ID: 'S3RVER',
    AWS_SECRET_ACCESS_KEY: 'S3RVER',
    RAW_BUCKET: 'crypto-raw',
  };
  await Promise.all(
    wired.services.map((svc) => {
      const env: Record<string, string> = { ...common, ...svc.env };
      if (bound.has(svc.name)) env['K_SINK'] = brokerUrl;
      if (svc.name === 'transform')
        Object.assign(env, { DATABASE_URL: databaseUrl, TRANSFORM_AUTH_TOKEN: token });
      if (svc.name === 'status') {
        env['DATABASE_URL'] = databaseUrl;
        // On the embedded server the page reads as the read-only role of migration 002, as in the cluster.
        if (!process.env['DATABASE_URL'])
          env['PGOPTIONS'] = [process.env['PGOPTIONS'], '-c role=crypto_status'].filter(Boolean).join(' ');
      }
      const exchange = svc.env['EXCHANGE'];
      if (exchange && apis[exchange]) env['EXCHANGE_API_BASE_URL'] = apis[exchange];
      const port = Number(new URL(urls[svc.name] as string).port);
      return startFunction(svc.bundle.startsWith('extract-') ? 'extract' : svc.bundle, svc.name, port, env);
    }),
  );
  for (const svc of wired.services) line(`${svc.name} listening on ${urls[svc.name]}`);
  if (urls['status']) line(`status page: ${urls['status']}`);
  line(`transform's Bearer token for curl: ${token}`);
  line(
    `Broker on ${brokerUrl}: ${wired.triggers.length} Triggers, ${wired.pings.length} PingSources from knative/base`,
  );
  if (!s3.embedded)
    line('S3_ENDPOINT is external: configure its bucket notification to transform (scripts/minio-notify.sh)');
  databaseForReport = databaseUrl;

  // Every schedule once now, so that there is data at once; then each on its cron, at every minute.
  line(`fired ${broker.firePings(new Date(), true)} schedule(s)`);
  if (once) {
    // Wait until every stage is done: deliveries, replies, MinIO-style notifications.
    for (let quiet = 0; quiet < 3;) {
      await broker.idle();
      await queue.idle();
      await new Promise((r) => setTimeout(r, 200));
      quiet = queue.size === 0 ? quiet + 1 : 0;
    }
    await report();
    return shutdown(0);
  }
  line('schedules run on their crons from now on; Ctrl-C stops everything');
  setTimeout(
    () => {
      const tickNow = () => void broker.firePings(new Date());
      tickNow();
      setInterval(tickNow, 60_000);
    },
    60_000 - (Date.now() % 60_000),
  );
}

let brokerForShutdown: LocalBroker | undefined;
let notifications: NotificationQueue | undefined;
let databaseForReport: string | undefined;

/** Rows per table in PostgreSQL, for the end of a --once run. */
async function report(): Promise<void> {
  if (!databaseForReport) return;
  const pool = createPool(loadCommonConfig({ DATABASE_URL: databaseForReport }).db, 1);
  try {
    const counts = await tableRowCounts(pool);
    line(`PostgreSQL now holds: ${counts.map((c) => `${c.table} ${c.rows}`).join(', ')}`);
  } finally {
    await pool.end();
  }
}

let stopping = false;
/** Stops the Broker, every function (SIGKILL after 10 s), then S3, PostgreSQL and the fake exchanges; one line. */
async function shutdown(code: number): Promise<void> {
  if (stopping) return;
  stopping = true;
  if (notifications && notifications.size > 0)
    line(
      `${notifications.size} notification(s) not yet delivered; the objects stay in S3 (reprocess them later)`,
    );
  await brokerForShutdown?.close().catch(() => undefined);
  const running = children.filter((c) => c.exitCode === null && c.signalCode === null);
  await Promise.all(
    running.map(
      (c) =>
        new Promise<void>((done) => {
          const kill = setTimeout(() => c.kill('SIGKILL'), 10_000);
          c.once('exit', () => {
            clearTimeout(kill);
            done();
          });
          c.kill('SIGTERM');
        }),
    ),
  );
  // Each service gets 15 s to stop: a shutdown never hangs on one of them.
  for (const close of closers.reverse())
    await Promise.race([close().catch(() => undefined), new Promise((r) => setTimeout(r, 15_000).unref())]);
  line(
    `stopped ${children.length} function(s) and ${closers.length + (brokerForShutdown ? 1 : 0)} local service(s)`,
  );
  process.exit(code);
}
// embedded-postgres installs SIGINT/SIGTERM handlers (async-exit-hook) that stop its servers and exit at once, cutting
// this shutdown short and racing the functions' exit: here PostgreSQL stops last, through its closer.
process.removeAllListeners('SIGINT');
process.removeAllListeners('SIGTERM');
process.on('SIGINT', () => void shutdown(0));
process.on('SIGTERM', () => void shutdown(0));

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : err);
  void shutdown(1);
});
