// The MinIO notification script: the mc commands it runs, filters and queue_dir, and no token in its output.
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const script = join(import.meta.dirname, '../../scripts/minio-notify.sh');

describe('scripts/minio-notify.sh --dry-run', () => {
  const out = execFileSync('bash', [script, '--dry-run', 'homelab'], {
    env: { PATH: process.env['PATH'] ?? '', TRANSFORM_AUTH_TOKEN: 'secret-token-value-123456' },
    encoding: 'utf8',
  });
  const lines = out.trim().split('\n');

  it('sets a webhook target with the token and a queue_dir, then the filtered bucket event', () => {
    expect(lines[0]).toBe(
      'mc admin config set homelab notify_webhook:crypto endpoint=http://transform.crypto-pipeline.svc.cluster.local auth_token=<TRANSFORM_AUTH_TOKEN> queue_dir=/data/.notify-crypto queue_limit=100000',
    );
    expect(lines[1]).toBe('mc admin service restart homelab');
    expect(lines[2]).toBe(
      'mc event add homelab/crypto-raw arn:minio:sqs::crypto:webhook --event put --prefix exchange= --suffix .json',
    );
  });
  it('never prints the token', () => {
    expect(out).not.toContain('secret-token-value-123456');
  });
  it('refuses to run without a token', () => {
    expect(() =>
      execFileSync('bash', [script, '--dry-run', 'homelab'], {
        env: { PATH: process.env['PATH'] ?? '' },
        stdio: 'pipe',
      }),
    ).toThrow(/TRANSFORM_AUTH_TOKEN/);
  });
});
