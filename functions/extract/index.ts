// Entry of the extract function: settings from the environment, then the handler registered as `extract`.
import { loadExtractConfig, loadTelemetryConfig } from '../../shared/config.ts';
import { registerFunction } from '../../shared/http/server.ts';
import { startTelemetry } from '../../shared/telemetry/index.ts';
import { exchangeIds } from '../../shared/exchange/profile.ts';
import { getClient } from '../../shared/exchange/client.ts';
import { NoCursorStore, S3CursorStore } from '../../shared/lake/cursors.ts';
import { registerSecret, setLogLevel } from '../../shared/log.ts';
import { createExtractHandler } from './handler.ts';

const cfg = loadExtractConfig(process.env, exchangeIds());
setLogLevel(cfg.logLevel);
startTelemetry(loadTelemetryConfig(process.env, 'extract'));
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
