// Builds an extract function wired to a fake exchange and a test sink, served through the Functions Framework.
import type { Server } from 'node:http';
import { createExtractHandler } from '../../functions/extract/handler.ts';
import { loadExtractConfig, type ExtractConfig } from '../../shared/config.ts';
import { functionServer, registerFunction } from '../../shared/http/server.ts';
import { ExchangeClient } from '../../shared/exchange/client.ts';
import type { CursorStore } from '../../shared/lake/cursors.ts';
import { MemoryCursorStore } from './cursors.ts';

let seq = 0;

/** A wired extract function; `now` can be moved between requests. */
export interface ExtractUnderTest {
  cfg: ExtractConfig;
  client: ExchangeClient;
  cursors: CursorStore;
  server: Server;
  clock: { now: number };
}

/** Registers a fresh extract function for `exchange` and returns its test server. */
export function extractUnderTest(opts: {
  exchange: string;
  apiBaseUrl: string;
  sinkUrl: string;
  now: number;
  env?: Record<string, string>;
  cursors?: CursorStore;
}): ExtractUnderTest {
  const cfg = loadExtractConfig({
    EXCHANGE: opts.exchange,
    K_SINK: opts.sinkUrl,
    EXCHANGE_API_BASE_URL: opts.apiBaseUrl,
    RETRY_BASE_DELAY_MS: '5',
    RETRY_WINDOW_MS: '3000',
    SINK_RETRIES: '1',
    ...opts.env,
  });
  const clock = { now: opts.now };
  const client = new ExchangeClient(cfg);
  const cursors = opts.cursors ?? new MemoryCursorStore();
  const name = `extract-test-${++seq}`;
  registerFunction(name, createExtractHandler(cfg, { client, cursors, now: () => clock.now }), {
    maxBodyBytes: cfg.maxBodyBytes,
  });
  return { cfg, client, cursors, server: functionServer(name), clock };
}
