// Error classes with meaning: permanent (4xx, never retried) versus transient (5xx, retried by Knative).

/** Base class: every error the functions answer with carries an HTTP status and a stable code. */
export abstract class PipelineError extends Error {
  abstract readonly status: number;
  /** Machine-readable code, e.g. `bad_request`, `exchange_unavailable`. */
  readonly code: string;
  /** Extra fields safe to show to the caller (never secrets). */
  readonly details: Record<string, unknown> | undefined;

  constructor(code: string, message: string, details?: Record<string, unknown>, options?: ErrorOptions) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
    this.details = details;
  }

  /** True when a later retry of the same request may succeed. */
  get transient(): boolean {
    return this.status >= 500 || this.status === 429;
  }
}

/**
 * A request refused with an HTTP status and a stable code that say what happened: 401 unauthorized, 404 not_found,
 * 405 method_not_allowed, 413 body_too_large, 415 unsupported_media_type, ...
 */
export class HttpError extends PipelineError {
  readonly status: number;
  constructor(status: number, code: string, message: string, details?: Record<string, unknown>) {
    super(code, message, details);
    this.status = status;
  }
}

/** The request itself is wrong (bad JSON, unknown dataset, wrong exchange): 400, `bad_request` unless told otherwise. */
export class BadRequestError extends HttpError {
  constructor(message: string, details?: Record<string, unknown>, code = 'bad_request') {
    super(400, code, message, details);
  }
}

/**
 * A permanent refusal that retrying cannot fix (a geo-block, a record too large for any event): a 4xx, dead-lettered
 * unretried; never transient, even where it answers 500 (the status page's missing grant).
 */
export class PermanentUpstreamError extends PipelineError {
  readonly status: number;
  constructor(
    code: string,
    message: string,
    details?: Record<string, unknown>,
    status = 422,
    options?: ErrorOptions,
  ) {
    super(code, message, details, options);
    this.status = status;
  }

  override get transient(): boolean {
    return false;
  }
}

/** A failure that may pass (network, timeouts, 5xx, 429, a full budget, a refusing sink): 503 so Knative retries. */
export class TransientError extends PipelineError {
  readonly status: number;
  /** Seconds the caller should wait before retrying, when known. */
  readonly retryAfterSeconds: number | undefined;
  constructor(
    code: string,
    message: string,
    details?: Record<string, unknown>,
    options?: ErrorOptions & { status?: number; retryAfterSeconds?: number },
  ) {
    super(code, message, details, options);
    this.status = options?.status ?? 503;
    this.retryAfterSeconds = options?.retryAfterSeconds;
  }
}

/** Invalid configuration: start-up stops with a message naming the variable. */
export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

/** Maps any thrown value to the status and JSON body the functions answer with. */
export function errorResponse(err: unknown): {
  status: number;
  body: { error: string; message: string; details?: Record<string, unknown> };
  retryAfterSeconds?: number;
} {
  if (err instanceof PipelineError) {
    return {
      status: err.status,
      body: { error: err.code, message: err.message, ...(err.details ? { details: err.details } : {}) },
      ...(err instanceof TransientError && err.retryAfterSeconds !== undefined
        ? { retryAfterSeconds: err.retryAfterSeconds }
        : {}),
    };
  }
  return { status: 500, body: { error: 'internal', message: 'internal error (see the function log)' } };
}

/** Runs `start`, turning a configuration error into one clear line on stderr and exit code 78 (EX_CONFIG). */
export async function startOrExit(start: () => Promise<unknown>): Promise<void> {
  try {
    await start();
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\n`);
      process.exit(78);
    }
    throw err;
  }
}
