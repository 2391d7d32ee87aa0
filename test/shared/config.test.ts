// Tests of the environment parsing: defaults, the seed's names, and errors that name the variable.
import { describe, expect, it } from 'vitest';
import { loadCommonConfig, loadExtractConfig } from '../../shared/config.ts';
import { ConfigError } from '../../shared/errors.ts';
import { extractRequestSchema } from '../../shared/events/schemas.ts';

const base = { EXCHANGE: 'binance', K_SINK: 'http://broker.local/ns/default' };

describe('loadCommonConfig', () => {
  it('defaults to the seed hosts and bucket', () => {
    const c = loadCommonConfig({});
    expect(c.s3.endpoint).toBe('http://minio.lxc.svc.cluster.local:9000');
    expect(c.s3.bucket).toBe('crypto-raw');
    expect(c.port).toBe(8080);
  });
  it('accepts MINIO_ENDPOINT as host, host:port or URL, S3_ENDPOINT first', () => {
    expect(loadCommonConfig({ MINIO_ENDPOINT: 'minio.example' }).s3.endpoint).toBe(
      'http://minio.example:9000',
    );
    expect(loadCommonConfig({ MINIO_ENDPOINT: 'minio.example:9100' }).s3.endpoint).toBe(
      'http://minio.example:9100',
    );
    expect(loadCommonConfig({ MINIO_ENDPOINT: 'https://m.example' }).s3.endpoint).toBe('https://m.example');
    expect(loadCommonConfig({ MINIO_ENDPOINT: 'x', S3_ENDPOINT: 'http://s3.local:4569' }).s3.endpoint).toBe(
      'http://s3.local:4569',
    );
  });
  it('writes with a conditional PUT only when S3_CONDITIONAL_PUT is true; another value stops start-up', () => {
    expect(loadCommonConfig({}).s3.conditionalPut).toBe(false);
    expect(loadCommonConfig({ S3_CONDITIONAL_PUT: 'true' }).s3.conditionalPut).toBe(true);
    expect(() => loadCommonConfig({ S3_CONDITIONAL_PUT: 'yes' })).toThrow(/S3_CONDITIONAL_PUT/);
  });
  it('defaults PostgreSQL to the seed host and the crypto database; DATABASE_URL when given', () => {
    expect(loadCommonConfig({}).db).toMatchObject({
      host: 'postgresql.database.svc.cluster.local',
      port: 5432,
      database: 'crypto',
      connectionString: undefined,
    });
    expect(loadCommonConfig({ POSTGRESQL_HOST: 'db', POSTGRESQL_PASSWORD: 'pw' }).db).toMatchObject({
      host: 'db',
      password: 'pw',
    });
    expect(loadCommonConfig({ DATABASE_URL: 'postgres://u@h/crypto' }).db.connectionString).toBe(
      'postgres://u@h/crypto',
    );
    expect(() => loadCommonConfig({ DATABASE_URL: 'mysql://h/db' })).toThrow(
      /DATABASE_URL: must be a postgres:\/\/ URL/,
    );
  });
  it('takes credentials from the seed names, then the AWS ones', () => {
    expect(
      loadCommonConfig({ MINIO_USER: 'u', MINIO_PASSWORD: 'p', AWS_ACCESS_KEY_ID: 'a' }).s3,
    ).toMatchObject({ accessKeyId: 'u', secretAccessKey: 'p' });
    expect(loadCommonConfig({ AWS_ACCESS_KEY_ID: 'a', AWS_SECRET_ACCESS_KEY: 's' }).s3).toMatchObject({
      accessKeyId: 'a',
      secretAccessKey: 's',
    });
  });
});

describe('loadExtractConfig', () => {
  it('parses a minimal environment with defaults', () => {
    const c = loadExtractConfig(base);
    expect(c).toMatchObject({
      exchange: 'binance',
      maxEventBytes: 262_144,
      marketTypes: ['spot', 'swap'],
      marketsTtlMs: 3_600_000,
      cursorStore: 's3',
    });
  });

  const bad: Array<{ name: string; env: Record<string, string>; variable: string }> = [
    { name: 'missing EXCHANGE', env: { K_SINK: base.K_SINK }, variable: 'EXCHANGE' },
    { name: 'missing K_SINK', env: { EXCHANGE: 'binance' }, variable: 'K_SINK' },
    { name: 'K_SINK not a URL', env: { ...base, K_SINK: 'broker' }, variable: 'K_SINK' },
    {
      name: 'MAX_EVENT_BYTES not a number',
      env: { ...base, MAX_EVENT_BYTES: 'lots' },
      variable: 'MAX_EVENT_BYTES',
    },
    {
      name: 'MAX_EVENT_BYTES too small',
      env: { ...base, MAX_EVENT_BYTES: '100' },
      variable: 'MAX_EVENT_BYTES',
    },
    { name: 'unknown market type', env: { ...base, MARKET_TYPES: 'spot,perp' }, variable: 'MARKET_TYPES' },
    { name: 'bad duration', env: { ...base, MARKETS_TTL: 'soon' }, variable: 'MARKETS_TTL' },
    {
      name: 'bad base URL',
      env: { ...base, EXCHANGE_API_BASE_URL: 'ftp://x' },
      variable: 'EXCHANGE_API_BASE_URL',
    },
    { name: 'bad log level', env: { ...base, LOG_LEVEL: 'LOUD' }, variable: 'LOG_LEVEL' },
    { name: 'bad bucket', env: { ...base, RAW_BUCKET: 'Bad_Bucket' }, variable: 'RAW_BUCKET' },
  ];
  it.each(bad)('$name stops start-up naming $variable', ({ env, variable }) => {
    expect(() => loadExtractConfig(env)).toThrow(ConfigError);
    expect(() => loadExtractConfig(env)).toThrow(new RegExp(`^Invalid configuration:\\n  ${variable}: `));
  });

  it('takes the same market types as an extract request', () => {
    for (const type of ['spot', 'swap', 'future', 'option', 'perp']) {
      const inConfig = (() => {
        try {
          return loadExtractConfig({ ...base, MARKET_TYPES: type }).marketTypes;
        } catch {
          return undefined;
        }
      })();
      const inRequest = extractRequestSchema.safeParse({ datasets: ['markets'], marketTypes: [type] }).data
        ?.marketTypes;
      expect(inRequest, type).toEqual(inConfig);
    }
  });
  it('refuses an exchange the build does not contain', () => {
    expect(() => loadExtractConfig({ ...base, EXCHANGE: 'kraken' }, ['binance'])).toThrow(
      /EXCHANGE: 'kraken' is not an exchange this build contains \(binance\)/,
    );
  });

  it('never echoes a connection string, which may hold a password', () => {
    expect(() => loadCommonConfig({ DATABASE_URL: 'mysql://u:hunter2secret@h/db' })).toThrow(ConfigError);
    try {
      loadCommonConfig({ DATABASE_URL: 'mysql://u:hunter2secret@h/db' });
    } catch (err) {
      expect(String(err)).not.toContain('hunter2secret');
    }
  });
  it('never echoes a secret value in the message', () => {
    try {
      loadExtractConfig({ ...base, MINIO_PASSWORD: 'hunter2secret', MAX_EVENT_BYTES: 'x' });
    } catch (err) {
      expect(String(err)).not.toContain('hunter2secret');
    }
  });
});
