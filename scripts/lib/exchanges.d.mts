// Types of exchanges.mjs (plain JavaScript, so that scripts/build.mjs runs with node alone).

/** One deployed exchange and the symbols its schedules ask for. */
export interface ExchangeLine {
  id: string;
  symbols: string[];
}

/** knative/exchanges.txt of this checkout. */
export declare const EXCHANGES_FILE: string;

/** Parses the text of knative/exchanges.txt; `name` is how errors name the file. */
export declare function parseExchanges(text: string, name?: string): ExchangeLine[];

/** Reads and parses knative/exchanges.txt (or `file`). */
export declare function readExchanges(file?: string): ExchangeLine[];

/** The ids of the deployed exchanges, in the file's order. */
export declare function exchangeIds(file?: string): string[];
