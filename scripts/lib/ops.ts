// What the operator commands share: the local run's defaults, flags, one-line failures and exit codes.
import { loadCommonConfig, type CommonConfig } from '../../shared/config.ts';
import { startOrExit } from '../../shared/errors.ts';
import { parseDuration, parseInstant } from '../../shared/time.ts';
import { unreachable } from '../../shared/unreachable.ts';

/** Where `npm start` serves its stages: used when the environment names no database, S3 or Broker. */
export const LOCAL_RUN = {
  DATABASE_URL: 'postgres://postgres:postgres@127.0.0.1:54329/crypto',
  S3_ENDPOINT: 'http://127.0.0.1:4568',
  AWS_ACCESS_KEY_ID: 'S3RVER',
  AWS_SECRET_ACCESS_KEY: 'S3RVER',
  BROKER_URL: 'http://127.0.0.1:8070/',
} as const;

const DEPLOYMENT_VARIABLES = [
  'DATABASE_URL',
  'POSTGRESQL_HOST',
  'S3_ENDPOINT',
  'MINIO_ENDPOINT',
  'BROKER_URL',
];

/** The environment of an operator command: as given, or the local run's when it names no deployment at all. */
export function operatorEnv(env: NodeJS.ProcessEnv = process.env): {
  env: NodeJS.ProcessEnv;
  local: boolean;
} {
  if (DEPLOYMENT_VARIABLES.some((v) => env[v])) return { env, local: false };
  return { env: { ...LOCAL_RUN, ...env }, local: true };
}

/** The flags a command takes: `--name=value` flags and `--name` switches. */
export interface FlagSpec {
  values: readonly string[];
  switches: readonly string[];
}

/** The parsed flags of a command line. */
export interface Flags {
  get(name: string): string | undefined;
  has(name: string): boolean;
}

/**
 * Parses `--name=value` flags and `--name` switches. An unknown flag, a value flag without `=` (`--exchange binance`),
 * a switch with a value or a bare word is a UsageError: a command never runs with part of its line ignored.
 */
export function flags(argv: readonly string[], spec: FlagSpec): Flags {
  const values = new Map<string, string>();
  const switches = new Set<string>();
  for (const arg of argv) {
    const m = /^--([a-z][a-z0-9-]*)(?:=(.*))?$/s.exec(arg);
    if (!m) throw new UsageError(`unexpected argument '${arg}' (flags are written --name=value)`);
    const [, name = '', value] = m;
    if (spec.values.includes(name)) {
      if (value === undefined) throw new UsageError(`--${name} takes a value: --${name}=<value>`);
      values.set(name, value);
    } else if (spec.switches.includes(name)) {
      if (value !== undefined) throw new UsageError(`--${name} takes no value`);
      switches.add(name);
    } else throw new UsageError(`unknown flag --${name}`);
  }
  return { get: (name) => values.get(name), has: (name) => switches.has(name) };
}

/** A usage error: one line naming the problem and pointing at --help, exit code 64 (EX_USAGE). */
export class UsageError extends Error {}

export function instantFlag(value: string | undefined, name: string): number | undefined {
  if (value === undefined) return undefined;
  const ms = parseInstant(value);
  if (ms === undefined)
    throw new UsageError(`--${name}: '${value}' is not an ISO-8601 time or epoch milliseconds`);
  return ms;
}

export function durationFlag(value: string | undefined, name: string, fallback: number): number {
  if (value === undefined) return fallback;
  const ms = parseDuration(value);
  if (ms === undefined)
    throw new UsageError(`--${name}: '${value}' is not a duration such as 30s, 2m or PT2M`);
  return ms;
}

export function positiveFlag(value: string | undefined, name: string, fallback: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new UsageError(`--${name}: '${value}' is not a positive integer`);
  return n;
}

/** Which of the command's services listens on `port`, when exactly one of them does (the error names no service). */
function serviceOnPort(port: number | undefined): string | undefined {
  if (port === undefined) return undefined;
  let cfg: CommonConfig;
  const { env } = operatorEnv();
  try {
    cfg = loadCommonConfig(env);
  } catch {
    return undefined;
  }
  const portOf = (url: string | undefined, fallback: number) => {
    if (!url || !URL.canParse(url)) return undefined;
    const u = new URL(url);
    return u.port ? Number(u.port) : fallback;
  };
  const services: Array<[string, number | undefined]> = [
    ['PostgreSQL', cfg.db.connectionString ? portOf(cfg.db.connectionString, 5432) : cfg.db.port],
    ['S3', portOf(cfg.s3.endpoint, cfg.s3.endpoint.startsWith('https:') ? 443 : 80)],
    ['the Broker', portOf(env['BROKER_URL'], 80)],
  ];
  const on = services.filter(([, p]) => p === port);
  return on.length === 1 ? on[0]![0] : undefined;
}

/** What an operator command is: its name, usage text and flags. */
export interface OperatorCommand extends FlagSpec {
  name: string;
  usage: string;
}

/**
 * Runs an operator command with its parsed flags: a usage error is one line and exit 64 (EX_USAGE), a database, S3 or
 * Broker that cannot be used one line saying which and why (exit 2), a bad setting names the variable (exit 78).
 */
export async function runOperator(
  command: OperatorCommand,
  main: (f: Flags) => Promise<void>,
  argv: readonly string[] = process.argv.slice(2),
): Promise<void> {
  process.env['AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED'] ??= 'true';
  const { name, usage } = command;
  if (argv.includes('--help')) return console.log(usage);
  await startOrExit(async () => {
    try {
      await main(flags(argv, command));
    } catch (err) {
      if (err instanceof UsageError) {
        console.error(`${name}: ${err.message} (usage: npm run ${name} -- --help)`);
        process.exitCode = 64;
        return;
      }
      const down = unreachable(err);
      if (down) {
        const hint = operatorEnv().local
          ? ' Is npm start running? Otherwise set DATABASE_URL (or POSTGRESQL_*), S3_ENDPOINT (or MINIO_*) and BROKER_URL.'
          : '';
        const service = down.service ?? serviceOnPort(down.port) ?? 'a service';
        console.error(`${name}: cannot reach ${service}: ${down.reason}.${hint}`);
        process.exitCode = 2;
        return;
      }
      throw err;
    }
  });
}
