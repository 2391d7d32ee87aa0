// Bundles every function of scripts/lib/functions.mjs with esbuild into dist/<bundle>/index.mjs; extract gets one
// bundle per exchange holding only that exchange's ccxt class, and a V8 startup snapshot of it (snapshot.blob, made by
// this node binary: the image builds it with the node it runs). Prints each bundle's size.
// Usage: node scripts/build.mjs [--exchanges=a,b] [--all-ccxt] [--outdir=dist] [--metafile]
//   --metafile: also writes esbuild's metafile of each bundle to <outdir>/<bundle>.meta.json (what a bundle holds)
import { execFileSync } from 'node:child_process';
import { cpSync, statSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { exchangeIds } from './lib/exchanges.mjs';
import { FUNCTIONS, bundlesOf, entryOf } from './lib/functions.mjs';
import { zodEnglishOnly } from './lib/zod-english.mjs';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const outArg = process.argv.find((a) => a.startsWith('--outdir='));
const outdir = outArg ? resolve(outArg.slice('--outdir='.length)) : join(root, 'dist');
const ccxtSrc = join(root, 'node_modules/ccxt/js/src');

/** Exchange ids from knative/exchanges.txt (the one list of deployed exchanges), or --exchanges. */
export function listedExchanges() {
  const arg = process.argv.find((a) => a.startsWith('--exchanges='));
  if (arg) return arg.slice('--exchanges='.length).split(',').filter(Boolean);
  return exchangeIds();
}

/** esbuild plugin: `import 'ccxt'` resolves to a module exporting one exchange class and ccxt's error classes. */
function oneExchange(id) {
  return {
    name: `ccxt-${id}`,
    setup(b) {
      b.onResolve({ filter: /^ccxt$/ }, () => ({ path: id, namespace: 'ccxt-one' }));
      b.onLoad({ filter: /.*/, namespace: 'ccxt-one' }, () => ({
        resolveDir: root,
        loader: 'js',
        contents: [
          `import cls from ${JSON.stringify(join(ccxtSrc, `${id}.js`))};`,
          `export * from ${JSON.stringify(join(ccxtSrc, 'base/errors.js'))};`,
          `export const exchanges = { ${JSON.stringify(id)}: cls };`,
        ].join('\n'),
      }));
    },
  };
}

/**
 * esbuild plugin for a startup snapshot's script: node:http and node:https are loaded when first used, not when the
 * script is evaluated. node cannot snapshot them (their HTTP parser binding holds a handle that V8 cannot serialize:
 * the build aborts), so the snapshot holds a stand-in whose properties load the real module at run time, in the main
 * function, where the server is created.
 */
const lazyHttp = {
  name: 'lazy-http',
  setup(b) {
    b.onResolve({ filter: /^(node:)?(https?|tls)$/ }, (args) => ({
      path: args.path.replace(/^node:/, ''),
      namespace: 'lazy-builtin',
    }));
    b.onLoad({ filter: /.*/, namespace: 'lazy-builtin' }, async (args) => {
      const name = `node:${args.path}`;
      const keys = Object.keys(await import(name)).filter((k) => k !== 'default');
      const props = keys.map(
        (k) => `${JSON.stringify(k)}: { enumerable: true, get: () => load()[${JSON.stringify(k)}] }`,
      );
      return {
        loader: 'js',
        contents: [
          `let real;`,
          `const load = () => (real ??= process.getBuiltinModule(${JSON.stringify(name)}));`,
          `module.exports = Object.defineProperties({}, { ${props.join(', ')} });`,
        ].join('\n'),
      };
    });
  },
};

const writeMetafile = process.argv.includes('--metafile');
const serveModule = JSON.stringify(join(root, 'shared/http/serve.ts'));
const errorsModule = JSON.stringify(join(root, 'shared/errors.ts'));

/** esbuild settings every bundle shares. */
const common = {
  bundle: true,
  platform: 'node',
  target: 'node20',
  minify: true,
  keepNames: true,
  sourcemap: false,
  legalComments: 'none',
  logLevel: 'warning',
  // undici is imported lazily by ccxt inside a try/catch; the client supplies its own fetch, so it is never needed.
  external: ['undici'],
};

async function bundle(name, fn, plugins) {
  const outfile = join(outdir, name, 'index.mjs');
  mkdirSync(dirname(outfile), { recursive: true });
  // The function module is imported inside startOrExit so that a configuration error is one clear line.
  const entry = [
    `import { serve } from ${serveModule};`,
    `import { startOrExit } from ${errorsModule};`,
    `await startOrExit(async () => {`,
    `  await import(${JSON.stringify(entryOf(fn))});`,
    `  serve(${JSON.stringify(fn.name)});`,
    `});`,
  ].join('\n');
  const result = await build({
    ...common,
    stdin: { contents: entry, resolveDir: root, sourcefile: `${name}-entry.ts`, loader: 'ts' },
    format: 'esm',
    outfile,
    metafile: writeMetafile,
    banner: {
      js: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);",
    },
    plugins: [...plugins, zodEnglishOnly],
  });
  if (writeMetafile) writeFileSync(join(outdir, `${name}.meta.json`), JSON.stringify(result.metafile));
  return { name, bytes: statSync(outfile).size, outfile };
}

