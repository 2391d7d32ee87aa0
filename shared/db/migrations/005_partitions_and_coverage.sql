-- 005: market scale. The fact tables become time-partitioned (native declarative partitioning, no extension), every
-- row kept; the coverage tables hold what the operator tools read instead of scanning the facts (kept by transform
-- in the transaction of the rows; shared/db/coverage.ts). The migration runner fills the coverage from the existing
-- rows right after this file (rebuildCoverage), in the same transaction.

-- UTC calendar arithmetic whatever the session's TimeZone: the open time of the candle after `t`.
CREATE FUNCTION next_open(tf text, t timestamptz) RETURNS timestamptz
LANGUAGE sql IMMUTABLE STRICT AS $$
  SELECT ((t AT TIME ZONE 'UTC') + timeframe_interval(tf)) AT TIME ZONE 'UTC'
$$;

-- Candles of timeframe `tf` that open in [a, b) on the grid through `a` (calendar months for 'M').
CREATE FUNCTION candles_between(tf text, a timestamptz, b timestamptz) RETURNS bigint
LANGUAGE sql IMMUTABLE STRICT AS $$
  SELECT CASE WHEN tf ~ 'M$' THEN
           ((extract(year FROM b AT TIME ZONE 'UTC') - extract(year FROM a AT TIME ZONE 'UTC')) * 12
            + extract(month FROM b AT TIME ZONE 'UTC') - extract(month FROM a AT TIME ZONE 'UTC'))::bigint
           / substring(tf FROM '^[0-9]+')::bigint
         ELSE floor(extract(epoch FROM b - a) / extract(epoch FROM timeframe_interval(tf)))::bigint
       END
$$;

-- How each fact table is cut: the time column and the span of one partition.
CREATE TABLE fact_partitioning (
  table_name  text PRIMARY KEY,
  time_column text NOT NULL,
  span        text NOT NULL CHECK (span IN ('day', 'month'))
);
INSERT INTO fact_partitioning VALUES
  ('ohlcv', 'open_time', 'month'),
  ('trades', 'ts', 'day'),
  ('ticker_snapshots', 'ts', 'day'),
  ('orderbook_levels', 'ts', 'day'),
  ('funding_rates', 'ts', 'month');

