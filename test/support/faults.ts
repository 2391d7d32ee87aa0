// Fault injection on the wire: an HTTP proxy that answers 5xx or stalls (in front of S3), and a TCP proxy that can
// refuse or cut connections (in front of PostgreSQL).
import { createServer, request as httpRequest, type IncomingMessage, type ServerResponse } from 'node:http';
import { createServer as createTcpServer, connect, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';

/** Which requests a fault hits, and what they get. */
export interface HttpFault {
  match?: (req: { method: string; url: string }) => boolean;
  /** Answer with this status (and an S3-style XML error body). */
  status?: number;
  /** The S3 error code in that body (default InternalError), e.g. SignatureDoesNotMatch with status 403. */
  code?: string;
  /** Never answer (until the fault is cleared or the proxy closes). */
  stall?: boolean;
  /** How many matching requests it affects (default: all). */
  times?: number;
}

/** A running HTTP fault proxy. */
export interface HttpFaultProxy {
  url: string;
  /** Requests seen (method and URL), faulted or not. */
  seen: Array<{ method: string; url: string; faulted: boolean }>;
  addFault(f: HttpFault): void;
  /** Forwards from now on to another upstream. */
  setTarget(target: string): void;
  /** Removes every fault and releases stalled requests (their connections are closed). */
  clearFaults(): void;
  close(): Promise<void>;
}

/** Starts a proxy on loopback forwarding every request to `target` unless a fault matches. */
export async function startHttpFaultProxy(target: string): Promise<HttpFaultProxy> {
  let to = new URL(target);
  let faults: Array<HttpFault & { left: number }> = [];
  const stalled = new Set<ServerResponse>();
  const seen: HttpFaultProxy['seen'] = [];
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const info = { method: req.method ?? 'GET', url: req.url ?? '/' };
    const fault = faults.find((f) => f.left > 0 && (f.match?.(info) ?? true));
    seen.push({ ...info, faulted: fault !== undefined });
    if (fault) {
      fault.left -= 1;
      req.resume();
      if (fault.stall) {
        stalled.add(res);
        res.on('close', () => stalled.delete(res));
        return;
      }
      const status = fault.status ?? 500;
      res
        .writeHead(status, { 'content-type': 'application/xml' })
        .end(
          `<?xml version="1.0" encoding="UTF-8"?><Error><Code>${fault.code ?? 'InternalError'}</Code><Message>injected ${status}</Message></Error>`,
        );
      return;
    }
    const upstream = httpRequest(
      {
        host: to.hostname,
        port: to.port,
        method: req.method,
        path: req.url,
        headers: req.headers,
      },
      (up) => {
        res.writeHead(up.statusCode ?? 502, up.headers);
        up.pipe(res);
      },
    );
    upstream.on('error', () => res.destroy());
    req.pipe(upstream);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const release = () => {
    for (const res of stalled) res.destroy();
    stalled.clear();
  };
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    seen,
    addFault: (f) => faults.push({ ...f, left: f.times ?? Infinity }),
    setTarget: (t) => {
      to = new URL(t);
    },
    clearFaults: () => {
      faults = [];
      release();
    },
    close: () =>
      new Promise<void>((r) => {
        release();
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

/** A running TCP proxy. */
export interface TcpProxy {
  host: string;
  port: number;
  /** Connections currently open through the proxy. */
  readonly open: number;
  /** From now on, every new connection is closed at once (the server looks down). */
  down(): void;
  up(): void;
  /** Cuts every open connection (both sides reset). */
  cutAll(): void;
  close(): Promise<void>;
}

/** Starts a TCP proxy on loopback to `host:port`. */
export async function startTcpProxy(host: string, port: number): Promise<TcpProxy> {
  let isDown = false;
  const pairs = new Set<[Socket, Socket]>();
  const server = createTcpServer((client) => {
    if (isDown) {
      client.destroy();
      return;
    }
    const upstream = connect(port, host);
    const pair: [Socket, Socket] = [client, upstream];
    pairs.add(pair);
    const end = () => {
      pairs.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    client.on('error', end).on('close', end);
    upstream.on('error', end).on('close', end);
    client.pipe(upstream);
    upstream.pipe(client);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const cutAll = () => {
    for (const [a, b] of pairs) {
      a.resetAndDestroy();
      b.resetAndDestroy();
    }
    pairs.clear();
  };
  return {
    host: '127.0.0.1',
    port: (server.address() as AddressInfo).port,
    get open() {
      return pairs.size;
    },
    down: () => {
      isDown = true;
    },
    up: () => {
      isDown = false;
    },
    cutAll,
    close: () =>
      new Promise<void>((r) => {
        cutAll();
        server.close(() => r());
      }),
  };
}
