// Registers the extract function from the environment (settings, log level, secrets, client, cursor store), and
// prepares what does not depend on it ahead of a startup snapshot.
import { loadExtractConfig, loadTelemetryConfig } from '../../shared/config.ts';
import { startTelemetry } from '../../shared/telemetry/index.ts';
import { registerFunction } from '../../shared/http/server.ts';
import { prepareExchange } from '../../shared/exchange/ccxt.ts';
import { exchangeIds } from '../../shared/exchange/profile.ts';
import { getClient } from '../../shared/exchange/client.ts';
import { NoCursorStore, S3CursorStore } from '../../shared/lake/cursors.ts';
import { registerSecret, setLogLevel } from '../../shared/log.ts';
import { extractRequestSchema } from '../../shared/events/schemas.ts';
import { createExtractHandler } from './handler.ts';

/**
 * Reads the settings from `env` and registers the handler as `extract`. Nothing here runs when the module is
 * imported, so that a startup snapshot can hold every module while the settings are read when the pod starts.
 */
export function startExtract(env: NodeJS.ProcessEnv = process.env): void {
  const cfg = loadExtractConfig(env, exchangeIds());
  setLogLevel(cfg.logLevel);
  startTelemetry(loadTelemetryConfig(env, 'extract'));
  registerSecret(cfg.s3.secretAccessKey);
  registerFunction(
    'extract',
    createExtractHandler(cfg, {
      client: getClient(cfg),
      cursors: cfg.cursorStore === 's3' ? new S3CursorStore(cfg.s3, cfg.s3.bucket) : new NoCursorStore(),
      now: () => Date.now(),
    }),
    { maxBodyBytes: cfg.maxBodyBytes },
  );
}

/**
 * Work that does not depend on the environment, done when the startup snapshot is built so that the snapshot holds
 * its result: the ccxt instance of each exchange of the bundle (one in a per-exchange bundle), which the client of
 * startExtract then takes; and one parse of a sample environment and of a sample request, after which zod's schemas
 * hold their compiled parsers (zod compiles an object schema's parser on its first parse). Nothing is registered.
 */
export function prepareExtract(): void {
  for (const id of exchangeIds()) {
    prepareExchange(id);
    loadExtractConfig({ EXCHANGE: id, K_SINK: 'http://127.0.0.1:9/', CURSOR_STORE: 'none' }, exchangeIds());
  }
  extractRequestSchema.parse({
    datasets: ['ohlcv'],
    symbols: ['BTC/USDT'],
    timeframe: '1m',
    lookback: 'PT1H',
  });
}
