// scripts/seal-secrets.sh: builds the Secret from env or .env without secrets on a command line, seals it for prod.
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';

const script = join(import.meta.dirname, '../../scripts/seal-secrets.sh');
const dir = mkdtempSync(join(tmpdir(), 'seal-'));
// A stand-in kubeseal on PATH that passes the Secret through, so the test can read what would be sealed.
writeFileSync(join(dir, 'kubeseal'), '#!/usr/bin/env bash\ncat\n');
chmodSync(join(dir, 'kubeseal'), 0o755);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const env = { PATH: `${dir}:${process.env['PATH'] ?? ''}` };
const secrets = {
  MINIO_PASSWORD: 'm1n10-pass',
  POSTGRESQL_PASSWORD: 'pg-pass',
  TRANSFORM_AUTH_TOKEN: 'token-0123456789abcdef',
  STATUS_POSTGRESQL_USER: 'crypto_status',
  STATUS_POSTGRESQL_PASSWORD: 'status-pass',
};

describe('scripts/seal-secrets.sh', () => {
  it('seals a Secret with every key the manifests reference, from the environment (as under sops exec-env)', () => {
    const out = join(dir, 'sealed.yaml');
    execFileSync('bash', [script, '--out', out], { env: { ...env, ...secrets }, stdio: 'pipe' });
    const secret = parse(readFileSync(out, 'utf8'));
    expect(secret).toMatchObject({
      kind: 'Secret',
      metadata: { name: 'crypto-pipeline-secrets', namespace: 'crypto-pipeline' },
    });
    expect(
      Object.fromEntries(
        Object.entries(secret.data as Record<string, string>).map(([k, v]) => [
          k,
          Buffer.from(v, 'base64').toString(),
        ]),
      ),
    ).toEqual(secrets);
  });
  it('reads a .env file', () => {
    const file = join(dir, '.env');
    writeFileSync(
      file,
      Object.entries(secrets)
        .map(([k, v]) => `${k}=${v}`)
        .join('\n'),
    );
    const out = join(dir, 'sealed2.yaml');
    execFileSync('bash', [script, '--env-file', file, '--out', out], { env, stdio: 'pipe' });
    expect(parse(readFileSync(out, 'utf8')).data.TRANSFORM_AUTH_TOKEN).toBe(
      Buffer.from(secrets.TRANSFORM_AUTH_TOKEN).toString('base64'),
    );
  });
  it('holds every secret key a manifest references', () => {
    const base = join(import.meta.dirname, '../../knative/base');
    const referenced = new Set<string>();
    for (const f of readdirSync(base, { recursive: true, encoding: 'utf8' }).filter((f) =>
      f.endsWith('.yaml'),
    ))
      for (const m of readFileSync(join(base, f), 'utf8').matchAll(
        /secretKeyRef:\s+name: crypto-pipeline-secrets\s+key: (\w+)/g,
      ))
        referenced.add(m[1]!);
    expect(referenced.size).toBeGreaterThan(2);
    expect([...referenced].sort()).toEqual(Object.keys(secrets).sort());
  });
  it('names a missing value and stops', () => {
    expect(() =>
      execFileSync('bash', [script, '--out', join(dir, 'x.yaml')], {
        env: { ...env, MINIO_PASSWORD: 'x' },
        stdio: 'pipe',
      }),
    ).toThrow(/missing POSTGRESQL_PASSWORD/);
  });
  it('never puts a secret value on a command line', () => {
    const text = readFileSync(script, 'utf8');
    expect(text).not.toMatch(/--from-literal/);
    expect(text).toMatch(/--from-env-file="\$tmp"/);
  });
});
