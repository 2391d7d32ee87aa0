// Runs one function as its own HTTP server from source, the way its bundle runs in a container, but on 127.0.0.1.
// Usage: tsx scripts/serve-function.ts <function> [--host=127.0.0.1] (settings from the environment, PORT included)
import { serve, startOrExit } from '../shared/http/serve.ts';

const FUNCTIONS: Record<string, () => Promise<unknown>> = {
  extract: () => import('../functions/extract/index.ts'),
  'load-raw': () => import('../functions/load-raw/index.ts'),
  transform: () => import('../functions/transform/index.ts'),
  'dead-letter': () => import('../functions/dead-letter/index.ts'),
  status: () => import('../functions/status/index.ts'),
};

const [name = '', ...rest] = process.argv.slice(2);
const load = FUNCTIONS[name];
if (!load) {
  process.stderr.write(`unknown function '${name}'; one of: ${Object.keys(FUNCTIONS).join(', ')}\n`);
  process.exit(64);
}
// A function run from source is a developer's: it answers this machine only unless told otherwise.
const hostFlag = rest.find((a) => a.startsWith('--host='));
const host = hostFlag ? hostFlag.slice('--host='.length) : '127.0.0.1';
if (rest.some((a) => a !== hostFlag) || host === '') {
  process.stderr.write(`usage: tsx scripts/serve-function.ts <function> [--host=127.0.0.1]\n`);
  process.exit(64);
}
await startOrExit(async () => {
  await load();
  serve(name, undefined, host);
});
