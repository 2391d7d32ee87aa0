// The dead-letter receiver: a refused event is stored with Knative's reason attributes under _dead-letters/.
import { GetObjectCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDeadLetterHandler } from '../../functions/dead-letter/handler.ts';
import { loadCommonConfig } from '../../shared/config.ts';
import { buildEvent, toBinary } from '../../shared/events/cloudevent.ts';
import { functionServer, registerFunction } from '../../shared/http/server.ts';
import { deadLetterKey } from '../../shared/lake/objects.ts';
import { s3Client } from '../../shared/lake/s3.ts';
import { startS3, type TestS3 } from '../support/s3.ts';

const NOW = Date.UTC(2026, 10, 24, 12);
let s3: TestS3;
beforeAll(async () => {
  s3 = await startS3();
});
afterAll(() => s3?.close());

function server() {
  const cfg = loadCommonConfig({
    S3_ENDPOINT: s3.settings.endpoint,
    AWS_ACCESS_KEY_ID: s3.settings.accessKeyId!,
    AWS_SECRET_ACCESS_KEY: s3.settings.secretAccessKey!,
    RAW_BUCKET: s3.settings.bucket,
  });
  registerFunction(
    'dead-letter-test',
    createDeadLetterHandler(cfg, { s3: s3Client(cfg.s3), now: () => NOW }),
    { maxBodyBytes: cfg.maxBodyBytes },
  );
  return functionServer('dead-letter-test');
}

describe('dead-letter', () => {
  it('stores the event with the error destination, code and decoded data', async () => {
    const ev = buildEvent({
      id: 'abc.0',
      source: '/cryptopipe/extract/binance',
      type: 'cryptopipe.extract.batch',
      time: NOW,
      data: { bad: true },
    });
    const { headers, body } = toBinary(ev);
    const res = await request(server())
      .post('/')
      .set({
        ...headers,
        'ce-knativeerrordest': 'http://load-raw.crypto.svc.cluster.local',
        'ce-knativeerrorcode': '400',
        'ce-knativeerrordata': Buffer.from('{"error":"bad_request"}').toString('base64'),
      })
      .send(body)
      .expect(204);
    const key = decodeURI(res.headers['x-object-key'] as string);
    expect(key).toBe(deadLetterKey(ev, NOW));
    expect(key).toMatch(/^_dead-letters\/date=2026-11-24\/cryptopipe\.extract\.batch\/[0-9a-f]{16}\.json$/);
    const stored = JSON.parse(
      await (
        await s3.client.send(new GetObjectCommand({ Bucket: s3.settings.bucket, Key: key }))
      ).Body!.transformToString(),
    );
    expect(stored).toMatchObject({
      id: 'abc.0',
      knativeerrorcode: '400',
      knativeerrordest: 'http://load-raw.crypto.svc.cluster.local',
      data: { bad: true },
    });
  });
  it('refuses what is not a CloudEvent with a 400', async () => {
    const res = await request(server())
      .post('/')
      .set('content-type', 'application/json')
      .send('{"a":1}')
      .expect(400);
    expect(res.body.message).toMatch(/CloudEvents/);
  });

  // A structured-mode event can carry what no ce-* header can; replay sends binary mode, so it would fail forever.
  const attributes = {
    specversion: '1.0',
    id: 'dl-attr',
    source: '/cryptopipe/extract/binance',
    type: 'cryptopipe.extract.batch',
    datacontenttype: 'application/json',
    data: { n: 1 },
  };
  const refused = [
    { name: 'a NUL in type', change: { type: 'cryptopipe.extract\u0000batch' } },
    { name: 'a newline in type', change: { type: 'cryptopipe.extract.batch\nx-injected: 1' } },
    { name: 'a tab in type', change: { type: 'cryptopipe.extract.batch\t' } },
    { name: 'a blank type', change: { type: '   ' } },
    { name: 'a blank id', change: { id: ' ' } },
    { name: 'a DEL in subject', change: { subject: 'BTC/USDT\u007f' } },
    { name: 'a character no header can carry', change: { subject: 'BTC/USDT \u2603' } },
    { name: 'a control character in an extension', change: { runid: 'a\rb' } },
    { name: 'attributes too large for headers', change: { subject: 'x'.repeat(9000) } },
  ];
  for (const c of refused)
    it(`refuses an event with ${c.name} (400) and stores nothing`, async () => {
      const id = `dl-${c.name.replace(/\W+/g, '-')}`;
      const res = await request(server())
        .post('/')
        .set('content-type', 'application/cloudevents+json')
        .send(JSON.stringify({ ...attributes, id, ...c.change }))
        .expect(400);
      expect(res.body.error).toBe('not_replayable');
      const stored = await s3.client.send(
        new ListObjectsV2Command({ Bucket: s3.settings.bucket, Prefix: '_dead-letters/' }),
      );
      expect((stored.Contents ?? []).map((o) => o.Key)).not.toContainEqual(expect.stringContaining(id));
    });

  it('stores an event whose attributes hold Latin-1 text, which headers carry', async () => {
    await request(server())
      .post('/')
      .set('content-type', 'application/cloudevents+json')
      .send(JSON.stringify({ ...attributes, id: 'dl-latin1', subject: 'caf\u00e9 BTC/USDT' }))
      .expect(204);
  });
});
