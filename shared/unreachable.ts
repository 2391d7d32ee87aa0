// Tells a service that cannot be used at all (refused, unknown host, silent, no or wrong credentials) from one that
// answered: operator commands stop at the first such failure with one line instead of failing every item after it.

/** A service the command cannot use at all; `service` names it for the operator (e.g. `the Broker at http://...`). */
export class ServiceUnreachable extends Error {
  constructor(
    readonly service: string,
    readonly reason: string,
    options?: ErrorOptions,
  ) {
    super(`cannot reach ${service}: ${reason}`, options);
    this.name = 'ServiceUnreachable';
  }
}

const NETWORK: Record<string, string> = {
  ECONNREFUSED: 'connection refused',
  ECONNRESET: 'connection reset',
  ENOTFOUND: 'unknown host',
  EAI_AGAIN: 'host name lookup failed',
  ETIMEDOUT: 'timed out',
  EHOSTUNREACH: 'host unreachable',
  ENETUNREACH: 'network unreachable',
  UND_ERR_CONNECT_TIMEOUT: 'connect timed out',
  UND_ERR_SOCKET: 'connection closed',
};

/** PostgreSQL's answers that no retry or other query can change: wrong login, unknown database. */
const PG_REFUSALS: Record<string, string> = {
  '28P01': 'password authentication failed',
  '28000': 'login refused',
  '3D000': 'database does not exist',
};

/** S3's answers (and the SDK's) that mean the settings are wrong, not the request. */
const S3_REFUSALS: Record<string, string> = {
  CredentialsProviderError:
    'no S3 credentials (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or MINIO_ACCESS_KEY/MINIO_SECRET_KEY)',
  InvalidAccessKeyId: 'S3 does not know the access key',
  SignatureDoesNotMatch: 'S3 refused the secret key',
  NoSuchBucket: 'the bucket does not exist',
};

type Link = {
  name?: unknown;
  code?: unknown;
  address?: unknown;
  port?: unknown;
  cause?: unknown;
  errors?: unknown;
  $metadata?: unknown;
};

/** The error, its causes and the members of an AggregateError, depth first. */
function chain(err: unknown, seen = new Set<unknown>()): Link[] {
  if (err === null || typeof err !== 'object' || seen.has(err)) return [];
  seen.add(err);
  const e = err as Link;
  const members = Array.isArray(e.errors) ? e.errors.flatMap((m) => chain(m, seen)) : [];
  return [e, ...chain(e.cause, seen), ...members];
}

/**
 * What makes `err` a service that cannot be used, and which service when the error tells (S3 or PostgreSQL);
 * undefined for any other failure.
 */
export function unreachable(
  err: unknown,
): { service: string | undefined; reason: string; port?: number } | undefined {
  const links = chain(err);
  const named = links.find((l): l is ServiceUnreachable => l instanceof ServiceUnreachable);
  if (named) return { service: named.service, reason: named.reason };
  const s3 = links.some(
    (l) => l.$metadata !== undefined || l.name === 'CredentialsProviderError' || l.code === 's3_unavailable',
  );
  const pg = links.some((l) => l.code === 'database_unavailable');
  const service = s3 ? 'S3' : pg ? 'PostgreSQL' : undefined;
  for (const l of links) {
    const code = typeof l.code === 'string' ? l.code : '';
    const name = typeof l.name === 'string' ? l.name : '';
    const where = typeof l.address === 'string' ? ` (${l.address}${l.port ? `:${String(l.port)}` : ''})` : '';
    if (NETWORK[code])
      return {
        service,
        reason: NETWORK[code] + where,
        ...(typeof l.port === 'number' ? { port: l.port } : {}),
      };
    if (PG_REFUSALS[code]) return { service: 'PostgreSQL', reason: PG_REFUSALS[code] };
    if (S3_REFUSALS[name]) return { service: 'S3', reason: S3_REFUSALS[name] };
    if (name === 'TimeoutError') return { service, reason: 'no answer in time' };
  }
  return undefined;
}
