// Reading Prometheus's text format back in tests, and running Debian's promtool and prometheus binaries.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';

/** One parsed sample. */
export interface ParsedSample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** Parses the text exposition format strictly: a line that is neither a comment nor a sample throws. */
export function parseExposition(text: string): {
  samples: ParsedSample[];
  types: Map<string, string>;
  helps: Map<string, string>;
} {
  const samples: ParsedSample[] = [];
  const types = new Map<string, string>();
  const helps = new Map<string, string>();
  for (const line of text.split('\n')) {
    if (line === '') continue;
    const meta = /^# (HELP|TYPE) ([a-zA-Z_:][a-zA-Z0-9_:]*) (.*)$/.exec(line);
    if (meta) {
      (meta[1] === 'HELP' ? helps : types).set(meta[2] as string, meta[3] as string);
      continue;
    }
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m) throw new Error(`not a sample line: ${line}`);
    const labels: Record<string, string> = {};
    const body = m[2] ?? '';
    const re = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"(,|$)/gy;
    let at = 0;
    while (at < body.length) {
      re.lastIndex = at;
      const l = re.exec(body);
      if (!l) throw new Error(`bad labels in: ${line}`);
      labels[l[1] as string] = (l[2] as string).replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c));
      at = re.lastIndex;
    }
    const raw = m[3] as string;
    const value = raw === '+Inf' ? Infinity : raw === '-Inf' ? -Infinity : Number(raw);
    if (Number.isNaN(value) && raw !== 'NaN') throw new Error(`bad value in: ${line}`);
    samples.push({ name: m[1] as string, labels, value });
  }
  return { samples, types, helps };
}

/** The samples of one metric whose labels include `match`. */
export function pick(
  samples: ParsedSample[],
  name: string,
  match: Record<string, string> = {},
): ParsedSample[] {
  return samples.filter(
    (s) => s.name === name && Object.entries(match).every(([k, v]) => (s.labels[k] ?? '') === v),
  );
}

/** Debian's binaries (package `prometheus`); .ci/run installs it. */
export const PROMTOOL = '/usr/bin/promtool';
export const PROMETHEUS = '/usr/bin/prometheus';

/** Fails with the install hint when a binary is missing (never skips). */
export function requireBinary(path: string): void {
  if (!existsSync(path))
    throw new Error(`${path} is missing: install Debian's prometheus package (apt-get install prometheus)`);
}

/** Runs promtool with arguments; returns its exit code and output. */
export function promtool(args: string[], cwd?: string): { code: number; output: string } {
  requireBinary(PROMTOOL);
  const r = spawnSync(PROMTOOL, args, { cwd, encoding: 'utf8', timeout: 120_000 });
  return { code: r.status ?? -1, output: `${r.stdout ?? ''}${r.stderr ?? ''}` };
}
