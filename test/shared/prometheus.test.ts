// The Prometheus text format: HELP and TYPE per family, escaped label values, empty labels left out, special values.
import { describe, expect, it } from 'vitest';
import { escapeLabelValue, renderPrometheus } from '../../shared/metrics/prometheus.ts';
import { parseExposition } from '../support/prometheus.ts';

describe('renderPrometheus', () => {
  it('writes families with HELP and TYPE, labels in order, and leaves empty label values out', () => {
    const text = renderPrometheus([
      {
        name: 'cryptopipe_series_rows',
        type: 'gauge',
        help: 'Rows.\nSecond line \\ with a backslash',
        samples: [
          {
            labels: { exchange: 'binance', dataset: 'ohlcv', symbol: 'BTC/USDT', timeframe: '1m' },
            value: 10,
          },
          { labels: { exchange: 'binance', dataset: 'markets', symbol: '', timeframe: '' }, value: 2 },
        ],
      },
      { name: 'cryptopipe_dead_letters', type: 'gauge', help: 'Dead letters.', samples: [] },
      {
        name: 'cryptopipe_rejected_objects_total',
        type: 'counter',
        help: 'Rejected.',
        samples: [{ value: 3 }],
      },
    ]);
    expect(text).toBe(
      [
        '# HELP cryptopipe_series_rows Rows.\\nSecond line \\\\ with a backslash',
        '# TYPE cryptopipe_series_rows gauge',
        'cryptopipe_series_rows{exchange="binance",dataset="ohlcv",symbol="BTC/USDT",timeframe="1m"} 10',
        'cryptopipe_series_rows{exchange="binance",dataset="markets"} 2',
        '# HELP cryptopipe_dead_letters Dead letters.',
        '# TYPE cryptopipe_dead_letters gauge',
        '# HELP cryptopipe_rejected_objects_total Rejected.',
        '# TYPE cryptopipe_rejected_objects_total counter',
        'cryptopipe_rejected_objects_total 3',
        '',
      ].join('\n'),
    );
  });

  it('escapes backslash, double quote and line feed in label values, and reads back the same', () => {
    const hostile = 'a"b\\c\nd</script>{x="y"}';
    expect(escapeLabelValue(hostile)).toBe('a\\"b\\\\c\\nd</script>{x=\\"y\\"}');
    const text = renderPrometheus([
      { name: 'm', type: 'gauge', help: 'h', samples: [{ labels: { symbol: hostile }, value: 1.5 }] },
    ]);
    expect(parseExposition(text).samples).toEqual([{ name: 'm', labels: { symbol: hostile }, value: 1.5 }]);
  });

  it('writes NaN and infinities as Prometheus spells them, and refuses bad names', () => {
    const text = renderPrometheus([
      {
        name: 'm',
        type: 'gauge',
        help: 'h',
        samples: [
          { labels: { k: 'nan' }, value: NaN },
          { labels: { k: 'inf' }, value: Infinity },
          { labels: { k: 'ninf' }, value: -Infinity },
        ],
      },
    ]);
    expect(text).toContain('m{k="nan"} NaN\nm{k="inf"} +Inf\nm{k="ninf"} -Inf\n');
    expect(() => renderPrometheus([{ name: 'bad-name', type: 'gauge', help: '', samples: [] }])).toThrow(
      /not a metric name/,
    );
    expect(() =>
      renderPrometheus([
        { name: 'm', type: 'gauge', help: '', samples: [{ labels: { 'x-y': '1' }, value: 1 }] },
      ]),
    ).toThrow(/not a label name/);
  });
});
