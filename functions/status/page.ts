// The status page as server-rendered HTML: catalogue with freshness, coverage strips, gaps with repair commands,
// data-quality findings, runs, rejected objects and dead letters; a little inline script (filters, copy buttons).
import { DATASETS } from '../../shared/events/schemas.ts';
import type { CatalogueEntry, CoverageSegment, SeriesCoverage } from '../../shared/report/queries.ts';
import type { RepairableGap, StatusReport } from '../../shared/report/status.ts';
import { markup, raw, type Html } from './html.ts';

/** The query as the request gave it (validated), kept in every link and in the form. */
export interface PageQuery {
  exchange?: string | undefined;
  dataset?: string | undefined;
  from?: string | undefined;
  to?: string | undefined;
  range?: string | undefined;
}

/** `?…` for the query with some fields changed (undefined removes one); `./` when nothing is left. */
export function href(q: PageQuery, changes: PageQuery = {}): string {
  const merged: Record<string, string | undefined> = { ...q, ...changes };
  const p = new URLSearchParams();
  for (const k of ['exchange', 'dataset', 'from', 'to', 'range'])
    if (merged[k] !== undefined && merged[k] !== '') p.set(k, merged[k] as string);
  const s = p.toString();
  return s === '' ? './' : `?${s}`;
}

/** `2026-11-24 00:04Z` (seconds only when not zero). */
export function shortTime(iso: string | null | undefined): string {
  if (!iso) return '—';
  const t = iso.replace('T', ' ').replace(/\.\d{3}Z$/, 'Z');
  return t.endsWith(':00Z') ? `${t.slice(0, -4)}Z` : t;
}

/** 45 s, 3 min, 2 h 5 min, 3 d 4 h. */
export function duration(seconds: number | null): string {
  if (seconds === null) return '—';
  const s = Math.abs(Math.round(seconds));
  const sign = seconds < 0 ? '−' : '';
  if (s < 120) return `${sign}${s} s`;
  if (s < 7200) return `${sign}${Math.round(s / 60)} min`;
  if (s < 2 * 86400) return `${sign}${Math.floor(s / 3600)} h ${Math.round((s % 3600) / 60)} min`;
  return `${sign}${Math.floor(s / 86400)} d ${Math.round((s % 86400) / 3600)} h`;
}

const FRESHNESS_LABEL: Record<CatalogueEntry['freshness'], string> = {
  ok: 'fresh',
  late: 'late',
  stale: 'stale',
  unscheduled: 'on demand',
};

const STATE_LABEL: Record<CoverageSegment['state'], string> = {
  present: 'loaded',
  open: 'not closed',
  missing: 'missing (gap)',
  late: 'not loaded yet',
  pending: 'interval running',
};

const seriesKey = (exchange: string, symbol: string, timeframe: string) =>
  `${exchange}\n${symbol}\n${timeframe}`;

/** The gap (index into `gaps`) a missing segment belongs to, or -1. */
function gapOf(gaps: RepairableGap[], c: SeriesCoverage, seg: CoverageSegment): number {
  return gaps.findIndex(
    (g) =>
      g.exchange === c.exchange &&
      g.symbol === c.symbol &&
      g.timeframe === c.timeframe &&
      g.start <= seg.start &&
      g.end >= seg.end,
  );
}

