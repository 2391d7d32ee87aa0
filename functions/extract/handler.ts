// The extract HTTP handler: decode a CloudEvent or curl JSON, run the extraction, answer with the summary.
import { randomUUID } from 'node:crypto';
import type { HttpFunction } from '../../shared/http/message.ts';
import type { ExtractConfig } from '../../shared/config.ts';
import { BadRequestError } from '../../shared/errors.ts';
import { buildEvent, parseJsonBody, requireEventType } from '../../shared/events/cloudevent.ts';
import { extractSource } from '../../shared/events/batches.ts';
import {
  EventType,
  SCHEMA_VERSION,
  describeIssues,
  extractRequestSchema,
  type ExtractRequest,
  type ExtractSummary,
} from '../../shared/events/schemas.ts';
import { runExtract, type ExtractDeps } from '../../shared/extract/run.ts';
import {
  functionHandler,
  readRequest,
  sendEvent,
  sendJson,
  traceparentOf,
} from '../../shared/http/respond.ts';
import { count, gauge } from '../../shared/telemetry/index.ts';

/** CloudEvent types extract accepts: its own request type and the PingSource tick carrying a request as data. */
export const ACCEPTED_TYPES = [EventType.extractRequest, 'dev.knative.sources.ping'] as const;

function parseRequest(data: unknown): ExtractRequest {
  if (data === null || typeof data !== 'object' || Array.isArray(data)) {
    throw new BadRequestError(
      'the extract request must be a JSON object such as {"datasets":["ohlcv"],"symbols":["BTC/USDT"]}',
    );
  }
  const parsed = extractRequestSchema.safeParse(data);
  if (!parsed.success) {
    throw new BadRequestError(`invalid extract request: ${describeIssues(parsed.error).join('; ')}`, {
      issues: describeIssues(parsed.error),
    });
  }
  return parsed.data;
}

/** Builds the extract function for one exchange deployment. */
export function createExtractHandler(
  cfg: ExtractConfig,
  deps: Omit<ExtractDeps, 'cfg' | 'log'>,
): HttpFunction {
  return functionHandler({
    component: 'extract',
    info: () => ({
      exchange: cfg.exchange,
      datasets: deps.client.capabilities().datasets,
      timeframes: deps.client.capabilities().timeframes,
      marketTypes: cfg.marketTypes,
      schemaVersion: SCHEMA_VERSION,
      usage:
        'POST a JSON body such as {"datasets":["ohlcv"],"symbols":["BTC/USDT"],"timeframe":"1m","lookback":"PT1H"}',
    }),
    post: async (req, res, scope) => {
      scope.log = scope.log.child({ exchange: cfg.exchange });
      const incoming = await readRequest(req, cfg.maxBodyBytes);
      let requestId: string;
      let data: unknown;
      if (incoming.kind === 'cloudevent') {
        const { event } = incoming;
        requireEventType(event, ACCEPTED_TYPES, 'extract');
        requestId = event.id;
        // Data sent as text (no or a text content type) is read as the JSON it holds.
        data = typeof event.data === 'string' ? parseJsonBody(event.data) : event.data;
        scope.log = scope.log.child({ eventId: event.id, eventSource: event.source });
      } else {
        requestId = randomUUID();
        data = incoming.data;
      }
      const request = parseRequest(data);
      const traceparent = traceparentOf(req);
      const summary = await runExtract(
        request,
        { requestId, ...(traceparent ? { traceparent } : {}) },
        { ...deps, cfg, log: scope.log },
      );
      recordSummary(summary, deps.client.budget.limitPerMinute);
      if (incoming.kind === 'cloudevent') sendEvent(res, 200, summaryEvent(summary, cfg.exchange));
      else sendJson(res, 200, summary);
    },
  });
}

/** What one request extracted, as counters per exchange and dataset (telemetry; nothing when it is off). */
function recordSummary(summary: ExtractSummary, budgetPerMinute: number): void {
  const exchange = summary.exchange;
  gauge('cryptopipe_exchange_weight_budget_per_minute', budgetPerMinute, { exchange });
  count('cryptopipe_extract_bytes', summary.bytes, { exchange });
  for (const s of summary.series) {
    count('cryptopipe_extract_records', s.records, { exchange, dataset: s.dataset });
    count('cryptopipe_extract_events', s.events, { exchange, dataset: s.dataset });
  }
}

function summaryEvent(summary: ExtractSummary, exchange: string) {
  return buildEvent<ExtractSummary>({
    id: `${summary.requestId}.summary`,
    source: extractSource(exchange),
    type: EventType.extractSummary,
    time: summary.finishedAt,
    data: summary,
    extensions: { exchange },
  });
}
