// Starts the HTTP server of a registered function (the container entry point): port, host, keep-alive, SIGTERM.
import type { Server } from 'node:http';
import { log } from '../log.ts';
import { flushTelemetry } from '../telemetry/index.ts';
import { functionServer } from './server.ts';

/**
 * How long an idle keep-alive connection stays open. Node's default (5 s) is shorter than the idle timeout of the Go
 * HTTP transports in front of the container (queue-proxy, activator; Go's default is 90 s), so a request sent on a
 * pooled connection just as Node closes it fails with EOF / 502 (knative/serving#12414). The server must be the side
 * that waits longer.
 */
export const KEEP_ALIVE_TIMEOUT_MS = 120_000;

/**
 * Serves the function registered as `name` on PORT (default 8080) and drains in-flight requests on SIGTERM, as
 * Knative expects. A bundle starts itself this way.
 * `host` limits it to one address (the local run: 127.0.0.1); by default it listens on every interface, as in a pod.
 */
export function serve(name: string, port = Number(process.env['PORT'] ?? 8080), host?: string): Server {
  const server = functionServer(name);
  server.keepAliveTimeout = KEEP_ALIVE_TIMEOUT_MS;
  // Must exceed keepAliveTimeout, or a slow request's headers on a reused connection time out first.
  server.headersTimeout = KEEP_ALIVE_TIMEOUT_MS + 1_000;
  server.listen({ port, ...(host ? { host } : {}) }, () => {
    const address = server.address();
    const actual = typeof address === 'object' && address ? address.port : port;
    log.info('function listening', { component: name, port: actual, pid: process.pid });
  });
  let closing = false;
  const shutdown = (signal: string) => {
    if (closing) return;
    closing = true;
    log.info('shutting down: finishing in-flight requests', { component: name, signal });
    // The telemetry of the last requests is exported before the process ends (nothing when it is off).
    server.close(() => void flushTelemetry().finally(() => process.exit(0)));
    setTimeout(() => process.exit(0), 30_000).unref();
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
  return server;
}
