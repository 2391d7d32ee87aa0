// Benchmark: load-raw events/s and latency (p50/p99) beside the store's own PUT rate: the same objects PUT straight
// to the same S3 with the SDK at the same concurrency, in the same run. load-raw's bundle and S3 (s3rver) each run in
// a process of their own, as in a cluster; the client here. A floor in the same run: the same events through a
// forwarder (bench/forwarder.ts) that PUTs each body unchanged, the least any Node function in between can do, and
// the same with a HEAD before each PUT. And load-raw with S3_CONDITIONAL_PUT=true (one conditional PUT per new object,
// no HEAD): s3rver ignores If-None-Match, which for the distinct keys here is what a store that honours it does.
// Writes bench/results/load-raw.json.
// Usage: npm run bench:load-raw  (EVENTS=300 per step)
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { buildBatchEvents } from '../shared/events/batches.ts';
import { toBinary } from '../shared/events/cloudevent.ts';
import type { ExtractBatch, OhlcvRecord } from '../shared/events/schemas.ts';
import { batchBody, batchKey } from '../shared/lake/objects.ts';
import { s3Client } from '../shared/lake/s3.ts';
import { children, drive, freePort, start, writeResult } from './lib.ts';

const EVENTS = Number(process.env['EVENTS'] ?? 300);
const STEPS = [1, 8, 16, 32];
const T0 = Date.UTC(2024, 0, 1);
const root = join(import.meta.dirname, '..');
process.env['AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED'] ??= 'true';

/** Event `i`: a distinct 1,500-candle batch, as load-raw receives it (binary mode) and as it stores it. */
function event(i: number) {
  const recs: OhlcvRecord[] = Array.from({ length: 1500 }, (_, k) => ({
    ts: T0 + (i * 1500 + k) * 60_000,
    open: (43000 + (k % 97) / 100).toFixed(8),
    high: '43010.00000000',
    low: '42990.00000000',
    close: (43000 + (k % 89) / 100).toFixed(8),
    volume: '1.25000000',
    closed: true,
  }));
  const [ev] = buildBatchEvents(
    {
      exchange: 'binance',
      dataset: 'ohlcv',
      symbol: 'BTC/USDT',
      timeframe: '1m',
      window: null,
      requestId: 'bench',
      extractedAt: T0,
    },
    recs,
    1024 * 1024,
  );
  const body = batchBody(ev!);
  return { message: toBinary(ev!), key: batchKey(ev!, ev!.data as ExtractBatch), body, id: ev!.id };
}

