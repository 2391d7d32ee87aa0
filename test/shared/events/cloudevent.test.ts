// Tests of the ce-* encoding: both modes round-trip, and every malformed request is a 4xx with a message.
import { CloudEvent, HTTP } from 'cloudevents';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { HttpError } from '../../../shared/errors.ts';
import {
  buildEvent,
  decodeRequest,
  nestedDeeperThan,
  toBinary,
  toStructured,
} from '../../../shared/events/cloudevent.ts';

const event = buildEvent({
  id: 'abc.0',
  source: '/cryptopipe/extract/binance',
  type: 'cryptopipe.extract.batch',
  time: Date.UTC(2024, 0, 1),
  data: { hello: 'world', n: '1.10' },
  extensions: { exchange: 'binance', dataset: 'ohlcv' },
});

describe('encoding', () => {
  it('binary mode carries attributes in ce-* headers and data as JSON, valid for the SDK', () => {
    const m = toBinary(event);
    expect(m.headers).toMatchObject({
      'ce-id': 'abc.0',
      'ce-specversion': '1.0',
      'ce-exchange': 'binance',
      'ce-schemaversion': '1',
      'content-type': 'application/json',
    });
    expect(JSON.parse(String(m.body))).toEqual({ hello: 'world', n: '1.10' });
    const back = HTTP.toEvent({ headers: m.headers, body: m.body });
    expect(Array.isArray(back)).toBe(false);
  });
  it('binary mode sends binary data (data_base64) as its original bytes', () => {
    const bytes = Buffer.from([0x00, 0xff, 0x10, 0x41, 0x7b]);
    const received = decodeRequest(
      { 'content-type': 'application/cloudevents+json' },
      JSON.stringify({
        specversion: '1.0',
        id: 'b1',
        source: '/s',
        type: 't',
        datacontenttype: 'application/octet-stream',
        data_base64: bytes.toString('base64'),
      }),
    );
    if (received.kind !== 'cloudevent') throw new Error('not decoded as a CloudEvent');
    // As a stored dead letter is read back: the event's JSON form, made an event again.
    for (const e of [received.event, new CloudEvent(received.event.toJSON())]) {
      const m = toBinary(e);
      expect(Buffer.isBuffer(m.body) && m.body.equals(bytes)).toBe(true);
      expect(m.headers['content-type']).toBe('application/octet-stream');
    }
  });
  it('structured mode round-trips through decodeRequest', () => {
    const m = toStructured(event);
    const d = decodeRequest(m.headers, m.body);
    expect(d.kind).toBe('cloudevent');
    if (d.kind === 'cloudevent') {
      expect(d.mode).toBe('structured');
      expect(d.event.data).toEqual({ hello: 'world', n: '1.10' });
      expect(d.event['dataset']).toBe('ohlcv');
    }
  });
  it('the same init gives the same bytes', () => {
    const again = buildEvent({
      id: 'abc.0',
      source: '/cryptopipe/extract/binance',
      type: 'cryptopipe.extract.batch',
      time: Date.UTC(2024, 0, 1),
      data: { hello: 'world', n: '1.10' },
      extensions: { exchange: 'binance', dataset: 'ohlcv' },
    });
    expect(toStructured(again).body).toBe(toStructured(event).body);
  });
});

