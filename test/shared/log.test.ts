// Tests of the structured logger: one JSON line per event, context fields, levels, secrets redacted.
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { Logger, registerSecret, setLogLevel, setLogSink } from '../../shared/log.ts';

let lines: string[] = [];
const restore = setLogSink((l) => lines.push(l));
afterEach(() => {
  lines = [];
  setLogLevel('INFO');
});
afterAll(() => setLogSink(restore));

describe('Logger', () => {
  it('writes one JSON object per line with severity and context', () => {
    const log = new Logger({ component: 'extract', exchange: 'binance' }).child({
      dataset: 'ohlcv',
      symbol: 'BTC/USDT',
      traceparent: '00-abc-def-01',
    });
    log.info('series delivered', { records: 3 });
    expect(lines).toHaveLength(1);
    const entry = JSON.parse(lines[0]!);
    expect(entry).toMatchObject({
      severity: 'INFO',
      message: 'series delivered',
      exchange: 'binance',
      dataset: 'ohlcv',
      symbol: 'BTC/USDT',
      traceparent: '00-abc-def-01',
      records: 3,
    });
    expect(Date.parse(entry.time)).not.toBeNaN();
  });
  it('filters below the level and describes errors', () => {
    setLogLevel('WARNING');
    const log = new Logger();
    log.info('hidden');
    log.error('failed', new TypeError('boom'));
    expect(lines).toHaveLength(1);
    expect(JSON.parse(lines[0]!)).toMatchObject({
      severity: 'ERROR',
      error: { name: 'TypeError', message: 'boom' },
    });
  });
  it('logs an error with its stack and its cause chain', () => {
    const root = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' });
    new Logger().error('request failed', new Error('load failed', { cause: root }), { status: 500 });
    const entry = JSON.parse(lines[0]!);
    expect(entry).toMatchObject({
      status: 500,
      error: {
        name: 'Error',
        message: 'load failed',
        cause: { message: 'connect ECONNREFUSED 127.0.0.1:5432', code: 'ECONNREFUSED' },
      },
    });
    expect(entry.error.stack).toMatch(/load failed\n\s+at /);
    expect(entry.error.cause.stack).toMatch(/ECONNREFUSED/);
  });
  it('never writes a registered secret', () => {
    registerSecret('s3cr3t-password-value');
    new Logger().warn('connecting with s3cr3t-password-value', { url: 'http://u:s3cr3t-password-value@h' });
    expect(lines.join('\n')).not.toContain('s3cr3t-password-value');
    expect(lines[0]).toContain('[redacted]');
  });
});
