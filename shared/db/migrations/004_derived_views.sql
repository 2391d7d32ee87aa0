-- 004: exchange text in the tables, ccxt's derived values in views. From now on trades.cost and the ticker columns
-- vwap, open, change, percentage, base_volume and quote_volume (like every decimal column) hold only what the
-- exchange sent, as its exact text, or NULL; values ccxt computes from them (trade cost = price x amount, a
-- ticker's change, percentage, vwap, ...) are computed here, in exact NUMERIC, in columns named *_derived.
-- Rows loaded before this migration may still hold ccxt's values in those columns.

COMMENT ON COLUMN trades.cost IS 'Quote cost as the exchange sent it (exact text), else NULL; see trades_derived.cost_derived';
COMMENT ON COLUMN trades.trade_id IS 'The exchange''s trade id; without one: seq:<the exchange''s sequence>, else h:<hash of time, price, amount, side>:<ordinal in the page>';
COMMENT ON COLUMN ticker_snapshots.open IS 'As the exchange sent it, else NULL; see ticker_snapshots_derived.open_derived';
COMMENT ON COLUMN ticker_snapshots.vwap IS 'As the exchange sent it, else NULL; see ticker_snapshots_derived.vwap_derived';
COMMENT ON COLUMN ticker_snapshots.change IS 'As the exchange sent it, else NULL; see ticker_snapshots_derived.change_derived';
COMMENT ON COLUMN ticker_snapshots.percentage IS 'As the exchange sent it (percent), else NULL; see ticker_snapshots_derived.percentage_derived';
COMMENT ON COLUMN ticker_snapshots.quote_volume IS 'As the exchange sent it, else NULL; see ticker_snapshots_derived.quote_volume_derived';

-- cost_derived as ccxt computes it: price x amount, times the contract size for contracts, amount x contract size /
-- price for inverse contracts; NULL for a contract whose instrument is not loaded (its contract size is unknown).
CREATE OR REPLACE VIEW trades_derived AS
SELECT t.*,
       CASE
         WHEN i.symbol IS NULL THEN CASE WHEN t.symbol LIKE '%:%' THEN NULL ELSE t.price * t.amount END
         WHEN i.type = 'spot' OR i.contract_size IS NULL THEN t.price * t.amount
         WHEN i.inverse THEN t.amount * i.contract_size / NULLIF(t.price, 0)
         ELSE t.price * t.amount * i.contract_size
       END AS cost_derived
FROM trades t
LEFT JOIN instruments i ON i.exchange = t.exchange AND i.symbol = t.symbol;

-- Each *_derived column is computed from sent columns only, whether or not the exchange also sent the value:
-- open_derived from last and change (or percentage); the others from open as sent, else open_derived.
CREATE OR REPLACE VIEW ticker_snapshots_derived AS
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
