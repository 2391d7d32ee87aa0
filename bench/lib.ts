// What every benchmark shares: the machine and the date beside its figures, where results go, processes under
// measurement (start, peak RSS), load drivers and a counting sink.
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { cpus, totalmem } from 'node:os';
import { join } from 'node:path';
import { commandOf, functionNamed } from '../scripts/lib/functions.mjs';

/** The machine a figure was measured on. */
export function machine() {
  return {
    cpus: cpus().length,
    cpu: cpus()[0]?.model,
    memGiB: Math.round(totalmem() / 2 ** 30),
    node: process.version,
  };
}

/** Prints a result and writes it to bench/results/<name>.json with the date and the machine. */
export function writeResult(name: string, figures: Record<string, unknown>): void {
  const result = { benchmark: name, date: new Date().toISOString(), machine: machine(), ...figures };
  console.log(JSON.stringify(result, null, 2));
  writeFileSync(join(import.meta.dirname, 'results', `${name}.json`), JSON.stringify(result, null, 2) + '\n');
}

/**
 * The NODE_OPTIONS the image sets (the Dockerfile's runtime ENV), so that a bundle here runs with the heap limits it
 * has in its pod; BENCH_NODE_OPTIONS overrides them to compare settings.
 */
export function imageNodeOptions(): string {
  const override = process.env['BENCH_NODE_OPTIONS'];
  if (override !== undefined) return override;
  const dockerfile = readFileSync(join(import.meta.dirname, '..', 'Dockerfile'), 'utf8');
  return /^ENV\b.*\bNODE_OPTIONS="([^"]*)"/m.exec(dockerfile)?.[1] ?? '';
}

/**
 * node's arguments that start `bundle` of the build in `dist` as its Knative Service does (the startup snapshot for
 * extract, index.mjs for the others): the command of scripts/lib/functions.mjs with /app/ read as `dist`.
 */
export function bundleArgs(dist: string, bundle: string): string[] {
  const fn = functionNamed(bundle.startsWith('extract-') ? 'extract' : bundle);
  if (!fn) throw new Error(`no function for the bundle '${bundle}'`);
  return commandOf(fn, bundle)
    .slice(1)
    .map((a) => a.replace('/app/', `${dist}/`));
}

/** The p-th percentile of `xs` (nearest rank). */
export const pct = (xs: number[], p: number) =>
  [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))] as number;

/**
 * Runs `jobs` with `concurrency` workers: requests, non-2xx answers, requests/s, p50 and p99 latency in ms. A job
 * answers an HTTP Response (its body is read) or only whether it succeeded.
 */
export async function drive(concurrency: number, jobs: Array<() => Promise<Response | { ok: boolean }>>) {
  const latencies: number[] = [];
  let errors = 0;
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < jobs.length) {
        const job = jobs[next++]!;
        const t = performance.now();
        const res = await job();
        if (res instanceof Response) await res.arrayBuffer();
        if (!res.ok) errors += 1;
        latencies.push(performance.now() - t);
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  return {
    concurrency,
    requests: jobs.length,
    errors,
    perSec: Math.round(jobs.length / seconds),
    p50Ms: Math.round(pct(latencies, 50)),
    p99Ms: Math.round(pct(latencies, 99)),
  };
}

/** An HTTP sink that accepts every event (202) and counts them: K_SINK for an extract under benchmark. */
export async function countingSink(): Promise<{
  url: string;
  received: () => number;
  close: () => Promise<void>;
}> {
  let received = 0;
  const server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      received += 1;
      res.writeHead(202).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/`,
    received: () => received,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

/** Processes a benchmark started (killed at its end). */
export const children: ChildProcess[] = [];

/** Peak and current resident memory of a process, from /proc, in MiB. */
export function memory(pid: number): { peakMiB: number; rssMiB: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kib = (name: string) => Number(new RegExp(`${name}:\\s+(\\d+) kB`).exec(status)?.[1] ?? 0);
  return { peakMiB: Math.round(kib('VmHWM') / 102.4) / 10, rssMiB: Math.round(kib('VmRSS') / 102.4) / 10 };
}

/** Resets a process's peak resident memory (VmHWM) to its current RSS, so that each load step has its own peak. */
export function resetPeak(pid: number): void {
  writeFileSync(`/proc/${pid}/clear_refs`, '5');
}

/** Runs one load step against process `pid` and adds that step's peak RSS to its figures. */
export async function step<T extends object>(
  pid: number,
  run: () => Promise<T>,
): Promise<T & { peakMiB: number }> {
  resetPeak(pid);
  const row = await run();
  return { ...row, peakMiB: memory(pid).peakMiB };
}

export async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const { port } = s.address() as AddressInfo;
  await new Promise((r) => s.close(r));
  return port;
}

/** Starts a process (with the image's heap flags unless `env` sets NODE_OPTIONS) and waits until `url` answers. */
export async function start(args: string[], env: Record<string, string>, url: string): Promise<ChildProcess> {
  const child = spawn(process.execPath, args, {
    env: {
      PATH: process.env['PATH'] ?? '',
      LOG_LEVEL: 'ERROR',
      NODE_OPTIONS: imageNodeOptions(),
      AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
      ...env,
    },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  children.push(child);
  for (let i = 0; i < 300; i++) {
    if (child.exitCode !== null) throw new Error(`${args.join(' ')} exited with ${child.exitCode}`);
    try {
      await (await fetch(url)).arrayBuffer();
      return child;
    } catch {
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  throw new Error(`${args.join(' ')} did not answer on ${url}`);
}
