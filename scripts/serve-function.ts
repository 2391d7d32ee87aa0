// Runs one function as its own HTTP server from source, the way its bundle runs in a container.
// Usage: tsx scripts/serve-function.ts <function> (settings from the environment, PORT included)
import { serve, startOrExit } from '../shared/http/serve.ts';

const FUNCTIONS: Record<string, () => Promise<unknown>> = {
  extract: () => import('../functions/extract/index.ts'),
  'load-raw': () => import('../functions/load-raw/index.ts'),
  transform: () => import('../functions/transform/index.ts'),
  'dead-letter': () => import('../functions/dead-letter/index.ts'),
  status: () => import('../functions/status/index.ts'),
};

const name = process.argv[2] ?? '';
const load = FUNCTIONS[name];
if (!load) {
  process.stderr.write(`unknown function '${name}'; one of: ${Object.keys(FUNCTIONS).join(', ')}\n`);
  process.exit(64);
}
await startOrExit(async () => {
  await load();
  serve(name);
});
