// Replays dead letters: every event stored under _dead-letters/ is sent back to the Broker (binary mode) and, once
// accepted, moved to _dead-letters-replayed/. Usage: npm run replay -- [--to=<broker URL>] [--prefix=date=2026-11-24/] [--dry-run]
import { DeleteObjectCommand, GetObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { CloudEvent } from 'cloudevents';
import { loadCommonConfig } from '../shared/config.ts';
import { toBinary } from '../shared/events/cloudevent.ts';
import { DEAD_LETTER_PREFIX, listKeyPages } from '../shared/lake/objects.ts';
import { s3Client } from '../shared/lake/s3.ts';
import { UsageError, flags, operatorEnv, runOperator } from './lib/ops.ts';

/** Knative's reason attributes: dropped when the event goes back to the Broker. */
const ERROR_ATTRIBUTES = ['knativeerrordest', 'knativeerrorcode', 'knativeerrordata'];
export const REPLAYED_PREFIX = '_dead-letters-replayed/';

/** What a replay did. */
export interface ReplayResult {
  replayed: string[];
  failed: Array<{ key: string; reason: string }>;
}

/** Sends every dead letter under `prefix` to `target`; accepted ones move to the replayed prefix. */
export async function replayDeadLetters(
  s3: S3Client,
  bucket: string,
  target: string,
  opts: { prefix?: string; dryRun?: boolean } = {},
): Promise<ReplayResult> {
  const result: ReplayResult = { replayed: [], failed: [] };
  for await (const page of listKeyPages(s3, bucket, DEAD_LETTER_PREFIX + (opts.prefix ?? ''))) {
    for (const key of page) {
      try {
        const body = await (
          await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }))
        ).Body!.transformToString();
        const stored = JSON.parse(body) as Record<string, unknown>;
        for (const a of ERROR_ATTRIBUTES) delete stored[a];
        const event = new CloudEvent(stored);
        if (opts.dryRun) {
          result.replayed.push(key);
          continue;
        }
        const { headers, body: payload } = toBinary(event);
        const res = await fetch(target, { method: 'POST', headers, body: payload });
        if (!res.ok) throw new Error(`HTTP ${res.status}: ${(await res.text()).slice(0, 200)}`);
        const moved = REPLAYED_PREFIX + key.slice(DEAD_LETTER_PREFIX.length);
        await s3.send(
          new PutObjectCommand({ Bucket: bucket, Key: moved, Body: body, ContentType: 'application/json' }),
        );
        await s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: key }));
        result.replayed.push(key);
      } catch (err) {
        result.failed.push({ key, reason: (err as Error).message });
      }
    }
  }
  return result;
}

const USAGE = `npm run replay -- [--to=<Broker URL>] [--prefix=date=2026-11-24/] [--dry-run]
Broker: --to or BROKER_URL; raw bucket: S3_ENDPOINT or MINIO_*. With none of them set: the local run of npm start.`;

if (import.meta.url === `file://${process.argv[1]}`) {
  await runOperator('replay', USAGE, async () => {
    const f = flags(process.argv.slice(2));
    const { env } = operatorEnv();
    const target = f.get('to') ?? env['BROKER_URL'];
    if (!target) throw new UsageError('give the Broker URL with --to=<url> or BROKER_URL');
    const cfg = loadCommonConfig(env);
    const dryRun = f.has('dry-run');
    const r = await replayDeadLetters(s3Client(cfg.s3), cfg.s3.bucket, target, {
      prefix: f.get('prefix'),
      dryRun,
    });
    for (const k of r.replayed) console.log(`${dryRun ? 'would replay' : 'replayed'} ${k}`);
    for (const x of r.failed) console.error(`failed ${x.key}: ${x.reason}`);
    console.log(`${r.replayed.length} ${dryRun ? 'to replay' : 'replayed'}, ${r.failed.length} failed`);
    process.exitCode = r.failed.length > 0 ? 1 : 0;
  });
}
