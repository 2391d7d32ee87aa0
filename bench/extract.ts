// Benchmark: extract cold start (spawn to the first 200 answer on GET /), side by side in one run: a minimal node:http
// server started the same way (the reference), each per-exchange bundle run by plain node, and the same bundle from
// its startup snapshot (what the image runs), and on a node that has it (22+), the plain bundle with its compile cache;
// RSS after start, bundle and snapshot sizes, and what the bundles hold (esbuild's metafile).
// Writes bench/results/extract.json (BENCH_NODE set: extract-<node major>.json).
// Usage: npm run bench:extract   (RUNS=15 by default; BENCH_NODE=/path/to/node builds and starts with another node)
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { imageNodeOptions, memory, pct, writeResult } from './lib.ts';

const root = join(import.meta.dirname, '..');
const RUNS = Number(process.env['RUNS'] ?? 15);
const EXCHANGES = ['binance', 'bybit', 'okx'];
const GOAL_MS = 100;
const GOAL_RATIO = 2;
/** The node that builds the snapshots and runs every start (the image's node, when given). */
const NODE = process.env['BENCH_NODE'] ?? process.execPath;

/** The reference: the smallest server that answers GET / with 200, node:http and nothing else. */
const BARE_SERVER = `import { createServer } from 'node:http';
createServer((req, res) => res.end('ok')).listen(Number(process.env.PORT));
`;

interface Start {
  ms: number;
  /** CPU time of the process (user + system, all threads) when it answered: less moved by a busy machine. */
  cpuMs: number;
  rssMiB: number;
}

