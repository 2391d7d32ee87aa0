// Runs an operator command from one esbuild bundle and V8's code cache of it, instead of compiling its TypeScript files
// (1.3 s of CPU) or even its bundle (0.1 s) on every start. Bundle and cache live in node_modules/.cache/crypto-ops/;
// the bundle is built again when a project file it was built from or the installed packages changed, the cache when
// V8 refuses it (another node, other flags). Usage: node scripts/run.mjs <command> [args...]
import { isAscii } from 'node:buffer';
import {
  existsSync,
  mkdirSync,
  readFileSync,
  readdirSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve, sep } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Script } from 'node:vm';
import { zodEnglishOnly } from './lib/zod-english.mjs';

const root = resolve(import.meta.dirname, '..');
const [command, ...args] = process.argv.slice(2);
if (!command || !/^[a-z-]+$/.test(command) || !existsSync(join(root, 'scripts', `${command}.ts`))) {
  console.error(`run: no operator command '${command ?? ''}' in scripts/`);
  process.exit(64);
}
const modules = join(root, 'node_modules');
// CRYPTO_OPS_CACHE: another directory for them (node_modules read-only).
const cache = process.env['CRYPTO_OPS_CACHE']
  ? resolve(process.env['CRYPTO_OPS_CACHE'])
  : join(modules, '.cache', 'crypto-ops');
const out = join(cache, `${command}.cjs`);
const inputsFile = `${out}.inputs.json`;
/** What npm writes on every install: one file standing for every package the bundle took from node_modules. */
const installed = join(modules, '.package-lock.json');

/**
 * The build of the bundle when it exists and none of the files it was built from changed since. V8 checks a code
 * cache against its source's length only, so each build's cache is named by the build, never reused by the next.
 */
function currentBuild() {
  if (!existsSync(inputsFile) || !existsSync(out)) return undefined;
  const { build, files = {} } = JSON.parse(readFileSync(inputsFile, 'utf8'));
  const same = Object.entries(files).every(
    ([file, mtime]) => statSync(file, { throwIfNoEntry: false })?.mtimeMs === mtime,
  );
  return same ? build : undefined;
}

let build = currentBuild();
if (build === undefined) {
  const esbuild = await import('esbuild');
  mkdirSync(cache, { recursive: true });
  build = `${Date.now().toString(36)}-${process.pid}`;
  // Written beside and renamed into place: a command starting meanwhile reads the old bundle or the new, whole.
  const tmp = `${out}.${build}.tmp`;
  const result = await esbuild.build({
    entryPoints: [join(root, 'scripts', `${command}.ts`)],
    bundle: true,
    platform: 'node',
    // A classic script, so that V8 can cache its compiled code (node 20 caches no ES module's).
    format: 'cjs',
    target: 'node20',
    outfile: tmp,
    metafile: true,
    logLevel: 'warning',
    plugins: [zodEnglishOnly],
    define: { 'import.meta.url': '__importMetaUrl', 'import.meta.dirname': '__importMetaDirname' },
  });
  // Inputs a plugin made (`namespace:path`) are stood for by the files they name, which are inputs too.
  const files = Object.keys(result.metafile.inputs)
    .filter((f) => !/^[a-z-]+:/.test(f))
    .map((f) => resolve(root, f));
  // Packages are stood for by the install's lockfile when npm wrote one; the project's files each by itself.
  const watched = existsSync(installed)
    ? [...files.filter((f) => !f.startsWith(modules + sep)), installed]
    : files;
  for (const f of readdirSync(cache))
    if (f.startsWith(`${command}.cjs.`) && f.endsWith('.v8')) rmSync(join(cache, f), { force: true });
  renameSync(tmp, out);
  writeFileSync(
    inputsFile,
    JSON.stringify({ build, files: Object.fromEntries(watched.map((f) => [f, statSync(f).mtimeMs])) }),
  );
}
const codeCacheFile = `${out}.${build}.v8`;

const bytes = readFileSync(out);
const cached = existsSync(codeCacheFile) ? readFileSync(codeCacheFile) : undefined;
// The wrapper opens on the bundle's first line, so stack traces give the bundle's line numbers. esbuild writes ASCII,
// which V8 holds as one byte a character.
const script = new Script(
  '(function (exports, require, module, __filename, __dirname, __importMetaUrl, __importMetaDirname) {' +
    bytes.toString(isAscii(bytes) ? 'latin1' : 'utf8') +
    '\n})',
  { filename: out, ...(cached ? { cachedData: cached } : {}) },
);
if (!cached || script.cachedDataRejected) {
  // At exit the cache also holds every function the command compiled on its way, not just the top level.
  process.once('exit', () => {
    const tmp = `${codeCacheFile}.${process.pid}`;
    try {
      writeFileSync(tmp, script.createCachedData());
      renameSync(tmp, codeCacheFile);
    } catch {
      // A cache that cannot be written (a read-only install) only means compiling again next time.
      rmSync(tmp, { force: true });
    }
  });
}
// The command sees itself as the script being run (its `import.meta.url === file://argv[1]` check) with its own args.
process.argv = [process.argv[0] ?? 'node', out, ...args];
const module = { exports: {} };
script.runInThisContext()(
  module.exports,
  createRequire(out),
  module,
  out,
  dirname(out),
  pathToFileURL(out).href,
  dirname(out),
);