/** The coverage strip of one series over [from, to): an SVG where every run of slots is a rect, gaps on top. */
function strip(c: SeriesCoverage, from: number, to: number, gaps: RepairableGap[]): Html {
  const W = 1000;
  const x = (t: number) => ((Math.min(Math.max(t, from), to) - from) / (to - from)) * W;
  const order: Array<CoverageSegment['state']> = ['present', 'open', 'pending', 'late', 'missing'];
  const segs = [...c.segments].sort((a, b) => order.indexOf(a.state) - order.indexOf(b.state));
  const rects = segs.map((seg) => {
    const x0 = x(Date.parse(seg.start));
    const x1 = x(Date.parse(seg.end));
    // A gap of one candle in a long range stays visible.
    const width = Math.max(x1 - x0, seg.state === 'missing' || seg.state === 'late' ? 3 : 0);
    const left = Math.min(x0, W - width);
    const gap = seg.state === 'missing' ? gapOf(gaps, c, seg) : -1;
    const plural = seg.candles === 1 ? '' : 's';
    const title =
      `${STATE_LABEL[seg.state]}: ${seg.candles} candle${plural}, ${shortTime(seg.start)} – ${shortTime(seg.end)}` +
      (gap >= 0 ? `\nfill it with: ${gaps[gap]?.repair ?? ''}` : '');
    const rect = markup`<rect class="seg ${seg.state}" x="${left.toFixed(2)}" y="0" width="${width.toFixed(2)}" height="18" data-state="${seg.state}" data-start="${seg.start}" data-end="${seg.end}" data-candles="${seg.candles}"><title>${title}</title></rect>`;
    return gap >= 0 ? markup`<a href="#gap-${gap}" class="gap-link" data-gap="${gap}">${rect}</a>` : rect;
  });
  const firstX = x(Date.parse(c.first));
  const before =
    firstX > 0
      ? markup`<rect class="before" x="0" y="0" width="${firstX.toFixed(2)}" height="18"><title>before the first candle (${shortTime(c.first)})</title></rect>`
      : '';
  return markup`<svg class="strip" viewBox="0 0 ${W} 18" preserveAspectRatio="none" role="img" aria-label="coverage of ${c.exchange} ${c.symbol} ${c.timeframe}"><rect class="bg" x="0" y="0" width="${W}" height="18"></rect>${before}${rects}</svg>`;
}

function badge(e: CatalogueEntry): Html {
  const every =
    e.everySeconds === null ? 'on demand (no schedule)' : `expected every ${duration(e.everySeconds)}`;
  return markup`<span class="badge ${e.freshness}" title="${FRESHNESS_LABEL[e.freshness]}: lag ${duration(e.lagSeconds)}, ${every}">${FRESHNESS_LABEL[e.freshness]}</span>`;
}

function coverageCell(
  s: StatusReport,
  e: CatalogueEntry,
  c: SeriesCoverage | undefined,
  skippedSlots: number | undefined,
): Html {
  if (e.dataset !== 'ohlcv') return markup`<span class="muted">—</span>`;
  if (skippedSlots !== undefined)
    return markup`<span class="muted">too many candles for this range (${skippedSlots}); narrow it</span>`;
  if (!c) return markup`<span class="muted">no candles in this range</span>`;
  const expected = c.counts.present + c.counts.open + c.counts.missing + c.counts.late;
  const missing = c.counts.missing > 0 ? markup`, <b class="bad">${c.counts.missing} missing</b>` : '';
  const late = c.counts.late > 0 ? markup`, <b class="warn">${c.counts.late} not loaded yet</b>` : '';
  return markup`${strip(c, Date.parse(s.range.from), Date.parse(s.range.to), s.gaps)}<div class="strip-note">${c.counts.present + c.counts.open} of ${expected} candles${missing}${late}</div>`;
}

