// The knative/ manifests: generated part up to date, both overlays render, and the rendered chain is wired right.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { baseKustomization, generate } from '../scripts/gen-knative.ts';
import { exchangeIds, readExchanges } from '../scripts/lib/exchanges.mjs';
import { bundleNames, commandOf, functionNamed } from '../scripts/lib/functions.mjs';

const root = join(import.meta.dirname, '..');

interface Resource {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
  spec?: Record<string, unknown>;
  data?: Record<string, string>;
}

function render(overlay: string): Resource[] {
  const out = execFileSync('kubectl', ['kustomize', join(root, 'knative/overlays', overlay)], {
    encoding: 'utf8',
  });
  return parseAllDocuments(out).map((d) => d.toJSON() as Resource);
}

const CRON = /^(\*|[0-9,*/-]+) (\*|[0-9,*/-]+) (\*|[0-9,*/-]+) (\*|[0-9,*/-]+) (\*|[0-9,*/-]+)$/;

describe('knative/', () => {
  it('knative/base/extract is what scripts/gen-knative.ts makes from knative/exchanges.txt', () => {
    const dir = mkdtempSync(join(tmpdir(), 'gen-'));
    try {
      generate(dir);
      const committed = join(root, 'knative/base/extract');
      expect(readdirSync(committed).sort()).toEqual(readdirSync(dir).sort());
      for (const f of readdirSync(dir))
        expect(readFileSync(join(committed, f), 'utf8'), `${f}: run npm run gen:knative`).toBe(
          readFileSync(join(dir, f), 'utf8'),
        );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('knative/base/kustomization.yaml lists the manifest of every function of the table', () => {
    expect(
      readFileSync(join(root, 'knative/base/kustomization.yaml'), 'utf8'),
      'run npm run gen:knative',
    ).toBe(baseKustomization());
  });

  describe.each(['dev', 'prod'])('overlay %s', (overlay) => {
    const rs = render(overlay);
    const named = (kind: string) => new Set(rs.filter((r) => r.kind === kind).map((r) => r.metadata.name));
    const services = rs.filter((r) => r.kind === 'Service' && r.apiVersion.startsWith('serving.knative.dev'));
    const containers = services.map(
      (s) =>
        ((s.spec as { template: { spec: { containers: Array<Record<string, unknown>> } } }).template.spec
          .containers[0] ?? {}) as {
          image: string;
          command: string[];
          env?: Array<{ name: string; value?: string; valueFrom?: unknown }>;
          resources: { requests: Record<string, string>; limits: Record<string, string> };
          securityContext: { runAsNonRoot: boolean };
        },
    );

    it('has a Service per exchange and per stage, all in one namespace, all cluster-local', () => {
      const want = bundleNames(exchangeIds()).sort();
      expect([...named('Service')].sort()).toEqual(want);
      expect(new Set(rs.map((r) => r.metadata.namespace))).toEqual(
        new Set([overlay === 'prod' ? 'crypto-pipeline' : 'crypto-pipeline-dev']),
      );
      for (const s of services)
        expect(s.metadata.labels?.['networking.knative.dev/visibility'], s.metadata.name).toBe(
          'cluster-local',
        );
    });

    it('every Trigger subscriber, sink and dead-letter sink resolves to a resource of the render', () => {
      const refs: Array<{ kind: string; name: string }> = [];
      const walk = (v: unknown) => {
        if (v && typeof v === 'object') {
          const o = v as Record<string, unknown>;
          if (
            typeof o['kind'] === 'string' &&
            typeof o['name'] === 'string' &&
            typeof o['apiVersion'] === 'string'
          )
            refs.push({ kind: o['kind'], name: o['name'] });
          Object.values(o).forEach(walk);
        }
      };
      rs.forEach((r) => walk(r.spec));
      expect(refs.length).toBeGreaterThan(10);
      for (const ref of refs.filter((r) => r.kind !== 'Service' || !r.name.includes('*'))) {
        if (ref.kind === 'Service' && ref.name === '') continue;
        expect(named(ref.kind).has(ref.name), `${ref.kind}/${ref.name}`).toBe(true);
      }
      for (const t of rs.filter((r) => r.kind === 'Trigger'))
        expect(named('Broker').has((t.spec as { broker: string }).broker)).toBe(true);
    });

    it('routes each exchange by type and exchange attribute; batches go to load-raw', () => {
      const triggers = rs
        .filter((r) => r.kind === 'Trigger')
        .map(
          (t) =>
            t.spec as {
              filter: { attributes: Record<string, string> };
              subscriber: { ref: { name: string } };
            },
        );
      for (const x of readExchanges()) {
        const mine = triggers.filter((t) => t.subscriber.ref.name === `extract-${x.id}`);
        expect(
          mine
            .map((t) => t.filter.attributes)
            .sort((a, b) => String(a['type']).localeCompare(String(b['type']))),
        ).toEqual([
          { type: 'cryptopipe.extract.request', exchange: x.id },
          { type: 'dev.knative.sources.ping', exchange: x.id },
        ]);
      }
      expect(
        triggers.filter((t) => t.subscriber.ref.name === 'load-raw').map((t) => t.filter.attributes),
      ).toEqual([{ type: 'cryptopipe.extract.batch' }]);
    });

    it('PingSources have valid UTC crons, JSON payloads extract accepts, and the exchange attribute', () => {
      const pings = rs.filter((r) => r.kind === 'PingSource');
      expect(pings.length).toBeGreaterThanOrEqual(exchangeIds().length * 3);
      for (const p of pings) {
        const spec = p.spec as {
          schedule: string;
          data: string;
          ceOverrides: { extensions: { exchange: string } };
        };
        // The time zone in the schedule itself: kn source ping can set that, not spec.timezone.
        expect(spec.schedule.startsWith('CRON_TZ=UTC '), p.metadata.name).toBe(true);
        expect(spec.schedule.slice('CRON_TZ=UTC '.length), p.metadata.name).toMatch(CRON);
        expect(JSON.parse(spec.data).datasets.length).toBeGreaterThan(0);
        expect(p.metadata.name.startsWith(`${spec.ceOverrides.extensions.exchange}-`)).toBe(true);
      }
    });

    it('every container: the seed requests (100m / 256Mi) and limits, non-root, a bundle npm run build makes', () => {
      const bundles = new Set(bundleNames(exchangeIds()));
      for (const c of containers) {
        expect(c.resources.requests).toEqual({ cpu: '100m', memory: '256Mi' });
        expect(c.resources.limits.memory).toBe('256Mi');
        expect(c.resources.limits.cpu).toBeDefined();
        expect(c.securityContext.runAsNonRoot).toBe(true);
        expect(c.command[0]).toBe('node');
        const bundle = /^(?:--snapshot-blob=)?\/app\/([^/]+)\/(?:index\.mjs|snapshot\.blob)$/.exec(
          c.command[1] ?? '',
        )?.[1];
        expect(bundles.has(bundle ?? '')).toBe(true);
        expect(c.image).toMatch(
          overlay === 'prod'
            ? /^registry\.example\.com\/crypto\/crypto-functions:0\.1\.0$/
            : /crypto-functions:dev$/,
        );
      }
    });

    it('extract Services start from the startup snapshot of their own exchange bundle', () => {
      const extract = services.filter(
        (s) => s.metadata.labels?.['app.kubernetes.io/component'] === 'extract',
      );
      expect(extract.map((s) => s.metadata.name).sort()).toEqual(
        exchangeIds()
          .map((id) => `extract-${id}`)
          .sort(),
      );
      for (const svc of extract) {
        const c = containers[services.indexOf(svc)]!;
        expect(c.command).toEqual(['node', `--snapshot-blob=/app/${svc.metadata.name}/snapshot.blob`]);
        expect(c.command).toEqual(commandOf(functionNamed('extract')!, svc.metadata.name));
      }
    });

    it('status: cluster-local, scales to zero, reads PostgreSQL as the read-only role from the Secret, no trigger', () => {
      const svc = services.find((s) => s.metadata.name === 'status')!;
      const tpl = (
        svc.spec as {
          template: { metadata: { annotations: Record<string, string> }; spec: { containers: unknown[] } };
        }
      ).template;
      expect(svc.metadata.labels?.['networking.knative.dev/visibility']).toBe('cluster-local');
      expect(tpl.metadata.annotations['autoscaling.knative.dev/min-scale']).toBe('0');
      const c = containers[services.indexOf(svc)]!;
      expect(c.command).toEqual(['node', '/app/status/index.mjs']);
      const env = Object.fromEntries((c.env ?? []).map((e) => [e.name, e]));
      // The database user and password are those of the read-only role (migration 002_status_reader.sql).
      expect(env['POSTGRESQL_USER']?.valueFrom).toEqual({
        secretKeyRef: { name: 'crypto-pipeline-secrets', key: 'STATUS_POSTGRESQL_USER' },
      });
      expect(env['POSTGRESQL_PASSWORD']?.valueFrom).toEqual({
        secretKeyRef: { name: 'crypto-pipeline-secrets', key: 'STATUS_POSTGRESQL_PASSWORD' },
      });
      expect(env['MIGRATE_ON_START']).toBeUndefined();
      expect(env['TRANSFORM_AUTH_TOKEN']).toBeUndefined();
      // Nothing routes events to it and it gets no K_SINK: it only answers readers.
      for (const t of rs.filter((r) => r.kind === 'Trigger'))
        expect((t.spec as { subscriber: { ref: { name: string } } }).subscriber.ref.name).not.toBe('status');
      expect(svc.metadata.labels?.['app.kubernetes.io/component']).not.toBe('extract');
    });

    it('no literal secret anywhere: secret-looking variables come from secretKeyRef', () => {
      for (const c of containers) {
        for (const e of c.env ?? [])
          if (/PASSWORD|TOKEN|SECRET/.test(e.name)) expect(e.valueFrom, e.name).toBeDefined();
      }
      for (const cm of rs.filter((r) => r.kind === 'ConfigMap'))
        for (const k of Object.keys(cm.data ?? {})) expect(k).not.toMatch(/PASSWORD|TOKEN|SECRET/);
      expect(rs.some((r) => r.kind === 'Secret')).toBe(false);
    });
  });
});
