// Incremental cursors of extract series, kept as small JSON objects in the raw bucket under `_state/cursors/`.
import type { S3Client } from '@aws-sdk/client-s3';
import type { S3Settings } from '../config.ts';
import { TransientError } from '../errors.ts';

/** Identifies one extracted series. */
export interface SeriesKey {
  exchange: string;
  dataset: string;
  symbol: string;
  timeframe: string | null;
}

/** Where a series continues: the first time not yet delivered (epoch ms). */
export interface Cursor {
  next: number;
  updatedAt: number;
}

/** Reads and advances cursors. */
export interface CursorStore {
  get(key: SeriesKey): Promise<Cursor | undefined>;
  put(key: SeriesKey, cursor: Cursor): Promise<void>;
}

/** A symbol as a key segment a person can read: `BTC/USDT:USDT` -> `BTC-USDT_USDT`. */
export function symbolSegment(symbol: string): string {
  return symbol
    .replace(/\//g, '-')
    .replace(/:/g, '_')
    .replace(/[^A-Za-z0-9._-]/g, '~');
}

/** The object key of a series' cursor. */
export function cursorKey(k: SeriesKey): string {
  const tf = k.timeframe ? `/timeframe=${k.timeframe}` : '';
  return `_state/cursors/exchange=${k.exchange}/dataset=${k.dataset}/symbol=${symbolSegment(k.symbol)}${tf}.json`;
}

/** Cursors in the raw bucket; S3 failures are transient (503) so the request is retried, never half-applied. */
export class S3CursorStore implements CursorStore {
  private client: Promise<S3Client> | undefined;

  /**
   * `s3` is a client, or the settings to make one on first use: extract imports the S3 SDK only when a cursor is
   * read, which keeps it out of the function's cold start.
   */
  constructor(
    private readonly s3: S3Client | S3Settings,
    private readonly bucket: string,
  ) {}

  private async sdk() {
    const sdk = await import('@aws-sdk/client-s3');
    this.client ??=
      'send' in this.s3
        ? Promise.resolve(this.s3)
        : import('./s3.ts').then((m) => m.s3Client(this.s3 as S3Settings));
    return { sdk, client: await this.client };
  }

  async get(key: SeriesKey): Promise<Cursor | undefined> {
    const { sdk, client } = await this.sdk();
    try {
      const res = await client.send(new sdk.GetObjectCommand({ Bucket: this.bucket, Key: cursorKey(key) }));
      const text = (await res.Body?.transformToString()) ?? '';
      const parsed = JSON.parse(text) as Partial<Cursor>;
      if (typeof parsed.next !== 'number' || !Number.isSafeInteger(parsed.next)) return undefined;
      return { next: parsed.next, updatedAt: typeof parsed.updatedAt === 'number' ? parsed.updatedAt : 0 };
    } catch (err) {
      if (err instanceof sdk.NoSuchKey || (err as { name?: string }).name === 'NoSuchKey') return undefined;
      if (err instanceof SyntaxError) return undefined;
      throw new TransientError(
        'cursor_store_unavailable',
        `reading cursor ${cursorKey(key)} failed: ${(err as Error).message}`,
      );
    }
  }

  async put(key: SeriesKey, cursor: Cursor): Promise<void> {
    const { sdk, client } = await this.sdk();
    try {
      await client.send(
        new sdk.PutObjectCommand({
          Bucket: this.bucket,
          Key: cursorKey(key),
          Body: JSON.stringify({ ...key, ...cursor }),
          ContentType: 'application/json',
        }),
      );
    } catch (err) {
      throw new TransientError(
        'cursor_store_unavailable',
        `writing cursor ${cursorKey(key)} failed: ${(err as Error).message}`,
      );
    }
  }
}

/** No cursor kept: every incremental run uses INITIAL_LOOKBACK (only for setups that always send a window). */
export class NoCursorStore implements CursorStore {
  async get(): Promise<Cursor | undefined> {
    return undefined;
  }
  async put(): Promise<void> {}
}
