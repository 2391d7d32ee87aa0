-- A gap is a run of missing final candles between two final (closed) candles. A candle stored while still open and
-- never replaced by its final version (its update was lost) is missing too: it counts inside the gap, so that
-- `report` shows it and `repair` fetches it again. The newest, still open candle of a series is never a gap.
CREATE OR REPLACE VIEW ohlcv_gaps AS
SELECT exchange, symbol, timeframe,
       prev_open + timeframe_interval(timeframe) AS gap_start,
       open_time                                 AS gap_end,
       (EXTRACT(EPOCH FROM open_time - prev_open) / EXTRACT(EPOCH FROM timeframe_interval(timeframe)))::bigint - 1
                                                 AS missing_candles
FROM (
  SELECT exchange, symbol, timeframe, open_time,
         lag(open_time) OVER (PARTITION BY exchange, symbol, timeframe ORDER BY open_time) AS prev_open
  FROM ohlcv
  WHERE closed
) s
WHERE prev_open IS NOT NULL AND open_time > prev_open + timeframe_interval(timeframe);
