// Runs one function as its own HTTP server from source, the way its bundle runs in a container, but on 127.0.0.1.
// Usage: tsx scripts/serve-function.ts <function> [--host=127.0.0.1] (settings from the environment, PORT included)
import { pathToFileURL } from 'node:url';
import { startOrExit } from '../shared/errors.ts';
import { serve } from '../shared/http/serve.ts';
import { FUNCTIONS, entryOf, functionNamed } from './lib/functions.mjs';

const [name = '', ...rest] = process.argv.slice(2);
const fn = functionNamed(name);
if (!fn) {
  process.stderr.write(`unknown function '${name}'; one of: ${FUNCTIONS.map((f) => f.name).join(', ')}\n`);
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
  await import(pathToFileURL(entryOf(fn)).href);
  serve(name, undefined, host);
});
