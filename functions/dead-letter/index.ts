// Entry of the dead-letter receiver: settings from the environment, then the handler registered as `dead-letter`.
import { loadCommonConfig, loadTelemetryConfig } from '../../shared/config.ts';
import { registerFunction } from '../../shared/http/server.ts';
import { startTelemetry } from '../../shared/telemetry/index.ts';
import { s3Client } from '../../shared/lake/s3.ts';
import { registerSecret, setLogLevel } from '../../shared/log.ts';
import { createDeadLetterHandler } from './handler.ts';

const cfg = loadCommonConfig(process.env);
setLogLevel(cfg.logLevel);
startTelemetry(loadTelemetryConfig(process.env, 'dead-letter'));
registerSecret(cfg.s3.secretAccessKey);

registerFunction(
  'dead-letter',
  createDeadLetterHandler(cfg, { s3: s3Client(cfg.s3), now: () => Date.now() }),
  { maxBodyBytes: cfg.maxBodyBytes },
);
