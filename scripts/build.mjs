// Bundles every function of scripts/lib/functions.mjs with esbuild into dist/<bundle>/index.mjs; extract gets one
// bundle per exchange holding only that exchange's ccxt class. Prints each bundle's size.
// Usage: node scripts/build.mjs [--exchanges=a,b] [--all-ccxt] [--outdir=dist]
import { cpSync, statSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { exchangeIds } from './lib/exchanges.mjs';
import { FUNCTIONS, bundlesOf, entryOf } from './lib/functions.mjs';

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

async function bundle(name, fn, plugins) {
  const outfile = join(outdir, name, 'index.mjs');
  mkdirSync(dirname(outfile), { recursive: true });
  // The function module is imported inside startOrExit so that a configuration error is one clear line.
  const entry = [
    `import { serve, startOrExit } from ${JSON.stringify(join(root, 'shared/http/serve.ts'))};`,
    `await startOrExit(async () => {`,
    `  await import(${JSON.stringify(entryOf(fn))});`,
    `  serve(${JSON.stringify(fn.name)});`,
    `});`,
  ].join('\n');
  await build({
    stdin: { contents: entry, resolveDir: root, sourcefile: `${name}-entry.ts`, loader: 'ts' },
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'esm',
    outfile,
    minify: true,
    keepNames: true,
    sourcemap: false,
    legalComments: 'none',
    logLevel: 'warning',
    // undici is imported lazily by ccxt inside a try/catch; the client supplies its own fetch, so it is never needed.
    external: ['undici'],
    banner: {
      js: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);",
    },
    plugins,
  });
  return { name, bytes: statSync(outfile).size, outfile };
}

async function main() {
  const results = [];
  const allCcxt = process.argv.includes('--all-ccxt');
  const ids = listedExchanges();
  for (const fn of FUNCTIONS) {
    if (fn.perExchange) {
      for (const [i, name] of bundlesOf(fn, ids).entries())
        results.push(await bundle(name, fn, [oneExchange(ids[i])]));
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
