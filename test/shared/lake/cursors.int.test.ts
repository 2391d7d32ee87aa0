// Integration test of the S3 cursor store against a real S3 API (s3rver, or S3_ENDPOINT when set).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { S3CursorStore, cursorKey, symbolSegment } from '../../../shared/lake/cursors.ts';
import { TransientError } from '../../../shared/errors.ts';
import { startS3, type TestS3 } from '../../support/s3.ts';

let s3: TestS3;
beforeAll(async () => {
  s3 = await startS3();
});
afterAll(async () => s3?.close());

describe('S3CursorStore', () => {
  const key = { exchange: 'binance', dataset: 'ohlcv', symbol: 'BTC/USDT:USDT', timeframe: '1m' };

  it('names keys a person can browse', () => {
    expect(symbolSegment('BTC/USDT:USDT')).toBe('BTC-USDT_USDT');
    expect(cursorKey(key)).toBe(
      '_state/cursors/exchange=binance/dataset=ohlcv/symbol=BTC-USDT_USDT/timeframe=1m.json',
    );
  });

  it('reads nothing before the first write, then what was written', async () => {
    const store = new S3CursorStore(s3.client, s3.settings.bucket);
    expect(await store.get(key)).toBeUndefined();
    await store.put(key, { next: 1_700_000_060_000, updatedAt: 5 });
    expect(await store.get(key)).toEqual({ next: 1_700_000_060_000, updatedAt: 5 });
  });

  it('a missing bucket is a transient error, not a silent reset', async () => {
    const store = new S3CursorStore(s3.client, 'no-such-bucket-here');
    await expect(store.put(key, { next: 1, updatedAt: 1 })).rejects.toBeInstanceOf(TransientError);
  });
});
