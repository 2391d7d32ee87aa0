-- 001: the relational tables of the pipeline, their natural keys, the ingestion ledger and data-quality findings.
-- Prices and amounts are NUMERIC holding the exchange's exact decimal; times are timestamptz (UTC).
-- Every data row carries lineage: source_key, the raw object it came from.

CREATE TABLE instruments (
  exchange         text        NOT NULL,
  symbol           text        NOT NULL,
  market_id        text        NOT NULL,
  type             text        NOT NULL,
  base             text        NOT NULL,
  quote            text        NOT NULL,
  settle           text,
  active           boolean,
  linear           boolean,
  inverse          boolean,
  contract_size    numeric,
  expiry           timestamptz,
  strike           numeric,
  option_type      text,
  price_precision  numeric,
  amount_precision numeric,
  min_amount       numeric,
  min_cost         numeric,
  maker            numeric,
  taker            numeric,
  info             jsonb,
  extracted_at     timestamptz NOT NULL,
  source_key       text        NOT NULL,
  PRIMARY KEY (exchange, symbol)
);

CREATE TABLE ohlcv (
  exchange     text        NOT NULL,
  symbol       text        NOT NULL,
  timeframe    text        NOT NULL,
  open_time    timestamptz NOT NULL,
  open         numeric     NOT NULL,
  high         numeric     NOT NULL,
  low          numeric     NOT NULL,
  close        numeric     NOT NULL,
  volume       numeric,
  closed       boolean     NOT NULL,
  extracted_at timestamptz NOT NULL,
  source_key   text        NOT NULL,
  PRIMARY KEY (exchange, symbol, timeframe, open_time)
);

CREATE TABLE trades (
  exchange       text        NOT NULL,
  symbol         text        NOT NULL,
  trade_id       text        NOT NULL,
  ts             timestamptz NOT NULL,
  side           text,
  price          numeric     NOT NULL,
  amount         numeric     NOT NULL,
  cost           numeric,
  taker_or_maker text,
  source_key     text        NOT NULL,
  PRIMARY KEY (exchange, symbol, trade_id)
);
CREATE INDEX trades_by_time ON trades (exchange, symbol, ts);

CREATE TABLE ticker_snapshots (
  exchange     text        NOT NULL,
  symbol       text        NOT NULL,
  ts           timestamptz NOT NULL,
  exchange_ts  timestamptz,
  bid          numeric,
  bid_volume   numeric,
  ask          numeric,
  ask_volume   numeric,
  last         numeric,
  open         numeric,
  high         numeric,
  low          numeric,
  vwap         numeric,
  base_volume  numeric,
  quote_volume numeric,
  change       numeric,
  percentage   numeric,
  mark_price   numeric,
  index_price  numeric,
  source_key   text        NOT NULL,
  PRIMARY KEY (exchange, symbol, ts)
);

CREATE TABLE orderbook_levels (
  exchange    text        NOT NULL,
  symbol      text        NOT NULL,
  ts          timestamptz NOT NULL,
  side        text        NOT NULL CHECK (side IN ('bid', 'ask')),
  level       integer     NOT NULL,
  price       numeric     NOT NULL,
  amount      numeric     NOT NULL,
  exchange_ts timestamptz,
  nonce       text,
  source_key  text        NOT NULL,
  PRIMARY KEY (exchange, symbol, ts, side, level)
);

CREATE TABLE funding_rates (
  exchange        text        NOT NULL,
  symbol          text        NOT NULL,
  ts              timestamptz NOT NULL,
  exchange_ts     timestamptz,
  funding_rate    numeric,
  funding_ts      timestamptz,
  next_funding_ts timestamptz,
  mark_price      numeric,
  index_price     numeric,
  funding_interval text,
  source_key      text        NOT NULL,
  PRIMARY KEY (exchange, symbol, ts)
);

-- One row per raw object loaded (or being reloaded after its content changed).
CREATE TABLE ingestion_ledger (
  bucket      text        NOT NULL,
  object_key  text        NOT NULL,
  etag        text        NOT NULL,
  status      text        NOT NULL CHECK (status IN ('loaded')),
  exchange    text        NOT NULL,
  dataset     text        NOT NULL,
  event_id    text        NOT NULL,
  rows        integer     NOT NULL,
  row_counts  jsonb       NOT NULL,
  findings    integer     NOT NULL,
  loaded_at   timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (bucket, object_key)
);

-- Raw objects that can never load (invalid JSON, wrong schema): recorded, answered 2xx so MinIO's queue moves on.
CREATE TABLE rejected_objects (
  bucket      text        NOT NULL,
  object_key  text        NOT NULL,
  etag        text        NOT NULL,
  reason      text        NOT NULL,
  details     jsonb,
  rejected_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (bucket, object_key, etag)
);

-- Data-quality findings: the row is kept, the finding is recorded.
CREATE TABLE dq_findings (
  exchange   text        NOT NULL,
  dataset    text        NOT NULL,
  symbol     text        NOT NULL,
  series     text        NOT NULL DEFAULT '',
  ts         timestamptz NOT NULL,
  check_name text        NOT NULL,
  details    jsonb       NOT NULL,
  source_key text        NOT NULL,
  PRIMARY KEY (exchange, dataset, symbol, series, ts, check_name)
);

-- Length of a ccxt timeframe ('1m', '4h', '1d', '1w', '1M') as an interval.
CREATE FUNCTION timeframe_interval(tf text) RETURNS interval
LANGUAGE sql IMMUTABLE STRICT AS $$
  SELECT (substring(tf FROM '^[0-9]+')::int) * CASE substring(tf FROM '[a-zA-Z]+$')
    WHEN 's' THEN interval '1 second'
    WHEN 'm' THEN interval '1 minute'
    WHEN 'h' THEN interval '1 hour'
    WHEN 'd' THEN interval '1 day'
    WHEN 'w' THEN interval '1 week'
    WHEN 'M' THEN interval '1 month'
  END
$$;

-- Missing intervals inside each OHLCV series: [gap_start, gap_end) with the number of candles missing.
CREATE VIEW ohlcv_gaps AS
SELECT exchange, symbol, timeframe,
       prev_open + timeframe_interval(timeframe) AS gap_start,
       open_time                                 AS gap_end,
       (EXTRACT(EPOCH FROM open_time - prev_open) / EXTRACT(EPOCH FROM timeframe_interval(timeframe)))::bigint - 1
                                                 AS missing_candles
FROM (
  SELECT exchange, symbol, timeframe, open_time,
         lag(open_time) OVER (PARTITION BY exchange, symbol, timeframe ORDER BY open_time) AS prev_open
  FROM ohlcv
) s
WHERE prev_open IS NOT NULL AND open_time > prev_open + timeframe_interval(timeframe);

-- Symbols with data but no instrument row (known once the markets dataset was loaded for that exchange).
CREATE VIEW dq_unknown_symbols AS
SELECT d.exchange, d.dataset, d.symbol
FROM (
  SELECT DISTINCT exchange, 'ohlcv' AS dataset, symbol FROM ohlcv
  UNION SELECT DISTINCT exchange, 'trades', symbol FROM trades
  UNION SELECT DISTINCT exchange, 'tickers', symbol FROM ticker_snapshots
  UNION SELECT DISTINCT exchange, 'orderbook', symbol FROM orderbook_levels
  UNION SELECT DISTINCT exchange, 'funding', symbol FROM funding_rates
) d
WHERE EXISTS (SELECT 1 FROM instruments i WHERE i.exchange = d.exchange)
  AND NOT EXISTS (SELECT 1 FROM instruments i WHERE i.exchange = d.exchange AND i.symbol = d.symbol);
