// Entry of the load-raw function: settings from the environment, then the handler registered as `load-raw`.
import { http } from '@google-cloud/functions-framework';
import { loadCommonConfig } from '../../shared/config.ts';
import { s3Client } from '../../shared/lake/s3.ts';
import { registerSecret, setLogLevel } from '../../shared/log.ts';
import { createLoadRawHandler } from './handler.ts';

const cfg = loadCommonConfig(process.env);
setLogLevel(cfg.logLevel);
registerSecret(cfg.s3.secretAccessKey);

http('load-raw', createLoadRawHandler(cfg, { s3: s3Client(cfg.s3) }));