/**
 * The startup snapshot of a bundle (functions with `snapshot` in the table): the same modules bundled as one
 * CommonJS script (what `node --build-snapshot` runs), evaluated at build time, the function's `prepare` run, and
 * V8's heap saved in <bundle>/snapshot.blob. At run time `node --snapshot-blob=<bundle>/snapshot.blob` deserializes
 * that heap and calls the main function, which reads the settings from the environment and listens: nothing that
 * depends on the pod (environment, sockets, timers) is in the snapshot. The blob only loads in the node binary that
 * made it.
 */
async function snapshot(name, fn, plugins) {
  const dir = join(outdir, name);
  const script = join(dir, 'snapshot-entry.cjs');
  const blob = join(dir, 'snapshot.blob');
  const entry = [
    `import { startupSnapshot } from 'node:v8';`,
    `import { serve } from ${serveModule};`,
    `import { startOrExit } from ${errorsModule};`,
    `import { ${fn.snapshot.start} as start, ${fn.snapshot.prepare} as prepare } from ${JSON.stringify(
      join(root, fn.snapshot.module),
    )};`,
    `prepare();`,
    `startupSnapshot.setDeserializeMainFunction(() => {`,
    `  void startOrExit(async () => {`,
    `    start(process.env);`,
    `    serve(${JSON.stringify(fn.name)});`,
    `  });`,
    `});`,
  ].join('\n');
  await build({
    ...common,
    stdin: { contents: entry, resolveDir: root, sourcefile: `${name}-snapshot.ts`, loader: 'ts' },
    format: 'cjs',
    outfile: script,
    plugins: [...plugins, zodEnglishOnly, lazyHttp],
  });
  try {
    execFileSync(process.execPath, ['--snapshot-blob', blob, '--build-snapshot', script], {
      cwd: dir,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
  } catch (err) {
    // The script stays for a look at what failed.
    throw new Error(`building the snapshot of ${name} from ${script} failed: ${String(err.stderr ?? err)}`, {
      cause: err,
    });
  }
  rmSync(script);
  return { name: `${name} (snapshot)`, bytes: statSync(blob).size, outfile: blob };
}

async function main() {
  const results = [];
  const allCcxt = process.argv.includes('--all-ccxt');
  const ids = listedExchanges();
  for (const fn of FUNCTIONS) {
    if (fn.perExchange) {
      for (const [i, name] of bundlesOf(fn, ids).entries()) {
        results.push(await bundle(name, fn, [oneExchange(ids[i])]));
        if (fn.snapshot) results.push(await snapshot(name, fn, [oneExchange(ids[i])]));
      }
      if (allCcxt) results.push(await bundle(`${fn.name}-all-ccxt`, fn, []));
    } else results.push(await bundle(fn.name, fn, []));
    for (const c of fn.copy ?? [])
      for (const name of bundlesOf(fn, ids))
        cpSync(join(root, c.from), join(outdir, name, c.to), { recursive: true });
  }
  const width = Math.max(...results.map((r) => r.name.length));
  for (const r of results)
    console.log(`${r.name.padEnd(width)}  ${(r.bytes / 1024 / 1024).toFixed(2)} MiB  ${r.outfile}`);
  writeFileSync(
    join(outdir, 'bundles.json'),
    JSON.stringify(
      results.map(({ name, bytes }) => ({ name, bytes })),
      null,
      2,
    ),
  );
}

await main();
