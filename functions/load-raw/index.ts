// Entry of the load-raw function: settings from the environment, then the handler registered as `load-raw`.
import { loadCommonConfig, loadTelemetryConfig } from '../../shared/config.ts';
import { registerFunction } from '../../shared/http/server.ts';
import { startTelemetry } from '../../shared/telemetry/index.ts';
import { s3Client } from '../../shared/lake/s3.ts';
import { registerSecret, setLogLevel } from '../../shared/log.ts';
import { createLoadRawHandler, loadRawServing } from './handler.ts';

const cfg = loadCommonConfig(process.env);
setLogLevel(cfg.logLevel);
startTelemetry(loadTelemetryConfig(process.env, 'load-raw'));
registerSecret(cfg.s3.secretAccessKey);

registerFunction('load-raw', createLoadRawHandler(cfg, { s3: s3Client(cfg.s3) }), {
  maxBodyBytes: cfg.maxBodyBytes,
  ...loadRawServing,
});