function seriesTable(s: StatusReport, q: PageQuery): Html {
  const coverage = new Map(s.coverage.series.map((c) => [seriesKey(c.exchange, c.symbol, c.timeframe), c]));
  const skipped = new Map(
    s.coverage.skipped.map((c) => [seriesKey(c.exchange, c.symbol, c.timeframe), c.slots]),
  );
  if (s.catalogue.length === 0) {
    const ex = q.exchange ? markup` for exchange <b>${q.exchange}</b>` : '';
    const ds = q.dataset ? markup` in dataset <b>${q.dataset}</b>` : '';
    return markup`<p class="empty">No data${ex}${ds} yet.</p>`;
  }
  const rows = s.catalogue.map((e) => {
    const key = seriesKey(e.exchange, e.symbol, e.series);
    const firstGap = s.gaps.findIndex(
      (g) =>
        e.dataset === 'ohlcv' &&
        g.exchange === e.exchange &&
        g.symbol === e.symbol &&
        g.timeframe === e.series,
    );
    const gaps =
      e.dataset !== 'ohlcv'
        ? '—'
        : e.gaps === 0
          ? '0'
          : markup`<a class="bad" href="${firstGap >= 0 ? `#gap-${firstGap}` : '#gaps'}" title="${e.missingCandles} candles missing in all">${e.gaps}</a>`;
    const findings = e.findings > 0 ? markup`<a class="warn" href="#quality">${e.findings}</a>` : '0';
    const symbol = e.symbol === '' ? markup`<span class="muted">all instruments</span>` : e.symbol;
    return markup`<tr data-series="${e.exchange}|${e.dataset}|${e.symbol}|${e.series}" data-freshness="${e.freshness}">
<td>${badge(e)}</td>
<td><a href="${href(q, { exchange: e.exchange })}">${e.exchange}</a></td>
<td><a href="${href(q, { dataset: e.dataset })}">${e.dataset}</a></td>
<td class="sym">${symbol}</td><td>${e.series}</td>
<td class="t">${shortTime(e.first)}</td><td class="t">${shortTime(e.lastClosed ?? e.last)}</td>
<td class="num">${duration(e.lagSeconds)}</td><td class="num">${e.records.toLocaleString('en-US')}</td>
<td class="num">${gaps}</td><td class="num">${findings}</td>
<td class="cov">${coverageCell(s, e, coverage.get(key), skipped.get(key))}</td></tr>`;
  });
  return markup`<table class="series"><thead><tr><th>freshness</th><th>exchange</th><th>dataset</th><th>symbol</th><th>tf</th><th>first</th><th>latest</th><th class="num">lag</th><th class="num">records</th><th class="num">gaps</th><th class="num">findings</th>
<th class="cov"><div class="axis"><span>${shortTime(s.range.from)}</span><span>coverage (UTC)</span><span>${shortTime(s.range.to)}</span></div></th></tr></thead>
<tbody>${rows}</tbody></table>
<p class="legend"><span class="sw present"></span>loaded <span class="sw open"></span>not closed <span class="sw missing"></span>missing (gap: click it for the repair command) <span class="sw late"></span>not loaded yet (the next run catches up) <span class="sw pending"></span>interval running <span class="sw before"></span>before the first candle, or future</p>`;
}

function gapsSection(s: StatusReport): Html {
  if (s.gaps.length === 0) return markup`<p class="empty ok">No gaps in this range.</p>`;
  const rows = s.gaps.map(
    (g, i) =>
      markup`<tr id="gap-${i}" class="gap-row" data-series="${g.exchange}|ohlcv|${g.symbol}|${g.timeframe}" data-start="${g.start}" data-end="${g.end}">
<td>${g.exchange} <span class="sym">${g.symbol}</span> ${g.timeframe}</td><td class="t">${shortTime(g.start)}</td><td class="t">${shortTime(g.end)}</td><td class="num bad">${g.missingCandles}</td>
<td><div class="cmd"><code id="repair-${i}">${g.repair}</code><button type="button" class="copy" data-copy="repair-${i}">copy</button></div></td></tr>`,
  );
  return markup`<table><thead><tr><th>series</th><th>from</th><th>to</th><th class="num">missing</th><th>fill it with</th></tr></thead><tbody>${rows}</tbody></table>`;
}

function qualitySection(s: StatusReport): Html {
  if (s.findings.length === 0) return markup`<p class="empty ok">No data-quality findings.</p>`;
  const summary = s.findings.map(
    (f) =>
      markup`<tr><td>${f.exchange}</td><td>${f.dataset}</td><td><span class="pill warn">${f.check}</span></td><td class="num">${f.count}</td><td class="t">${shortTime(f.latest)}</td></tr>`,
  );
  const recent = s.recentFindings.map(
    (f) =>
      markup`<tr><td class="t">${shortTime(f.ts)}</td><td>${f.exchange} ${f.dataset} <span class="sym">${f.symbol}</span> ${f.series}</td><td>${f.check}</td><td><code>${f.details}</code></td><td class="key">${f.sourceKey}</td></tr>`,
  );
  return markup`<table><thead><tr><th>exchange</th><th>dataset</th><th>check</th><th class="num">count</th><th>latest</th></tr></thead><tbody>${summary}</tbody></table>
<details><summary>the newest ${s.recentFindings.length} findings with their details</summary><table><thead><tr><th>time</th><th>series</th><th>check</th><th>details</th><th>raw object</th></tr></thead><tbody>${recent}</tbody></table></details>`;
}

