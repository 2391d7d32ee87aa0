// What every benchmark records beside its figures: the machine and the date; and where results go.
import { readFileSync, writeFileSync } from 'node:fs';
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
