// Structured JSON logs: one line per event with severity, message and context (exchange, dataset, symbol, traceparent).

/** Severity names as Cloud Logging and most log pipelines read them. */
export type Severity = 'DEBUG' | 'INFO' | 'WARNING' | 'ERROR';

const ORDER: Record<Severity, number> = { DEBUG: 10, INFO: 20, WARNING: 30, ERROR: 40 };

/** Context fields carried by every line of a logger. */
export interface LogContext {
  component?: string;
  exchange?: string;
  dataset?: string;
  symbol?: string;
  traceparent?: string;
  eventId?: string;
  [key: string]: unknown;
}

/** Where log lines go; tests capture them. */
export type LogSink = (line: string) => void;

let sink: LogSink = (line) => process.stdout.write(line + '\n');
let minSeverity: Severity = 'INFO';
const secrets = new Set<string>();

/** Redirects log output (tests) and returns the previous sink. */
export function setLogSink(next: LogSink): LogSink {
  const prev = sink;
  sink = next;
  return prev;
}

/** Sets the lowest severity written. */
export function setLogLevel(level: Severity): void {
  minSeverity = level;
}

/** Registers values that must never appear in a log line (passwords, tokens); they are replaced by `[redacted]`. */
export function registerSecret(value: string | undefined): void {
  if (value && value.length >= 4) secrets.add(value);
}

function redact(text: string): string {
  let out = text;
  for (const s of secrets) out = out.split(s).join('[redacted]');
  return out;
}

/** How many links of an error's `cause` chain a log line follows. */
const MAX_CAUSE_DEPTH = 5;

/** An error as a log field with its whole story: name, message, code, stack and its cause chain. */
function describeError(err: unknown, depth = 0): Record<string, unknown> {
  if (!(err instanceof Error)) return { message: String(err) };
  const code = (err as { code?: unknown }).code;
  const cause = (err as { cause?: unknown }).cause;
  return {
    name: err.name,
    message: err.message,
    ...(code !== undefined ? { code } : {}),
    ...(err.stack ? { stack: err.stack } : {}),
    ...(cause !== undefined && depth < MAX_CAUSE_DEPTH ? { cause: describeError(cause, depth + 1) } : {}),
  };
}

function errorFields(err: unknown): Record<string, unknown> {
  return { error: describeError(err) };
}

/** A logger bound to a context; `child` adds fields. */
export class Logger {
  constructor(readonly context: LogContext = {}) {}

  child(extra: LogContext): Logger {
    return new Logger({ ...this.context, ...extra });
  }

  debug(message: string, fields?: Record<string, unknown>): void {
    this.write('DEBUG', message, fields);
  }
  info(message: string, fields?: Record<string, unknown>): void {
    this.write('INFO', message, fields);
  }
  warn(message: string, fields?: Record<string, unknown>): void {
    this.write('WARNING', message, fields);
  }
  error(message: string, err?: unknown, fields?: Record<string, unknown>): void {
    this.write('ERROR', message, { ...(err === undefined ? {} : errorFields(err)), ...fields });
  }

  private write(severity: Severity, message: string, fields?: Record<string, unknown>): void {
    if (ORDER[severity] < ORDER[minSeverity]) return;
    const entry = { time: new Date().toISOString(), severity, message, ...this.context, ...fields };
    sink(redact(JSON.stringify(entry)));
  }
}

/** The process-wide root logger. */
export const log = new Logger();