function runsSection(s: StatusReport): Html {
  const r = s.runs;
  if (r.streams.length === 0) return markup`<p class="empty">No runs recorded in ingestion_ledger yet.</p>`;
  const now = Date.parse(s.generatedAt);
  const streams = r.streams.map((x) => {
    const ago = x.lastLoadedAt
      ? markup` <span class="muted">(${duration((now - Date.parse(x.lastLoadedAt)) / 1000)} ago)</span>`
      : '';
    const event = x.lastEventId ? markup`<br><span class="muted">batch ${x.lastEventId}</span>` : '';
    const lastReject = x.lastRejectedAt ? markup`${shortTime(x.lastRejectedAt)}: ${x.lastRejectReason}` : '—';
    return markup`<tr><td>${x.exchange}</td><td>${x.dataset}</td><td class="t">${shortTime(x.lastLoadedAt)}${ago}</td>
<td class="key">${x.lastKey ?? '—'}${event}</td><td class="num">${x.objects}</td><td class="num">${x.rows.toLocaleString('en-US')}</td><td class="num">${x.findings}</td>
<td class="num${x.rejected > 0 ? ' bad' : ''}">${x.rejected}</td><td>${lastReject}</td></tr>`;
  });
  const recent = r.recent.map(
    (x) =>
      markup`<tr><td><span class="pill ${x.status === 'loaded' ? 'ok' : 'bad'}">${x.status}</span></td><td class="t">${shortTime(x.at)}</td><td>${x.exchange ?? '—'}</td><td>${x.dataset ?? '—'}</td><td class="key">${x.key}</td><td class="num">${x.rows ?? '—'}</td><td>${x.reason ?? ''}</td></tr>`,
  );
  return markup`<table><thead><tr><th>exchange</th><th>dataset</th><th>last load (transform)</th><th>its raw object (load-raw) · batch (extract)</th><th class="num">objects</th><th class="num">rows</th><th class="num">findings</th><th class="num">rejected</th><th>last rejection</th></tr></thead><tbody>${streams}</tbody></table>
<p class="hint">objects, rows, findings and rejected count the range shown.</p>
<details open><summary>the newest ${r.recent.length} runs</summary><table><thead><tr><th>status</th><th>time</th><th>exchange</th><th>dataset</th><th>raw object</th><th class="num">rows</th><th>reason</th></tr></thead><tbody>${recent}</tbody></table></details>`;
}

function rejectedSection(s: StatusReport): Html {
  if (s.rejected.length === 0) return markup`<p class="empty ok">No rejected objects.</p>`;
  const rows = s.rejected.map(
    (x) =>
      markup`<tr class="rejected-row"><td class="t">${shortTime(x.at)}</td><td class="key">${x.key}</td><td><span class="pill bad">${x.reason}</span></td></tr>`,
  );
  return markup`<table><thead><tr><th>rejected</th><th>raw object</th><th>reason</th></tr></thead><tbody>${rows}</tbody></table>
<p class="hint">Once the cause is fixed: <code>npm run reprocess -- --prefix=&lt;key prefix&gt;</code></p>`;
}

function deadLetterSection(s: StatusReport): Html {
  const d = s.deadLetters;
  if (d.error !== undefined) return markup`<p class="empty bad">${d.error}</p>`;
  if (d.items.length === 0) {
    const inBucket = d.listed > 0 ? ` for this filter (${d.listed} in the bucket)` : '';
    return markup`<p class="empty ok">No dead letters${inBucket}.</p>`;
  }
  const rows = d.items.map(
    (x) =>
      markup`<tr class="dead-letter-row"><td class="t">${x.time ?? '—'}</td><td>${x.type ?? '—'}<br><span class="muted">${x.id ?? ''}</span></td><td>${x.exchange ?? '—'}</td><td>${x.dataset ?? '—'}</td><td class="num bad">${x.code ?? '—'}</td><td class="key">${x.destination ?? '—'}</td><td class="reason">${x.reason ?? '—'}</td><td class="key">${x.key}</td></tr>`,
  );
  return markup`<p class="hint">${d.listed} in the bucket; the newest ${d.items.length} of this filter shown (${d.scanned} read). Send them back with <code>npm run replay -- --to=&lt;broker URL&gt;</code>.</p>
<table><thead><tr><th>arrived</th><th>event</th><th>exchange</th><th>dataset</th><th>code</th><th>refused by</th><th>reason</th><th>key</th></tr></thead><tbody>${rows}</tbody></table>`;
}

