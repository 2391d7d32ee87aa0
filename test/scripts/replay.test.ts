// Dead-letter replay: stored dead letters go back to the Broker without Knative's error attributes, then move aside.
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ListObjectsV2Command } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPLAYED_PREFIX, replayDeadLetters } from '../../scripts/replay.ts';
import { decodeRequest } from '../../shared/events/cloudevent.ts';
import { batchBody, deadLetterKey, putIfChanged } from '../../shared/lake/objects.ts';
import { CloudEvent } from 'cloudevents';
import { startS3, type TestS3 } from '../support/s3.ts';
import { startSink, type TestSink } from '../support/sink.ts';

let s3: TestS3;
let sink: TestSink;
beforeAll(async () => {
  [s3, sink] = await Promise.all([startS3(), startSink()]);
});
afterAll(async () => {
  await sink?.close();
  await s3?.close();
});

async function keys(prefix: string) {
  return (
    (await s3.client.send(new ListObjectsV2Command({ Bucket: s3.settings.bucket, Prefix: prefix })))
      .Contents ?? []
  ).map((o) => o.Key!);
}

async function storeDeadLetter(id: string) {
  const ev = new CloudEvent({
    id,
    source: '/cryptopipe/extract/binance',
    type: 'cryptopipe.extract.batch',
    time: '2026-11-24T00:00:00.000Z',
    datacontenttype: 'application/json',
    data: { n: id },
    knativeerrorcode: '500',
    knativeerrordest: 'http://load-raw',
  });
  const key = deadLetterKey(ev, Date.UTC(2026, 10, 24));
  await putIfChanged(s3.client, s3.settings.bucket, key, batchBody(ev), {});
  return key;
}

describe('replayDeadLetters', () => {
  it('sends each dead letter back without the error attributes and moves it to the replayed prefix', async () => {
    const key = await storeDeadLetter('dl-1');
    const dry = await replayDeadLetters(s3.client, s3.settings.bucket, sink.url, { dryRun: true });
    expect(dry.replayed).toEqual([key]);
    expect(sink.events).toHaveLength(0);
    const r = await replayDeadLetters(s3.client, s3.settings.bucket, sink.url);
    expect(r).toEqual({ replayed: [key], failed: [] });
    expect(sink.events).toHaveLength(1);
    expect(sink.events[0]!.id).toBe('dl-1');
    expect(sink.events[0]!['knativeerrorcode']).toBeUndefined();
    expect(sink.events[0]!.data).toEqual({ n: 'dl-1' });
    expect(await keys('_dead-letters/')).toEqual([]);
    expect(await keys(REPLAYED_PREFIX)).toEqual([REPLAYED_PREFIX + key.slice('_dead-letters/'.length)]);
  });

  it('keeps a dead letter the Broker refuses and reports it', async () => {
    const key = await storeDeadLetter('dl-2');
    sink.refuse(503, 1);
    const r = await replayDeadLetters(s3.client, s3.settings.bucket, sink.url);
    expect(r.replayed).toEqual([]);
    expect(r.failed).toEqual([{ key, reason: expect.stringMatching(/HTTP 503/) }]);
    expect(await keys('_dead-letters/')).toEqual([key]);
  });

  it('sends a dead letter with binary data (data_base64) as its original bytes', async () => {
    const bytes = Buffer.from([0x00, 0xff, 0x10, 0x41, 0x7b, 0x22]);
    const incoming = decodeRequest(
      { 'content-type': 'application/cloudevents+json' },
      JSON.stringify({
        specversion: '1.0',
        id: 'dl-bin',
        source: '/somewhere',
        type: 'com.example.binary',
        time: '2026-11-26T00:00:00.000Z',
        datacontenttype: 'application/octet-stream',
        data_base64: bytes.toString('base64'),
        knativeerrorcode: '415',
      }),
    );
    if (incoming.kind !== 'cloudevent') throw new Error('not decoded as a CloudEvent');
    // Stored as the dead-letter function stores it.
    const key = deadLetterKey(incoming.event, Date.UTC(2026, 10, 26));
    await putIfChanged(s3.client, s3.settings.bucket, key, batchBody(incoming.event), {});
    const got: Array<{ headers: IncomingHttpHeaders; body: Buffer }> = [];
    const receiver = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        got.push({ headers: req.headers, body: Buffer.concat(chunks) });
        res.writeHead(202).end();
      });
    });
    await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
    try {
      const url = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/`;
      const r = await replayDeadLetters(s3.client, s3.settings.bucket, url, { prefix: 'date=2026-11-26/' });
      expect(r).toEqual({ replayed: [key], failed: [] });
    } finally {
      receiver.close();
    }
    expect(got).toHaveLength(1);
    expect(got[0]!.body.toString('hex')).toBe(bytes.toString('hex'));
    expect(got[0]!.headers).toMatchObject({
      'content-type': 'application/octet-stream',
      'ce-id': 'dl-bin',
      'ce-type': 'com.example.binary',
    });
    expect(got[0]!.headers['ce-knativeerrorcode']).toBeUndefined();
  });

  it('reports a stored dead letter that can never be sent without sending it', async () => {
    const stored = {
      specversion: '1.0',
      id: 'dl-3',
      source: '/cryptopipe/extract/binance',
      type: 'cryptopipe.extract.batch\nx-injected: 1',
      data: {},
    };
    const key = deadLetterKey({ id: 'dl-3', source: stored.source, type: 'bad' }, Date.UTC(2026, 10, 25));
    await putIfChanged(s3.client, s3.settings.bucket, key, Buffer.from(JSON.stringify(stored)), {});
    const before = sink.events.length;
    const r = await replayDeadLetters(s3.client, s3.settings.bucket, sink.url, {
      prefix: 'date=2026-11-25/',
    });
    expect(r.failed).toEqual([
      { key, reason: expect.stringMatching(/cannot be sent again: attribute 'type'/) },
    ]);
    expect(sink.events.length).toBe(before);
  });
});
