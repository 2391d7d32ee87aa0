// What every benchmark records beside its figures: the machine and the date; and where results go.
import { writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { join } from 'node:path';

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