function filters(s: StatusReport, q: PageQuery): Html {
  const exchanges = [...new Set([...s.exchanges, ...(q.exchange ? [q.exchange] : [])])].sort();
  const option = (value: string, label: string, selected: boolean) =>
    markup`<option value="${value}"${selected ? raw(' selected') : ''}>${label}</option>`;
  const chip = (label: string, changes: PageQuery, active: boolean) =>
    markup`<a class="chip${active ? ' active' : ''}" href="${href(q, changes)}">${label}</a>`;
  const noRange = { range: undefined, from: undefined, to: undefined };
  const keepRange = q.range && !q.from ? markup`<input type="hidden" name="range" value="${q.range}">` : '';
  return markup`<form class="filters" method="get" action="">
<label>exchange <select name="exchange" id="f-exchange">${option('', 'all', !q.exchange)}${exchanges.map((x) => option(x, x, x === q.exchange))}</select></label>
<label>dataset <select name="dataset" id="f-dataset">${option('', 'all', !q.dataset)}${DATASETS.map((x) => option(x, x, x === q.dataset))}</select></label>
<label>from <input name="from" id="f-from" value="${q.from ?? ''}" placeholder="${shortTime(s.range.from)}" size="24"></label>
<label>to <input name="to" id="f-to" value="${q.to ?? ''}" placeholder="now" size="24"></label>${keepRange}
<button type="submit">apply</button>
<span class="chips">range ${chip('6 h', { ...noRange, range: '6h' }, q.range === '6h' && !q.from)}${chip('24 h', noRange, !q.range && !q.from && !q.to)}${chip('7 d', { ...noRange, range: '7d' }, q.range === '7d' && !q.from)}</span>
</form>
<nav class="chips exchanges">${chip('all exchanges', { exchange: undefined }, !q.exchange)}${exchanges.map((x) => chip(x, { exchange: x }, x === q.exchange))}<span class="sep"></span>${chip('all datasets', { dataset: undefined }, !q.dataset)}${DATASETS.map((x) => chip(x, { dataset: x }, x === q.dataset))}</nav>`;
}

function tiles(s: StatusReport): Html {
  const m = s.summary;
  const tile = (label: string, value: number | string, cls: string, target: string) =>
    markup`<a class="tile ${cls}" href="#${target}"><span class="v">${value}</span><span class="l">${label}</span></a>`;
  const level = (n: number | null, bad: string) => (n === null ? 'warn' : n > 0 ? bad : 'ok');
  return markup`<div class="tiles">${[
    tile('series', m.series, '', 'series'),
    tile('fresh', m.ok, m.ok > 0 ? 'ok' : '', 'series'),
    tile('late', m.late, m.late > 0 ? 'warn' : '', 'series'),
    tile('stale', m.stale, m.stale > 0 ? 'bad' : '', 'series'),
    tile(`gaps in range (${m.missingCandles} candles)`, m.gaps, level(m.gaps, 'bad'), 'gaps'),
    tile('data-quality findings', m.findings, level(m.findings, 'warn'), 'quality'),
    tile('rejected objects', m.rejected, level(m.rejected, 'bad'), 'rejected'),
    tile('dead letters', m.deadLetters ?? '?', level(m.deadLetters, 'bad'), 'dead-letters'),
  ]}</div>`;
}