-- Creates the partitions of `parent` that hold `times` and do not exist yet (<parent>_YYYYMMDD or _YYYYMM, UTC);
-- returns how many it created. Safe when several sessions ask for the same partition at once. It runs with the
-- rights of the role that ran the migrations (the tables' owner), so a writer role with only DML rights on the
-- tables can still have the next day's partition made; it only ever creates partitions of the fact tables above.
CREATE FUNCTION ensure_partitions(parent text, times timestamptz[]) RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path FROM CURRENT AS $$
DECLARE
  s       text;
  start   timestamp;
  name    text;
  created integer := 0;
  locked  boolean := false;
BEGIN
  SELECT span INTO s FROM fact_partitioning WHERE table_name = parent;
  IF s IS NULL THEN
    RAISE EXCEPTION 'table % is not partitioned by time', parent;
  END IF;
  FOR start IN SELECT DISTINCT date_trunc(s, t AT TIME ZONE 'UTC') FROM unnest(times) AS u (t) WHERE t IS NOT NULL LOOP
    name := parent || '_' || to_char(start, CASE s WHEN 'day' THEN 'YYYYMMDD' ELSE 'YYYYMM' END);
    IF to_regclass(quote_ident(name)) IS NULL THEN
      -- One lock per table, not per partition: creating a partition holds the table's exclusive lock until the end
      -- of the transaction, so two sessions each making one of two partitions of a table would wait on each other.
      IF NOT locked THEN
        PERFORM pg_advisory_xact_lock(hashtextextended('partitions:' || parent, 0));
        locked := true;
      END IF;
      -- Asked again with a query, not to_regclass: a query's snapshot, taken after the lock, sees a partition another
      -- session committed meanwhile; the catalog cache to_regclass reads may not have caught up yet.
      IF NOT EXISTS (SELECT 1 FROM pg_class WHERE relname = name AND relnamespace = current_schema()::regnamespace) THEN
        EXECUTE format('CREATE TABLE IF NOT EXISTS %I PARTITION OF %I FOR VALUES FROM (%L) TO (%L)', name, parent,
                       start AT TIME ZONE 'UTC', (start + ('1 ' || s)::interval) AT TIME ZONE 'UTC');
        created := created + 1;
      END IF;
    END IF;
  END LOOP;
  RETURN created;
END
$$;

-- The views read the tables being replaced; they are created again below.
DROP VIEW ohlcv_gaps;
DROP VIEW dq_unknown_symbols;
DROP VIEW trades_derived;
DROP VIEW ticker_snapshots_derived;

-- Moves `t` aside, creates it again partitioned by `time_column` with the same columns, defaults, NOT NULLs and
-- checks (LIKE ... INCLUDING ALL would copy the primary key without the partition key), creates the partitions its
-- rows need plus the current and the next one, copies every row and drops the old table.
CREATE FUNCTION pg_temp.partition_table(t text, key_columns text) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
  col   text;
  times timestamptz[];
  n_old bigint;
  n_new bigint;
BEGIN
  SELECT time_column INTO col FROM fact_partitioning WHERE table_name = t;
  EXECUTE format('ALTER TABLE %I RENAME TO %I', t, t || '_unpartitioned');
  EXECUTE format('ALTER INDEX %I RENAME TO %I', t || '_pkey', t || '_unpartitioned_pkey');
  EXECUTE format('CREATE TABLE %I (LIKE %I INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING COMMENTS, PRIMARY KEY (%s)) PARTITION BY RANGE (%I)',
                 t, t || '_unpartitioned', key_columns, col);
  EXECUTE format('SELECT array_agg(DISTINCT date_trunc(%L, %I AT TIME ZONE ''UTC'') AT TIME ZONE ''UTC'') FROM %I',
                 (SELECT span FROM fact_partitioning WHERE table_name = t), col, t || '_unpartitioned')
     INTO times;
  PERFORM ensure_partitions(t, coalesce(times, '{}') || ARRAY[now(), now() + interval '1 month']);
  EXECUTE format('INSERT INTO %I SELECT * FROM %I', t, t || '_unpartitioned');
  EXECUTE format('SELECT count(*) FROM %I', t || '_unpartitioned') INTO n_old;
  EXECUTE format('SELECT count(*) FROM %I', t) INTO n_new;
  IF n_old <> n_new THEN
    RAISE EXCEPTION 'partitioning %: % rows before, % after', t, n_old, n_new;
  END IF;
  EXECUTE format('DROP TABLE %I', t || '_unpartitioned');
END
$$;

SELECT pg_temp.partition_table('ohlcv', 'exchange, symbol, timeframe, open_time');
-- A trade's time is part of its key now (a partitioned table's keys include the partition column); an exchange's
-- trade id names one trade at one time, so the rows a key identifies are the same.
SELECT pg_temp.partition_table('trades', 'exchange, symbol, trade_id, ts');
DROP INDEX IF EXISTS trades_by_time;
CREATE INDEX trades_by_time ON trades (exchange, symbol, ts);
SELECT pg_temp.partition_table('ticker_snapshots', 'exchange, symbol, ts');
SELECT pg_temp.partition_table('orderbook_levels', 'exchange, symbol, ts, side, level');
SELECT pg_temp.partition_table('funding_rates', 'exchange, symbol, ts');

-- OHLCV coverage per series and bucket (the UTC day for timeframes under a day, else the UTC year): one bit per
-- candle slot of the timeframe's grid (shared/time.ts candleOpen) for closed candles and for candles still open, and
-- what the reports read: counts, bounds and the holes between closed candles inside the bucket.
CREATE TABLE ohlcv_coverage (
  exchange     text        NOT NULL,
  symbol       text        NOT NULL,
  timeframe    text        NOT NULL,
  bucket       timestamptz NOT NULL,
  closed_bits  bytea       NOT NULL,
  open_bits    bytea       NOT NULL,
  closed       integer     NOT NULL,
  open         integer     NOT NULL,
  first_open   timestamptz NOT NULL,
  last_open    timestamptz NOT NULL,
  first_closed timestamptz,
  last_closed  timestamptz,
  hole_starts  timestamptz[] NOT NULL,
  hole_ends    timestamptz[] NOT NULL,
  hole_missing integer[]   NOT NULL,
  PRIMARY KEY (exchange, symbol, timeframe, bucket)
);

