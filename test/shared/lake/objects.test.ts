// The stored bytes of an event made around its data's canonical bytes equal the bytes made from the event whole.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { buildEvent } from '../../../shared/events/cloudevent.ts';
import { canonicalJsonBytes } from '../../../shared/events/canonical.ts';
import { batchBody, batchBodyAround } from '../../../shared/lake/objects.ts';

describe('batchBodyAround', () => {
  it('is batchBody for any event and JSON data', () => {
    const attribute = fc.string({ unit: 'grapheme', minLength: 1, maxLength: 10 });
    fc.assert(
      fc.property(
        fc.jsonValue().filter((v) => v !== null && typeof v === 'object'),
        attribute,
        attribute,
        fc.option(attribute, { nil: undefined }),
        fc.option(attribute, { nil: undefined }),
        (data, id, subject, exchange, traceparent) => {
          const event = buildEvent({
            id,
            source: '/cryptopipe/extract/x',
            type: 'cryptopipe.extract.batch',
            subject,
            time: 1_700_000_000_000,
            data,
            extensions: { exchange, traceparent },
          });
          expect(batchBodyAround(event, canonicalJsonBytes(data)).equals(batchBody(event))).toBe(true);
        },
      ),
      { numRuns: 500 },
    );
  });

  it('an attribute that is the marker itself: still the same bytes', () => {
    const data = { records: [1, 2] };
    const event = buildEvent({
      id: '\u0000data',
      source: '/s',
      type: 't',
      time: 0,
      data,
    });
    expect(batchBodyAround(event, canonicalJsonBytes(data)).equals(batchBody(event))).toBe(true);
  });
});
