// Benchmark: load-raw events/s and latency (p50/p99) at concurrency 1, 8 and 32 against the embedded S3 (s3rver),
// each event a distinct 1,500-candle batch. Writes bench/results/load-raw.json. Usage: npm run bench:load-raw
import type { AddressInfo } from 'node:net';
import { createLoadRawHandler } from '../functions/load-raw/handler.ts';
import { loadCommonConfig } from '../shared/config.ts';
import { buildBatchEvents } from '../shared/events/batches.ts';
import { toBinary } from '../shared/events/cloudevent.ts';
import type { OhlcvRecord } from '../shared/events/schemas.ts';
import { functionServer, registerFunction } from '../shared/http/server.ts';
import { s3Client } from '../shared/lake/s3.ts';
import { setLogSink } from '../shared/log.ts';
import { startS3 } from '../test/support/s3.ts';
import { drive, writeResult } from './lib.ts';

const EVENTS = Number(process.env['EVENTS'] ?? 400);
const T0 = Date.UTC(2024, 0, 1);
process.env['AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED'] ??= 'true';
setLogSink(() => undefined);

function event(i: number) {
  const recs: OhlcvRecord[] = Array.from({ length: 1500 }, (_, k) => ({
    ts: T0 + (i * 1500 + k) * 60_000,
    open: '43000.12000000',
    high: '43010.00000000',
    low: '42990.00000000',
    close: '43005.50000000',
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
  return toBinary(ev!);
}

async function main() {
  const s3 = await startS3();
  const cfg = loadCommonConfig({
    S3_ENDPOINT: s3.settings.endpoint,
    AWS_ACCESS_KEY_ID: s3.settings.accessKeyId!,
    AWS_SECRET_ACCESS_KEY: s3.settings.secretAccessKey!,
    RAW_BUCKET: s3.settings.bucket,
  });
  registerFunction('bench-load-raw', createLoadRawHandler(cfg, { s3: s3Client(cfg.s3) }), {
    maxBodyBytes: cfg.maxBodyBytes,
  });
  const server = functionServer('bench-load-raw');
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  const rows = [];
  let offset = 0;
  for (const concurrency of [1, 8, 32]) {
    const messages = Array.from({ length: EVENTS }, (_, i) => event(offset + i));
    offset += EVENTS;
    rows.push(
      await drive(
        concurrency,
        messages.map((m) => () => fetch(url, { method: 'POST', headers: m.headers, body: m.body })),
      ),
    );
  }
  server.close();
  await s3.close();
  writeResult('load-raw', { s3: s3.source, eventBytes: Buffer.byteLength(event(0).body), rows });
}

await main();