const work = mkdtempSync(join(tmpdir(), 'bench-load-raw-'));
try {
  execFileSync(
    process.execPath,
    [join(root, 'scripts/build.mjs'), '--exchanges=binance', `--outdir=${join(work, 'dist')}`],
    { stdio: 'ignore' },
  );
  // S3 (s3rver) in a process of its own, as MinIO would be; a bucket each for load-raw, the direct PUTs, the forwarder.
  const s3Port = await freePort();
  const s3Url = `http://127.0.0.1:${s3Port}`;
  await start(
    [
      '--input-type=module',
      '-e',
      `import S3rver from 's3rver'; await new S3rver({ port: ${s3Port}, address: '127.0.0.1', silent: true, directory: ${JSON.stringify(join(work, 's3'))}, configureBuckets: [{ name: 'crypto-raw' }, { name: 'crypto-raw-conditional' }, { name: 'direct' }, { name: 'forwarded' }, { name: 'head-forwarded' }] }).run();`,
    ],
    {},
    `${s3Url}/`,
  );
  /** load-raw's bundle in a process of its own writing to `bucket`, with a conditional PUT when `conditional`. */
  const startLoadRaw = async (bucket: string, conditional: boolean) => {
    const port = await freePort();
    const at = `http://127.0.0.1:${port}/`;
    const child = await start(
      [join(work, 'dist', 'load-raw', 'index.mjs')],
      {
        S3_ENDPOINT: s3Url,
        AWS_ACCESS_KEY_ID: 'S3RVER',
        AWS_SECRET_ACCESS_KEY: 'S3RVER',
        RAW_BUCKET: bucket,
        S3_CONDITIONAL_PUT: String(conditional),
        PORT: String(port),
      },
      at,
    );
    return { url: at, child };
  };
  const { url, child: loadRaw } = await startLoadRaw('crypto-raw', false);
  const { url: conditionalUrl } = await startLoadRaw('crypto-raw-conditional', true);
  /** A forwarder (bench/forwarder.ts) into `bucket`, with a HEAD before each PUT when `head`: its URL. */
  const forwarder = async (bucket: string, head: boolean) => {
    const p = await freePort();
    const at = `http://127.0.0.1:${p}/`;
    const env = { S3_ENDPOINT: s3Url, AWS_ACCESS_KEY_ID: 'S3RVER', AWS_SECRET_ACCESS_KEY: 'S3RVER' };
    await start(
      ['--import', 'tsx', join(root, 'bench', 'forwarder.ts')],
      { ...env, BUCKET: bucket, PORT: String(p), HEAD: head ? '1' : '0' },
      at,
    );
    return at;
  };
  const forwarderUrl = await forwarder('forwarded', false);
  const headForwarderUrl = await forwarder('head-forwarded', true);
  const s3 = s3Client({
    endpoint: s3Url,
    region: 'us-east-1',
    accessKeyId: 'S3RVER',
    secretAccessKey: 'S3RVER',
    bucket: 'direct',
  });

  const rows = [];
  let offset = 0;
  for (const concurrency of STEPS) {
    const events = Array.from({ length: EVENTS }, (_, i) => event(offset + i));
    offset += EVENTS;
    const post = (to: string) =>
      drive(
        concurrency,
        events.map(
          (e) => () => fetch(to, { method: 'POST', headers: e.message.headers, body: e.message.body }),
        ),
      );
    const runs = {
      // The store's own rate: each object load-raw will store, with its key, bytes and metadata, PUT by the SDK.
      direct: () =>
        drive(
          concurrency,
          events.map((e) => async () => {
            await s3.send(
              new PutObjectCommand({
                Bucket: 'direct',
                Key: e.key,
                Body: e.body,
                ContentType: 'application/json',
                Metadata: {
                  'event-id': e.id,
                  'event-source': '/cryptopipe/extract/binance',
                  'event-type': 'cryptopipe.extract.batch',
                  'schema-version': '1',
                  'extracted-at': new Date(T0).toISOString(),
                  records: '1500',
                },
              }),
            );
            return { ok: true };
          }),
        ),
      through: () => post(url),
      conditional: () => post(conditionalUrl),
      forwarded: () => post(forwarderUrl),
      headForwarded: () => post(headForwarderUrl),
    };
    // The store fills up as a step goes on: the order of the runs turns by one from one step to the next.
    const names = Object.keys(runs) as Array<keyof typeof runs>;
    const done: Partial<Record<keyof typeof runs, Awaited<ReturnType<typeof post>>>> = {};
    for (let k = 0; k < names.length; k++) {
      const name = names[(k + STEPS.indexOf(concurrency)) % names.length]!;
      done[name] = await runs[name]();
    }
    const { direct, through, conditional, forwarded, headForwarded } = done as Required<typeof done>;
    rows.push({
      concurrency,
      events: EVENTS,
      errors: through.errors + direct.errors + conditional.errors + forwarded.errors + headForwarded.errors,
      eventsPerSec: through.perSec,
      p50Ms: through.p50Ms,
      p99Ms: through.p99Ms,
      directPutsPerSec: direct.perSec,
      directP50Ms: direct.p50Ms,
      directP99Ms: direct.p99Ms,
      ratioToPut: Number((through.perSec / direct.perSec).toFixed(3)),
      conditionalPerSec: conditional.perSec,
      conditionalP50Ms: conditional.p50Ms,
      conditionalP99Ms: conditional.p99Ms,
      conditionalRatioToPut: Number((conditional.perSec / direct.perSec).toFixed(3)),
      forwarderPerSec: forwarded.perSec,
      forwarderP50Ms: forwarded.p50Ms,
      forwarderRatioToPut: Number((forwarded.perSec / direct.perSec).toFixed(3)),
      headForwarderPerSec: headForwarded.perSec,
      headForwarderRatioToPut: Number((headForwarded.perSec / direct.perSec).toFixed(3)),
    });
  }
  // Redelivery: the last step's events again; each must find its object and write nothing.
  const again = event(offset - 1);
  const res = await fetch(url, { method: 'POST', headers: again.message.headers, body: again.message.body });
  if (res.headers.get('x-object-written') !== 'false')
    throw new Error('a redelivered event was written again');
  loadRaw.kill('SIGTERM');

  const atConcurrency = rows.find((r) => r.concurrency === 16)!;
  writeResult('load-raw', {
    s3: 's3rver',
    what:
      "load-raw's bundle (image NODE_OPTIONS) and s3rver in processes of their own, the client in a third; " +
      'reference: the same objects (key, bytes, content type) PUT straight to the same s3rver with the SDK at the same concurrency, just before; ' +
      'conditional: the same events through load-raw with S3_CONDITIONAL_PUT=true (a PUT with If-None-Match: *, no HEAD; s3rver ignores the header, as a store honouring it does for a new key); ' +
      "floor: the same events through a forwarder (bench/forwarder.ts, its own process, the same flags) that PUTs each body unchanged with the functions' S3 client, no parse, validation or HEAD: the most any Node function in between can reach here",
    eventBytes: Buffer.byteLength(again.message.body),
    objectBytes: again.body.length,
    rows,
    goal: { ratioToPut: 0.8, at: 'every concurrency' },
    met: rows.every((r) => r.ratioToPut >= 0.8 && r.errors === 0),
    metWithConditionalPut: rows.every((r) => r.conditionalRatioToPut >= 0.8 && r.errors === 0),
    atContainerConcurrency: atConcurrency,
  });
} finally {
  for (const c of children) c.kill('SIGTERM');
  rmSync(work, { recursive: true, force: true });
}