const STYLE = `
:root{--ok:#2f9e5b;--okl:#a8dfbd;--warn:#e3a008;--bad:#d64545;--mute:#6b7280;--line:#e5e7eb;--bg:#f5f6f8;--none:#eceef2}
*{box-sizing:border-box}body{margin:0;font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1f2933;background:var(--bg)}
header{display:flex;align-items:baseline;gap:16px;padding:14px 24px;background:#1f2933;color:#fff}header h1{font-size:18px;margin:0}
header .meta{color:#cbd2d9;font-size:13px}header .meta a{color:#cbd2d9}
main{padding:4px 24px 32px}section{background:#fff;border:1px solid var(--line);border-radius:8px;padding:12px 16px;margin:14px 0}
h2{font-size:15px;margin:2px 0 10px}h2 .count{color:var(--mute);font-weight:normal;margin-left:4px}
table{border-collapse:collapse;width:100%}th,td{text-align:left;padding:5px 8px;border-bottom:1px solid var(--line);vertical-align:middle}
th{font-size:12px;color:var(--mute);font-weight:600;white-space:nowrap}tbody tr:hover{background:#fafbfc}
td.num,th.num{text-align:right;white-space:nowrap}td.t{white-space:nowrap;font-variant-numeric:tabular-nums}.sym{font-weight:600}
.key{font:12px ui-monospace,SFMono-Regular,Menlo,monospace;word-break:break-all;color:#374151}
a{color:#1d4ed8}.muted{color:var(--mute)}.bad{color:var(--bad)}.warn{color:#b7791f}.ok{color:var(--ok)}
th.cov,td.cov{width:36%;min-width:300px}.axis{display:flex;justify-content:space-between;font-weight:normal}
svg.strip{display:block;width:100%;height:18px;border-radius:3px}
.strip .bg{fill:var(--none)}.strip .before{fill:#f7f8fa}.seg.present{fill:var(--ok)}.seg.open{fill:var(--okl)}.seg.missing{fill:var(--bad)}
.seg.late{fill:var(--warn)}.seg.pending{fill:#c7d2fe}.gap-link{cursor:pointer}.gap-link:hover .seg{fill:#9b1c1c}.strip-note{font-size:11px;color:var(--mute)}
.badge{display:inline-block;padding:1px 8px;border-radius:10px;font-size:12px;font-weight:600;color:#fff;white-space:nowrap}
.badge.ok{background:var(--ok)}.badge.late{background:var(--warn)}.badge.stale{background:var(--bad)}.badge.unscheduled{background:#9ca3af}
.pill{display:inline-block;padding:0 7px;border-radius:9px;font-size:12px;border:1px solid currentColor;white-space:nowrap}
.tiles{display:flex;flex-wrap:wrap;gap:10px;margin:14px 0}
.tile{flex:1 1 130px;background:#fff;border:1px solid var(--line);border-left:4px solid #9ca3af;border-radius:6px;padding:8px 12px;text-decoration:none;color:inherit}
.tile .v{display:block;font-size:22px;font-weight:700}.tile .l{font-size:12px;color:var(--mute)}
.tile.ok{border-left-color:var(--ok)}.tile.warn{border-left-color:var(--warn)}.tile.bad{border-left-color:var(--bad)}
form.filters{display:flex;flex-wrap:wrap;align-items:center;gap:12px;margin:0}form.filters label{font-size:12px;color:var(--mute)}
form.filters select,form.filters input{font:inherit;padding:3px 6px;border:1px solid #cbd2d9;border-radius:4px;background:#fff;color:#1f2933}
button{font:inherit;font-size:12px;padding:3px 10px;border:1px solid #cbd2d9;border-radius:4px;background:#fff;cursor:pointer}button:hover{background:#f3f4f6}
.chips{display:inline-flex;flex-wrap:wrap;gap:6px;align-items:center;font-size:12px;color:var(--mute)}
.chip{padding:2px 10px;border:1px solid #cbd2d9;border-radius:12px;text-decoration:none;color:#374151;background:#fff}
.chip.active{background:#1f2933;color:#fff;border-color:#1f2933}nav.exchanges{margin-top:10px}.sep{width:14px}
.legend{font-size:12px;color:var(--mute);margin:8px 0 0}.sw{display:inline-block;width:12px;height:12px;border-radius:2px;vertical-align:-2px;margin:0 4px 0 10px}
.sw.present{background:var(--ok)}.sw.open{background:var(--okl)}.sw.missing{background:var(--bad)}.sw.late{background:var(--warn)}.sw.pending{background:#c7d2fe}.sw.before{background:var(--none)}
.cmd{display:flex;gap:8px;align-items:center}code{font:12px ui-monospace,SFMono-Regular,Menlo,monospace;background:#f3f4f6;padding:2px 6px;border-radius:4px;word-break:break-all}
.empty{color:var(--mute);margin:4px 0}.empty.ok{color:var(--ok)}.hint{font-size:12px;color:var(--mute)}details{margin-top:10px}summary{cursor:pointer;color:#374151;font-size:13px}
td.reason{max-width:420px;word-break:break-word}footer{color:var(--mute);font-size:12px;padding:0 24px 24px}footer a{color:var(--mute)}
tr:target{background:#fff7d6}.error-message{font-size:15px}`;

