// Reads knative/exchanges.txt, the one list of deployed exchanges: per line a ccxt id and the symbols it extracts.
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** knative/exchanges.txt of this checkout. */
export const EXCHANGES_FILE = join(
  resolve(dirname(fileURLToPath(import.meta.url)), '../..'),
  'knative/exchanges.txt',
);

/**
 * Parses the text of knative/exchanges.txt: `#` starts a comment, blank lines are skipped, each other line is a ccxt
 * id and optionally its symbols, comma-separated. An id that is not a ccxt id, or one listed twice, is an error.
 * @param {string} text
 * @param {string} [name] how errors name the file
 * @returns {import('./exchanges.d.mts').ExchangeLine[]}
 */
export function parseExchanges(text, name = 'knative/exchanges.txt') {
  const seen = new Set();
  return text
    .split('\n')
    .map((l) => l.replace(/#.*/, '').trim())
    .filter(Boolean)
    .map((l) => {
      const [id = '', symbols = ''] = l.split(/\s+/);
      if (!/^[a-z0-9]+$/.test(id)) throw new Error(`${name}: '${id}' is not a ccxt exchange id`);
      if (seen.has(id)) throw new Error(`${name}: '${id}' is listed twice`);
      seen.add(id);
      return { id, symbols: symbols.split(',').filter(Boolean) };
    });
}

/**
 * Reads and parses knative/exchanges.txt (or `file`).
 * @param {string} [file]
 * @returns {import('./exchanges.d.mts').ExchangeLine[]}
 */
export function readExchanges(file = EXCHANGES_FILE) {
  return parseExchanges(readFileSync(file, 'utf8'), file === EXCHANGES_FILE ? undefined : file);
}

/**
 * The ids of the deployed exchanges, in the file's order.
 * @param {string} [file]
 * @returns {string[]}
 */
export function exchangeIds(file = EXCHANGES_FILE) {
  return readExchanges(file).map((x) => x.id);
}