describe('decodeRequest', () => {
  it('reads a binary-mode event', () => {
    const m = toBinary(event);
    const d = decodeRequest(m.headers, Buffer.from(m.body));
    expect(d).toMatchObject({ kind: 'cloudevent', mode: 'binary' });
  });
  it('refuses binary-mode JSON data of whitespace alone (no JSON value), with or without a parsed body', () => {
    const m = toBinary(event);
    for (const body of [' ', '\n\t ']) {
      expect(() => decodeRequest(m.headers, body)).toThrow(/only whitespace/);
      expect(() => decodeRequest(m.headers, body, {})).toThrow(/only whitespace/);
    }
  });
  it('uses a body the framework already parsed instead of parsing it again, in every mode', () => {
    const b = toBinary(event);
    const data = JSON.parse(String(b.body)) as object;
    const binary = decodeRequest(b.headers, b.body, data);
    expect(binary.kind === 'cloudevent' && binary.event.data).toBe(data);
    const st = toStructured(event);
    const envelope = JSON.parse(st.body) as { data: object };
    const structured = decodeRequest(st.headers, st.body, envelope);
    expect(structured.kind === 'cloudevent' && structured.event.data).toBe(envelope.data);
    const plain = { a: 1 };
    expect(decodeRequest({ 'content-type': 'application/json' }, '{"a":1}', plain)).toEqual({
      kind: 'plain',
      data: plain,
    });
    // An empty body is refused even though a body parser turns it into {}.
    expect(() => decodeRequest({ 'content-type': 'application/json' }, '', {})).toThrow(/empty request body/);
  });
  it('reads a plain JSON body (curl)', () => {
    expect(decodeRequest({ 'content-type': 'application/json' }, '{"a":1}')).toEqual({
      kind: 'plain',
      data: { a: 1 },
    });
    expect(decodeRequest({ 'content-type': 'application/x-www-form-urlencoded' }, '{"a":1}')).toEqual({
      kind: 'plain',
      data: { a: 1 },
    });
  });

  const ce = {
    'ce-specversion': '1.0',
    'ce-id': '1',
    'ce-source': '/s',
    'ce-type': 't',
    'content-type': 'application/json',
  };
  const bad: Array<{
    name: string;
    headers: Record<string, string>;
    body: string;
    status: number;
    message: RegExp;
  }> = [
    {
      name: 'empty body',
      headers: { 'content-type': 'application/json' },
      body: '',
      status: 400,
      message: /empty request body/,
    },
    {
      name: 'invalid JSON',
      headers: { 'content-type': 'application/json' },
      body: '{"a":',
      status: 400,
      message: /not valid JSON/,
    },
    {
      name: 'binary without ce-id',
      headers: { ...ce, 'ce-id': '' },
      body: '{}',
      status: 400,
      message: /ce-id/,
    },
    {
      name: 'binary without ce-type',
      headers: { 'ce-specversion': '1.0', 'ce-id': '1', 'ce-source': '/s' },
      body: '{}',
      status: 400,
      message: /ce-type/,
    },
    {
      name: 'binary with invalid JSON data',
      headers: ce,
      body: '{bad',
      status: 400,
      message: /invalid CloudEvent/,
    },
    {
      name: 'binary with XML data',
      headers: { ...ce, 'content-type': 'application/xml' },
      body: '<a/>',
      status: 415,
      message: /application\/json/,
    },
    {
      name: 'unsupported specversion',
      headers: { ...ce, 'ce-specversion': '0.3' },
      body: '{}',
      status: 400,
      message: /specversion/,
    },
    {
      name: 'structured without id',
      headers: { 'content-type': 'application/cloudevents+json' },
      body: '{"specversion":"1.0","source":"/s","type":"t"}',
      status: 400,
      message: /'id'/,
    },
    {
      name: 'structured not an object',
      headers: { 'content-type': 'application/cloudevents+json' },
      body: '[1]',
      status: 400,
      message: /JSON object/,
    },
    {
      name: 'structured invalid JSON',
      headers: { 'content-type': 'application/cloudevents+json' },
      body: '{"specversion":',
      status: 400,
      message: /not valid JSON/,
    },
    {
      name: 'batch mode',
      headers: { 'content-type': 'application/cloudevents-batch+json' },
      body: '[]',
      status: 415,
      message: /batched/,
    },
  ];
  it.each(bad)('$name -> $status', ({ headers, body, status, message }) => {
    let caught: unknown;
    try {
      decodeRequest(headers, body);
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(HttpError);
    expect((caught as HttpError).status).toBe(status);
    expect((caught as HttpError).message).toMatch(message);
  });
});

describe('nestedDeeperThan', () => {
  /** The plain scan, character by character: a backslash in a string skips the character after it. */
  function reference(text: string, max: number): boolean {
    let depth = 0;
    let inString = false;
    for (let i = 0; i < text.length; i++) {
      const c = text.charCodeAt(i);
      if (inString) {
        if (c === 0x5c) i++;
        else if (c === 0x22) inString = false;
      } else if (c === 0x22) inString = true;
      else if (c === 0x5b || c === 0x7b) {
        if (++depth > max) return true;
      } else if (c === 0x5d || c === 0x7d) depth--;
    }
    return false;
  }

  it('answers as the plain character scan on any text of quotes, backslashes and brackets', () => {
    const unit = fc.constantFrom('"', '\\', '[', ']', '{', '}', 'a', ' ');
    fc.assert(
      fc.property(fc.string({ unit, maxLength: 40 }), fc.integer({ min: 0, max: 4 }), (text, max) => {
        expect(nestedDeeperThan(text, max)).toBe(reference(text, max));
      }),
      { numRuns: 20_000 },
    );
    expect(nestedDeeperThan('{"a":"[[[\\"[["}', 1)).toBe(false);
    expect(nestedDeeperThan('{"a\\\\":[[1]]}', 2)).toBe(true);
  });
});
