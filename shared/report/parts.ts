// The parts of a report or status answer run side by side, each within a time budget: a part that runs out of time
// or fails is named with why and shown empty, and the other parts still answer.

/** A part of an answer that could not be given, and why. */
export interface PartFailure {
  part: string;
  reason: 'timed_out' | 'failed';
  message: string;
}

const TIMEOUT = Symbol('timeout');

/** A query PostgreSQL cancelled for running longer than statement_timeout. */
const cancelled = (err: unknown) => (err as { code?: unknown }).code === '57014';

/**
 * Runs every part at once. A part still running after `budgetMs`, or cancelled by the server's statement_timeout,
 * becomes its fallback and a `timed_out` failure; a part that throws becomes its fallback and a `failed` failure,
 * unless `fatal` says the error concerns the whole answer (the database cannot be reached): that one is thrown.
 */
export async function inParts<T extends Record<string, unknown>>(
  parts: { [K in keyof T]: { run: () => Promise<T[K]>; fallback: T[K] } },
  budgetMs: number,
  fatal: (err: unknown) => boolean,
): Promise<{ values: T; unavailable: PartFailure[] }> {
  const unavailable: PartFailure[] = [];
  const names = Object.keys(parts) as Array<keyof T & string>;
  let timer: NodeJS.Timeout | undefined;
  const outOfTime = new Promise<typeof TIMEOUT>((resolve) => {
    timer = setTimeout(() => resolve(TIMEOUT), budgetMs);
    timer.unref?.();
  });
  const seconds = `${+(budgetMs / 1000).toFixed(1)} s`;
  try {
    const settled = await Promise.all(
      names.map(async (name) => {
        const p = parts[name];
        const running = p.run();
        try {
          const v = await Promise.race([running, outOfTime]);
          if (v !== TIMEOUT) return v;
          running.catch(() => undefined); // it ends later (statement_timeout); nobody waits for it
          unavailable.push({ part: name, reason: 'timed_out', message: `took longer than ${seconds}` });
        } catch (err) {
          if (cancelled(err))
            unavailable.push({ part: name, reason: 'timed_out', message: `took longer than ${seconds}` });
          else if (fatal(err)) throw err;
          else unavailable.push({ part: name, reason: 'failed', message: (err as Error).message });
        }
        return p.fallback;
      }),
    );
    const values = Object.fromEntries(names.map((n, i) => [n, settled[i]])) as T;
    unavailable.sort((a, b) => names.indexOf(a.part) - names.indexOf(b.part));
    return { values, unavailable };
  } finally {
    clearTimeout(timer);
  }
}
