// The local run as a process: loopback only, a second instance refused in one line, SIGTERM or SIGINT to `npm start`
// stops every child (functions and PostgreSQL) and frees every port, with one line.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { networkInterfaces, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { portFree } from '../../scripts/local/ports.ts';

const root = resolve(import.meta.dirname, '../..');
let stateDir: string;
let ports: { functions: number; broker: number; s3: number; pg: number };

/** A block of free loopback ports: 4 functions (no exchange), then Broker, S3 and PostgreSQL. */
async function freeBlock(): Promise<number> {
  for (let base = 20_000 + Math.floor(Math.random() * 20_000); ; base += 17) {
    const all = await Promise.all(Array.from({ length: 7 }, (_, i) => portFree(base + i)));
    if (all.every(Boolean)) return base;
  }
}

beforeAll(async () => {
  stateDir = mkdtempSync(join(tmpdir(), 'start-run-'));
  const base = await freeBlock();
  ports = { functions: base, broker: base + 4, s3: base + 5, pg: base + 6 };
});
afterAll(() => rmSync(stateDir, { recursive: true, force: true }));

const args = () => [
  'start',
  '--',
  '--exchanges=',
  `--port=${ports.functions}`,
  `--broker-port=${ports.broker}`,
  `--s3-port=${ports.s3}`,
  `--pg-port=${ports.pg}`,
  `--state-dir=${stateDir}`,
];

/** `npm start` with embedded services (no DATABASE_URL or S3_ENDPOINT from this environment). */
function npmStart(): { child: ChildProcess; output: () => string; exited: Promise<number | null> } {
  const env = { ...process.env };
  delete env['DATABASE_URL'];
  delete env['S3_ENDPOINT'];
  const child = spawn('npm', args(), { cwd: root, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.on('data', (b: Buffer) => (out += b.toString()));
  child.stderr!.on('data', (b: Buffer) => (out += b.toString()));
  const exited = new Promise<number | null>((done) => child.on('exit', (code) => done(code)));
  return { child, output: () => out, exited };
}

async function until(what: string, test: () => boolean, ms = 60_000): Promise<void> {
  for (const start = Date.now(); !test(); await new Promise((r) => setTimeout(r, 100)))
    if (Date.now() - start > ms) throw new Error(`timed out waiting for ${what}`);
}

/** Every process below `pid`, from /proc. */
function descendants(pid: number): number[] {
  const parent = new Map<number, number>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      parent.set(Number(entry), Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]));
    } catch {
      // the process ended while listing
    }
  }
  const below: number[] = [];
  for (let frontier = [pid]; frontier.length > 0;) {
    frontier = [...parent].filter(([, ppid]) => frontier.includes(ppid)).map(([p]) => p);
    below.push(...frontier);
  }
  return below;
}

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

/** Resolves true when a TCP connection to host:port is accepted. */
const accepts = (host: string, port: number) =>
  new Promise<boolean>((done) => {
    const socket = connect({ host, port }, () => {
      socket.destroy();
      done(true);
    });
    socket.on('error', () => done(false));
  });

describe('npm start', () => {
  for (const signal of ['SIGTERM', 'SIGINT'] as const)
    it(`stops every child and frees every port on ${signal} to the npm process`, async () => {
      const run = npmStart();
      await until('the local run to start', () => run.output().includes('schedules run on their crons'));
      const children = descendants(run.child.pid!);
      expect(children.length).toBeGreaterThanOrEqual(6); // start, 4 functions, PostgreSQL (and its workers)

      if (signal === 'SIGTERM') {
        // Loopback only: not on this machine's other addresses.
        const external = Object.values(networkInterfaces())
          .flat()
          .find((a) => a && a.family === 'IPv4' && !a.internal);
        expect(await accepts('127.0.0.1', ports.functions)).toBe(true);
        if (external) expect(await accepts(external.address, ports.functions)).toBe(false);

        // A second instance on the same ports says so in one line and starts nothing.
        const second = npmStart();
        expect(await second.exited).not.toBe(0);
        const said = second
          .output()
          .split('\n')
          .filter((l) => l.trim() !== '' && !l.startsWith('>'));
        expect(said).toHaveLength(1);
        expect(said[0]).toMatch(/^ports already in use on 127\.0\.0\.1: .*another npm start running/);
      }

      run.child.kill(signal);
      await run.exited;
      await until('every child to exit', () => children.every((pid) => !alive(pid)), 30_000);
      await until('the shutdown line', () => /stopped \d+ function\(s\)/.test(run.output()), 5_000);
      expect(run.output().match(/stopped \d+ function\(s\)/g)).toHaveLength(1);
      const free = await Promise.all(
        [0, 1, 2, 3]
          .map((i) => ports.functions + i)
          .concat([ports.broker, ports.s3, ports.pg])
          .map(portFree),
      );
      expect(free.every(Boolean)).toBe(true);
    }, 90_000);
});
