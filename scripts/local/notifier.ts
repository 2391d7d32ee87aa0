// MinIO's webhook notifications for the embedded S3: s3rver events turned into MinIO's payload (escaped key,
// EventName, the object's user metadata, Bearer token) and delivered in order, each retried until the target answers
// 2xx (MinIO's queue_dir).

/** The s3rver event shape (one record, no `s3:` prefix, key not escaped). */
export interface S3rverEvent {
  Records: Array<{
    eventName: string;
    eventTime?: string;
    s3: {
      bucket: { name: string };
      object: { key: string; size?: number; eTag?: string; sequencer?: string };
    };
  }>;
}

/** MinIO escapes the record key like a URL query: `/` as %2F, space as `+`. */
export function minioEscape(key: string): string {
  return encodeURIComponent(key).replace(/%20/g, '+');
}

/** The payload MinIO's webhook target POSTs for one event; `metadata`: the object's user metadata (userMetadata). */
export function minioPayload(e: S3rverEvent, metadata: Record<string, string> = {}): Record<string, unknown> {
  const r = e.Records[0]!;
  const eventName = r.eventName.startsWith('s3:') ? r.eventName : `s3:${r.eventName}`;
  const { name } = r.s3.bucket;
  const { key } = r.s3.object;
  return {
    EventName: eventName,
    Key: `${name}/${key}`,
    Records: [
      {
        eventVersion: '2.0',
        eventSource: 'minio:s3',
        awsRegion: '',
        eventTime: r.eventTime ?? new Date().toISOString(),
        eventName,
        userIdentity: { principalId: 'local' },
        requestParameters: { principalId: 'local', region: '', sourceIPAddress: '127.0.0.1' },
        responseElements: {},
        s3: {
          s3SchemaVersion: '1.0',
          configurationId: 'Config',
          bucket: { name, ownerIdentity: { principalId: 'local' }, arn: `arn:aws:s3:::${name}` },
          object: {
            key: minioEscape(key),
            size: r.s3.object.size ?? 0,
            eTag: r.s3.object.eTag ?? '',
            contentType: 'application/json',
            userMetadata: { 'content-type': 'application/json', ...metadata },
            sequencer: r.s3.object.sequencer ?? '',
          },
        },
        source: { host: '127.0.0.1', port: '', userAgent: 'MinIO (local)' },
      },
    ],
  };
}

/** An ordered, persistent-until-acknowledged delivery queue, like MinIO with queue_dir: one event at a time. */
export class NotificationQueue {
  private readonly pending: Array<Record<string, unknown> | Promise<Record<string, unknown>>> = [];
  private running = false;
  delivered = 0;

  constructor(
    private readonly target: string,
    private readonly token: string | undefined,
    private readonly onError: (status: number | string, attempt: number) => void = () => undefined,
    private readonly retryMs = 1000,
    /** Told of each acknowledged notification with the target's answer (transform's JSON results). */
    private readonly onAnswer: (answer: string) => void = () => undefined,
  ) {}

  /**
   * Queues a notification, or the promise of one (its object's metadata still being read); deliveries keep the order
   * of arrival.
   */
  push(payload: Record<string, unknown> | Promise<Record<string, unknown>>): void {
    this.pending.push(payload);
    void this.drain();
  }

  /** Events not yet acknowledged. */
  get size(): number {
    return this.pending.length;
  }

  /** Resolves when the queue is empty. */
  async idle(): Promise<void> {
    while (this.pending.length > 0 || this.running) await new Promise((r) => setTimeout(r, 20));
  }

  private async drain(): Promise<void> {
    if (this.running) return;
    this.running = true;
    try {
      while (this.pending.length > 0) {
        const payload = await this.pending[0]!;
        for (let attempt = 1; ; attempt++) {
          const res = await fetch(this.target, {
            method: 'POST',
            headers: {
              'content-type': 'application/json',
              ...(this.token ? { authorization: `Bearer ${this.token}` } : {}),
            },
            body: JSON.stringify(payload),
          }).catch((err: unknown) => String(err));
          const answer = typeof res !== 'string' ? await res.text().catch(() => '') : '';
          if (typeof res !== 'string' && res.ok) {
            this.onAnswer(answer);
            break;
          }
          this.onError(typeof res === 'string' ? res : res.status, attempt);
          await new Promise((r) => setTimeout(r, this.retryMs));
        }
        this.pending.shift();
        this.delivered += 1;
      }
    } finally {
      this.running = false;
    }
  }
}
