// The alert rules: valid for promtool, the same in the plain file and the PrometheusRule, each with a summary and a
// runbook naming an npm script that exists, and `promtool test rules` cases that see every alert fire and stay quiet.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { render } from '../../scripts/deploy.ts';
import { INSTRUMENTS } from '../../shared/telemetry/index.ts';
import { promtool } from '../support/prometheus.ts';

const root = join(import.meta.dirname, '../..');
const RULES = join(root, 'knative/components/monitoring/crypto-pipeline.rules.yaml');
const OPERATOR_RULE = join(root, 'knative/components/monitoring/prometheusrule.yaml');
const CASES = join(root, 'test/monitoring/alerts.promtool.yaml');

interface Rule {
  alert: string;
  expr: string;
  for?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}
interface Cases {
  tests: Array<{ alert_rule_test?: Array<{ alertname: string; exp_alerts: unknown[] }> }>;
}

const plain = parse(readFileSync(RULES, 'utf8')) as { groups: Array<{ name: string; rules: Rule[] }> };
const rules = plain.groups.flatMap((g) => g.rules);
const scripts = Object.keys(
  (JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { scripts: Record<string, string> })
    .scripts,
);
const temp = mkdtempSync(join(tmpdir(), 'alerts-'));
afterAll(() => rmSync(temp, { recursive: true, force: true }));

/**
 * Every series name Prometheus can hold from this project: the status Service's families (as its collector names
 * them) and the functions' instruments as the OpenTelemetry collector's Prometheus exporter names them.
 */
function knownSeries(): Set<string> {
  const status = readFileSync(join(root, 'shared/report/metrics.ts'), 'utf8').matchAll(
    /'(cryptopipe_[a-z_]+)'/g,
  );
  const names = new Set([...status].map((m) => m[1] as string));
  for (const [name, i] of Object.entries(INSTRUMENTS)) {
    if (i.kind === 'sum') names.add(`${name}_total`);
    else if (i.kind === 'gauge') names.add(name);
    else for (const suffix of ['_bucket', '_sum', '_count']) names.add(`${name}${suffix}`);
  }
  return names;
}

const referenced = (expr: string) => [...expr.matchAll(/\b(cryptopipe_[a-z_]+)/g)].map((m) => m[1] as string);

describe('alert rules', () => {
  it('and the Grafana dashboard only query series this project exports', () => {
    const known = knownSeries();
    expect(known.has('cryptopipe_series_freshness_seconds')).toBe(true);
    for (const r of rules) for (const n of referenced(r.expr)) expect(known, `${r.alert}: ${n}`).toContain(n);
    const dashboard = JSON.parse(readFileSync(join(root, 'docs/grafana-dashboard.json'), 'utf8')) as {
      panels: Array<{ title: string; targets: Array<{ expr: string }> }>;
    };
    expect(dashboard.panels.length).toBeGreaterThan(5);
    for (const p of dashboard.panels)
      for (const t of p.targets) {
        expect(referenced(t.expr).length, `${p.title}: ${t.expr}`).toBeGreaterThan(0);
        for (const n of referenced(t.expr)) expect(known, `${p.title}: ${n}`).toContain(n);
      }
  });

  it('are valid rules for promtool', () => {
    const r = promtool(['check', 'rules', RULES]);
    expect(r.output).toMatch(/SUCCESS: \d+ rules found/);
    expect(r.code).toBe(0);
  });

  it('cover the conditions the operator pages on, each with a severity, a summary and a runbook naming an npm script', () => {
    expect(rules.map((r) => r.alert).sort()).toEqual(
      [
        'CryptoDeadLettersWaiting',
        'CryptoExchangeGeoBlocked',
        'CryptoExchangeIpBan',
        'CryptoGapGrowing',
        'CryptoMetricsAbsent',
        'CryptoMetricsPartDown',
        'CryptoObjectsRejected',
        'CryptoSeriesStale',
        'CryptoTransformBehind',
        'CryptoTransformFailing',
      ].sort(),
    );
    for (const r of rules) {
      expect(r.labels?.['severity'], r.alert).toMatch(/^(page|warning)$/);
      expect(r.annotations?.['summary'], r.alert).toBeTruthy();
      const runbook = r.annotations?.['runbook'] ?? '';
      const named = [...runbook.matchAll(/npm run ([a-z:-]+)/g)].map((m) => m[1]);
      if (r.alert !== 'CryptoMetricsAbsent')
        expect(named.length, `${r.alert}: ${runbook}`).toBeGreaterThan(0);
      else expect(runbook).toMatch(/kubectl .*get ksvc status/);
      for (const s of named) expect(scripts, `${r.alert} names npm run ${s}`).toContain(s);
    }
  });

  it('are the same groups in the PrometheusRule, which the prod overlay renders and deploy applies with kubectl', () => {
    const operator = parse(readFileSync(OPERATOR_RULE, 'utf8')) as {
      kind: string;
      metadata: { labels: Record<string, string> };
      spec: unknown;
    };
    expect(operator.kind).toBe('PrometheusRule');
    expect(operator.spec).toEqual(plain);
    const prod = render('prod').find((r) => r.kind === 'PrometheusRule');
    expect(prod?.metadata.labels?.['crypto-pipeline/applied-with']).toBe('kubectl');
    expect((prod as unknown as { spec: unknown }).spec).toEqual(plain);
    expect(render('dev').some((r) => r.kind === 'PrometheusRule')).toBe(false);
  });

  it('promtool test rules: every alert fires in a case and stays quiet in another, and all cases pass', () => {
    const cases = parse(readFileSync(CASES, 'utf8')) as Cases;
    const checks = cases.tests.flatMap((t) => t.alert_rule_test ?? []);
    for (const r of rules) {
      const mine = checks.filter((c) => c.alertname === r.alert);
      expect(
        mine.some((c) => c.exp_alerts.length > 0),
        `${r.alert} fires in a case`,
      ).toBe(true);
      expect(
        mine.some((c) => c.exp_alerts.length === 0),
        `${r.alert} stays quiet in a case`,
      ).toBe(true);
    }
    const r = promtool(['test', 'rules', CASES]);
    expect(r.output).toContain('SUCCESS');
    expect(r.code).toBe(0);
  });

  it('the cases can fail: a rule that waits less than it should is caught', () => {
    const weakened = readFileSync(RULES, 'utf8').replace(
      /(alert: CryptoDeadLettersWaiting[\s\S]*?for: )10m/,
      '$11m',
    );
    expect(weakened).not.toBe(readFileSync(RULES, 'utf8'));
    writeFileSync(join(temp, 'rules.yaml'), weakened);
    const cases = readFileSync(CASES, 'utf8').replace(
      '../../knative/components/monitoring/crypto-pipeline.rules.yaml',
      join(temp, 'rules.yaml'),
    );
    writeFileSync(join(temp, 'cases.yaml'), cases);
    const r = promtool(['test', 'rules', join(temp, 'cases.yaml')]);
    expect(r.code).not.toBe(0);
    expect(r.output).toContain('CryptoDeadLettersWaiting');
  });
});
