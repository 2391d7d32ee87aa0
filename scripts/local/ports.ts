// Whether the local run's ports are free on 127.0.0.1, checked before anything starts.
import { createServer } from 'node:net';

/** True when nothing listens on 127.0.0.1:`port` (or on every interface at that port) and it may be bound. */
export function portFree(port: number): Promise<boolean> {
  return new Promise((done) => {
    const probe = createServer();
    probe.once('error', () => done(false));
    probe.listen({ port, host: '127.0.0.1', exclusive: true }, () => probe.close(() => done(true)));
  });
}

/** The entries of `ports` (name -> port) whose port is taken, in the order given. */
export async function takenPorts(ports: ReadonlyArray<[string, number]>): Promise<Array<[string, number]>> {
  const free = await Promise.all(ports.map(([, port]) => portFree(port)));
  return ports.filter((_, i) => !free[i]);
}
