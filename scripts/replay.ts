// Replays dead letters: every event stored under _dead-letters/ is sent back to the Broker (binary mode) and, once
// accepted, moved to _dead-letters-replayed/. Usage: npm run replay -- [--to=<broker URL>] [--prefix=date=2026-11-24/] [--dry-run]
import { loadCommonConfig } from '../shared/config.ts';
import { sendToBroker } from '../shared/events/post.ts';
import { replayMessage } from '../shared/events/replayable.ts';
import { moveObject, replayedKey } from '../shared/lake/objects.ts';
import { DEAD_LETTER_PREFIX, REPLAYED_PREFIX, listKeyPages } from '../shared/lake/list.ts';
import { getObject } from '../shared/lake/read.ts';
import { s3Client, type S3Client } from '../shared/lake/s3.ts';
import { unreachable } from '../shared/unreachable.ts';
import { UsageError, operatorEnv, runOperator } from './lib/ops.ts';

export { REPLAYED_PREFIX };

/** Largest dead letter read back: an event is at most MAX_BODY_BYTES (1 MiB by default) plus its attributes. */
const MAX_DEAD_LETTER_BYTES = 16 * 1024 * 1024;

/** What a replay did. */
export interface ReplayResult {
  replayed: string[];
  failed: Array<{ key: string; reason: string }>;
}

/**
 * Sends every dead letter under `prefix` to `target`; accepted ones move to the replayed prefix. A dead letter that
 * cannot be sent or is refused stays and is reported; a Broker or S3 that cannot be reached stops the replay
 * (ServiceUnreachable or the S3 error), since every other dead letter would fail the same way.
 */
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
        const got = await getObject(s3, bucket, key, MAX_DEAD_LETTER_BYTES);
        if (got === 'missing') continue; // moved by a replay running beside this one
        if (got === 'too_large') throw new Error(`larger than ${MAX_DEAD_LETTER_BYTES} bytes`);
        const message = replayMessage(JSON.parse(got.body.toString('utf8')) as Record<string, unknown>);
        if (opts.dryRun) {
          result.replayed.push(key);
          continue;
        }
        await sendToBroker(target, message);
        await moveObject(s3, bucket, key, replayedKey(key), got.body);
        result.replayed.push(key);
      } catch (err) {
        if (unreachable(err)) throw err;
        result.failed.push({ key, reason: (err as Error).message });
      }
    }
  }
  return result;
}

const USAGE = `npm run replay -- [--to=<Broker URL>] [--prefix=date=2026-11-24/] [--dry-run]
Broker: --to or BROKER_URL; raw bucket: S3_ENDPOINT or MINIO_*. With none of them set: the local run of npm start.`;

if (import.meta.url === `file://${process.argv[1]}`) {
  const command = { name: 'replay', usage: USAGE, values: ['to', 'prefix'], switches: ['dry-run'] };
  await runOperator(command, async (f) => {
    const { env } = operatorEnv();
    const target = f.get('to') ?? env['BROKER_URL'];
    if (!target) throw new UsageError('give the Broker URL with --to=<url> or BROKER_URL');
    if (!URL.canParse(target)) throw new UsageError(`'${target}' is not a URL (--to or BROKER_URL)`);
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