const SCRIPT = `
document.querySelectorAll('form.filters select').forEach(function (s) {
  s.addEventListener('change', function () { s.form.requestSubmit ? s.form.requestSubmit() : s.form.submit(); });
});
document.querySelectorAll('form.filters').forEach(function (f) {
  f.addEventListener('submit', function () {
    f.querySelectorAll('input,select').forEach(function (el) { if (el.value === '') el.disabled = true; });
  });
});
document.addEventListener('click', function (e) {
  var b = e.target.closest && e.target.closest('button[data-copy]');
  if (!b) return;
  var code = document.getElementById(b.getAttribute('data-copy'));
  var done = function (ok) { b.textContent = ok ? 'copied' : 'press Ctrl-C'; setTimeout(function () { b.textContent = 'copy'; }, 1500); };
  var select = function () {
    var r = document.createRange(); r.selectNodeContents(code);
    var s = window.getSelection(); s.removeAllRanges(); s.addRange(r);
    var ok = false; try { ok = document.execCommand('copy'); } catch (x) { ok = false; }
    done(ok);
  };
  if (navigator.clipboard && window.isSecureContext) navigator.clipboard.writeText(code.textContent).then(function () { done(true); }, select);
  else select();
});`;

/** The whole page. `nonce` allows the inline style and script under the page's Content-Security-Policy. */
export function renderPage(s: StatusReport, q: PageQuery, nonce: string): string {
  const query = href(q) === './' ? '' : href(q);
  const api = (path: string) => markup`<a href="api/${path}${query}">/api/${path}</a>`;
  const title = `status${q.exchange ? ` · ${q.exchange}` : ''}${q.dataset ? ` · ${q.dataset}` : ''}`;
  return markup`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>crypto pipeline ${title}</title><style nonce="${nonce}">${raw(STYLE)}</style></head>
<body><header><h1>crypto pipeline · status</h1><span class="meta">generated ${shortTime(s.generatedAt)} · range ${shortTime(s.range.from)} – ${shortTime(s.range.to)} (UTC) · <a href="api/status${query}">JSON</a></span></header>
<main>
<section class="controls">${filters(s, q)}</section>
${s.unavailable.map((u) => markup`<p class="empty bad unavailable">${u.part}: not shown, ${u.reason === 'timed_out' ? u.message : `failed: ${u.message}`} (narrow the range or filter by exchange)</p>`)}
${tiles(s)}
<section id="series"><h2>Series<span class="count">${s.catalogue.length}</span></h2>${seriesTable(s, q)}</section>
<section id="gaps"><h2>Gaps in range<span class="count">${s.gaps.length}</span></h2>${gapsSection(s)}</section>
<section id="quality"><h2>Data-quality findings<span class="count">${s.summary.findings}</span></h2>${qualitySection(s)}</section>
<section id="runs"><h2>Runs<span class="count">from ingestion_ledger and rejected_objects</span></h2>${runsSection(s)}</section>
<section id="rejected"><h2>Rejected objects<span class="count">${s.rejected.length}</span></h2>${rejectedSection(s)}</section>
<section id="dead-letters"><h2>Dead letters<span class="count">${s.summary.deadLetters ?? '?'}</span></h2>${deadLetterSection(s)}</section>
</main>
<footer>The same data as JSON: ${['report', 'series', 'coverage', 'gaps', 'runs', 'findings', 'dead-letters', 'status'].map((p, i) => markup`${i > 0 ? ' · ' : ''}${api(p)}`)}</footer>
<script nonce="${nonce}">${raw(SCRIPT)}</script>
</body></html>`.value;
}

/** A page for a refused request (4xx) or a failure (5xx): the message, and a way back. */
export function renderErrorPage(status: number, message: string, nonce: string): string {
  const heading = status >= 500 ? 'The status page cannot answer right now' : 'This request cannot be shown';
  return markup`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>crypto pipeline status · ${status}</title><style nonce="${nonce}">${raw(STYLE)}</style></head>
<body><header><h1>crypto pipeline · status</h1><span class="meta">${status}</span></header>
<main><section><h2 class="${status >= 500 ? 'bad' : 'warn'}">${heading}</h2><p class="error-message">${message}</p><p><a href="./">back to the default view</a></p></section></main>
</body></html>`.value;
}