/** User + system CPU time of a process so far, from /proc (in clock ticks of 10 ms). */
function cpuMs(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

/** Spawns `args` with node, polls GET / until it answers 200; ms from spawn to that answer and the RSS then. */
async function coldStart(
  args: string[],
  exchange: string,
  port: number,
  extraEnv: Record<string, string> = {},
  stop: NodeJS.Signals = 'SIGKILL',
): Promise<Start> {
  const started = performance.now();
  const child = spawn(NODE, args, {
    env: {
      ...extraEnv,
      PATH: process.env['PATH'] ?? '',
      PORT: String(port),
      EXCHANGE: exchange,
      K_SINK: 'http://127.0.0.1:9/',
      CURSOR_STORE: 'none',
      LOG_LEVEL: 'ERROR',
      AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
      NODE_OPTIONS: imageNodeOptions(),
    },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
  try {
    for (;;) {
      if (child.exitCode !== null)
        throw new Error(`${args.join(' ')} exited with ${child.exitCode}: ${stderr}`);
      try {
        const res = await fetch(`http://127.0.0.1:${port}/`);
        await res.arrayBuffer();
        if (res.status === 200) break;
        throw new Error(`${args.join(' ')} answered GET / with ${res.status}`);
      } catch (err) {
        if (err instanceof Error && err.message.includes('answered GET /')) throw err;
        await new Promise((r) => setTimeout(r, 2));
      }
    }
    const ms = performance.now() - started;
    return { ms, cpuMs: cpuMs(child.pid!), rssMiB: memory(child.pid!).rssMiB };
  } finally {
    child.kill(stop);
    if (child.exitCode === null && child.signalCode === null) await new Promise((r) => child.once('exit', r));
  }
}

const round = (x: number, digits = 0) => Math.round(x * 10 ** digits) / 10 ** digits;
const mib = (bytes: number) => round(bytes / 2 ** 20, 2);

/** Median, p95 and median RSS of a series of starts. */
function figures(xs: Start[]) {
  const ms = xs.map((x) => x.ms);
  return {
    medianMs: round(pct(ms, 50), 1),
    p95Ms: round(pct(ms, 95), 1),
    minMs: round(Math.min(...ms), 1),
    medianCpuMs: pct(
      xs.map((x) => x.cpuMs),
      50,
    ),
    rssMiB: pct(
      xs.map((x) => x.rssMiB),
      50,
    ),
  };
}

/** What an input file of a bundle belongs to: an npm package, a part of ccxt, or this project. */
function owner(input: string): string {
  const ccxt =
    /node_modules\/ccxt\/js\/src\/(?:(base|static_dependencies|protobuf)\/([^/]+)?|abstract\/|[^/]+\.js$)/.exec(
      input,
    );
  if (ccxt) {
    if (ccxt[1] === 'base') return 'ccxt/base (the Exchange base class, precise, throttler, crypto helpers)';
    if (ccxt[1] === 'static_dependencies') return `ccxt/static_dependencies/${ccxt[2]}`;
    if (ccxt[1] === 'protobuf')
      return `ccxt/protobuf/${ccxt[2]} (imported by ccxt's base class, used by ${ccxt[2]} only)`;
    return "ccxt: the exchange's own class and API table";
  }
  const pkg = /.*node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(input);
  if (pkg) return pkg[1]!;
  if (/^(shared|functions)\//.test(input)) return 'this project (shared/, functions/)';
  return input;
}

interface Metafile {
  outputs: Record<string, { inputs: Record<string, { bytesInOutput: number }> }>;
}

/**
 * What the bundles hold, from esbuild's metafiles: the bytes every bundle shares (the same input file in each),
 * grouped by package, and the bytes of each exchange's own part.
 */
function composition(out: string) {
  const inputs = EXCHANGES.map((ex) => {
    const meta = JSON.parse(readFileSync(join(out, `extract-${ex}.meta.json`), 'utf8')) as Metafile;
    const all = new Map<string, number>();
    for (const o of Object.values(meta.outputs))
      for (const [file, { bytesInOutput }] of Object.entries(o.inputs)) all.set(file, bytesInOutput);
    return { ex, all };
  });
  const shared = [...inputs[0]!.all.keys()].filter((f) => inputs.every((i) => i.all.has(f)));
  const groups = new Map<string, number>();
  for (const f of shared) groups.set(owner(f), (groups.get(owner(f)) ?? 0) + inputs[0]!.all.get(f)!);
  const sharedBytes = [...groups.values()].reduce((a, b) => a + b, 0);
  return {
    sharedMiB: mib(sharedBytes),
    sharedByPackage: [...groups.entries()]
      .sort((a, b) => b[1] - a[1])
      .filter(([, bytes]) => bytes >= 10 * 1024)
      .map(([what, bytes]) => ({
        what,
        KiB: Math.round(bytes / 1024),
        share: round(bytes / sharedBytes, 3),
      })),
    ownMiB: Object.fromEntries(
      inputs.map(({ ex, all }) => [
        ex,
        mib([...all.entries()].filter(([f]) => !shared.includes(f)).reduce((a, [, b]) => a + b, 0)),
      ]),
    ),
  };
}

async function main() {
  const out = mkdtempSync(join(tmpdir(), 'bench-bundles-'));
  try {
    // The build the image runs (scripts/build.mjs: bundles and their startup snapshots), with this node.
    execFileSync(
      NODE,
      ['scripts/build.mjs', `--exchanges=${EXCHANGES.join(',')}`, '--metafile', `--outdir=${out}`],
      { cwd: root, stdio: 'pipe', env: { ...process.env, NODE_OPTIONS: imageNodeOptions() } },
    );
    const bare = join(out, 'bare-server.mjs');
    writeFileSync(bare, BARE_SERVER);
    const nodeVersion = execFileSync(NODE, ['--version'], { encoding: 'utf8' }).trim();
    // Node 22+: the compile cache (module.enableCompileCache, NODE_COMPILE_CACHE) of the plain bundle, filled by one
    // start before the runs, as an image build would fill it.
    const compileCache =
      execFileSync(NODE, ['-p', 'typeof require("node:module").enableCompileCache'], {
        encoding: 'utf8',
      }).trim() === 'function';
    type Kind = 'snapshot' | 'plain' | 'compileCache';
    const kinds: Kind[] = ['snapshot', 'plain', ...(compileCache ? (['compileCache'] as const) : [])];
    const how = (kind: Kind, ex: string): { args: string[]; env?: Record<string, string> } =>
      kind === 'snapshot'
        ? { args: [`--snapshot-blob=${join(out, `extract-${ex}/snapshot.blob`)}`] }
        : kind === 'plain'
          ? { args: [join(out, `extract-${ex}/index.mjs`)] }
          : {
              args: [join(out, `extract-${ex}/index.mjs`)],
              env: { NODE_COMPILE_CACHE: join(out, `cache-${ex}`) },
            };
    // The compile cache is written when node exits: each bundle once, stopped with SIGTERM (serve exits cleanly).
    if (compileCache) {
      for (const ex of EXCHANGES) {
        const { args, env } = how('compileCache', ex);
        await coldStart(args, ex, 19390, env, 'SIGTERM');
      }
    }
    const bareStarts: Start[] = [];
    const starts = new Map<string, Start[]>();
    let port = 19400;
    // One warm-up round (page cache), then RUNS rounds; in each, per exchange, the bare server and
    // each way of starting the bundle, one after the other.
    for (let i = -1; i < RUNS; i++) {
      for (const ex of EXCHANGES) {
        const b = await coldStart([bare], ex, port++);
        if (i >= 0) bareStarts.push(b);
        for (const kind of kinds) {
          const { args, env } = how(kind, ex);
          const s = await coldStart(args, ex, port++, env);
          if (i >= 0) starts.set(`${kind} ${ex}`, [...(starts.get(`${kind} ${ex}`) ?? []), s]);
        }
      }
    }
    const reference = figures(bareStarts);
    const rows = EXCHANGES.map((ex) => {
      const snapshot = figures(starts.get(`snapshot ${ex}`)!);
      const plain = figures(starts.get(`plain ${ex}`)!);
      const cached = compileCache ? figures(starts.get(`compileCache ${ex}`)!) : undefined;
      const ratio = round(snapshot.medianMs / reference.medianMs, 2);
      return {
        exchange: ex,
        bundleMiB: mib(statSync(join(out, `extract-${ex}/index.mjs`)).size),
        snapshotBlobMiB: mib(statSync(join(out, `extract-${ex}/snapshot.blob`)).size),
        snapshot,
        plain,
        ...(cached ? { plainWithCompileCache: cached } : {}),
        snapshotToBareServer: ratio,
        plainToBareServer: round(plain.medianMs / reference.medianMs, 2),
        ...(cached ? { compileCacheToBareServer: round(cached.medianMs / reference.medianMs, 2) } : {}),
        snapshotToPlain: round(snapshot.medianMs / plain.medianMs, 2),
        snapshotCpuToBareServer: round(snapshot.medianCpuMs / reference.medianCpuMs, 2),
        met: snapshot.medianMs < GOAL_MS && ratio <= GOAL_RATIO,
      };
    });
    const met = rows.every((r) => r.met);
    writeResult(NODE === process.execPath ? 'extract' : `extract-node${/^v(\d+)/.exec(nodeVersion)?.[1]}`, {
      startedWith: nodeVersion,
      runs: RUNS,
      method:
        'spawn to the first 200 answer on GET / (polled every 2 ms), one process at a time; per round the bare ' +
        'server, then the snapshot, the plain bundle (and its compile cache on node 22+) of each exchange, with the ' +
        "image's NODE_OPTIONS, by the node of startedWith; median and p95 " +
        'of RUNS rounds after one warm-up round; medianCpuMs: CPU time of the process when it answered',
      reference: { bareNodeHttpServer: reference },
      rows,
      bundles: composition(out),
      goals: {
        coldStartMs: GOAL_MS,
        ratioToBareServer: GOAL_RATIO,
        of: 'snapshot median (what the image runs)',
      },
      met,
      verdict: rows
        .map(
          (r) =>
            `${r.exchange}: snapshot ${r.snapshot.medianMs} ms (p95 ${r.snapshot.p95Ms}), ` +
            `${r.snapshotToBareServer}x the bare server (${reference.medianMs} ms), ` +
            `plain bundle ${r.plain.medianMs} ms: ${r.met ? 'met' : 'not met'}`,
        )
        .join('; '),
    });
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
}

await main();