-- Coverage of the other time series per UTC day: records (order books: snapshots) and their first and last time.
CREATE TABLE series_coverage (
  exchange text        NOT NULL,
  dataset  text        NOT NULL CHECK (dataset IN ('trades', 'tickers', 'orderbook', 'funding')),
  symbol   text        NOT NULL,
  day      date        NOT NULL,
  records  bigint      NOT NULL,
  first_ts timestamptz NOT NULL,
  last_ts  timestamptz NOT NULL,
  PRIMARY KEY (exchange, dataset, symbol, day)
);

-- Gaps from the coverage: holes inside a bucket, and holes between the last closed candle of one bucket and the
-- first closed candle of the next bucket that has one. Same meaning as before (see 003).
CREATE VIEW ohlcv_gaps AS
SELECT c.exchange, c.symbol, c.timeframe, h.gap_start, h.gap_end, h.missing::bigint AS missing_candles
  FROM ohlcv_coverage c
 CROSS JOIN LATERAL unnest(c.hole_starts, c.hole_ends, c.hole_missing) AS h (gap_start, gap_end, missing)
UNION ALL
SELECT exchange, symbol, timeframe, next_open(timeframe, prev_last) AS gap_start, first_closed AS gap_end,
       candles_between(timeframe, next_open(timeframe, prev_last), first_closed) AS missing_candles
  FROM (SELECT exchange, symbol, timeframe, first_closed,
               lag(last_closed) OVER (PARTITION BY exchange, symbol, timeframe ORDER BY bucket) AS prev_last
          FROM ohlcv_coverage WHERE closed > 0) b
 WHERE prev_last IS NOT NULL AND first_closed > next_open(timeframe, prev_last);

CREATE VIEW dq_unknown_symbols AS
SELECT d.exchange, d.dataset, d.symbol
FROM (
  SELECT DISTINCT exchange, 'ohlcv' AS dataset, symbol FROM ohlcv_coverage
  UNION SELECT DISTINCT exchange, dataset, symbol FROM series_coverage
) d
WHERE EXISTS (SELECT 1 FROM instruments i WHERE i.exchange = d.exchange)
  AND NOT EXISTS (SELECT 1 FROM instruments i WHERE i.exchange = d.exchange AND i.symbol = d.symbol);

CREATE VIEW trades_derived AS
SELECT t.*,
       CASE
         WHEN i.symbol IS NULL THEN CASE WHEN t.symbol LIKE '%:%' THEN NULL ELSE t.price * t.amount END
         WHEN i.type = 'spot' OR i.contract_size IS NULL THEN t.price * t.amount
         WHEN i.inverse THEN t.amount * i.contract_size / NULLIF(t.price, 0)
         ELSE t.price * t.amount * i.contract_size
       END AS cost_derived
FROM trades t
LEFT JOIN instruments i ON i.exchange = t.exchange AND i.symbol = t.symbol;

CREATE VIEW ticker_snapshots_derived AS
SELECT t.*,
       d.open_derived,
       t.last - d.open_used                                  AS change_derived,
       (t.last - d.open_used) / NULLIF(d.open_used, 0) * 100 AS percentage_derived,
       (d.open_used + t.last) / 2                            AS average_derived,
       t.quote_volume / NULLIF(t.base_volume, 0)             AS vwap_derived,
       t.base_volume * t.vwap                                AS quote_volume_derived
FROM ticker_snapshots t
CROSS JOIN LATERAL (
  SELECT o.open_derived, coalesce(t.open, o.open_derived) AS open_used
  FROM (
    SELECT CASE
             WHEN t.change IS NOT NULL THEN t.last - t.change
             WHEN t.percentage IS NOT NULL THEN t.last / NULLIF(1 + t.percentage / 100, 0)
           END AS open_derived
  ) o
) d;
