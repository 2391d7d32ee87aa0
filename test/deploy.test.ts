// scripts/deploy: the kn commands set exactly what the manifests set, so the two ways to deploy cannot drift apart.
import { describe, expect, it } from 'vitest';
import {
  deployCommands,
  render,
  settingsFromCommands,
  settingsFromManifests,
  shellLine,
} from '../scripts/deploy.ts';

describe.each(['dev', 'prod'])('scripts/deploy for overlay %s', (overlay) => {
  const rs = render(overlay);
  const cmds = deployCommands(rs, overlay);

  it('the kn and kubectl commands set exactly the settings of the rendered manifests', () => {
    const fromManifests = settingsFromManifests(rs);
    expect(Object.keys(fromManifests.services).length).toBeGreaterThanOrEqual(7);
    expect(Object.keys(fromManifests.services)).toContain('status');
    expect(Object.keys(fromManifests.pingSources).length).toBeGreaterThanOrEqual(9);
    expect(settingsFromCommands(cmds)).toEqual(fromManifests);
  });

  it('a manifest changed after the commands were made is a difference the comparison sees', () => {
    const changed = structuredClone(rs);
    const svc = changed.find((r) => r.kind === 'Service' && r.metadata.name === 'load-raw')!;
    (
      svc.spec as { template: { spec: { containerConcurrency: number } } }
    ).template.spec.containerConcurrency = 3;
    expect(settingsFromCommands(cmds)).not.toEqual(settingsFromManifests(changed));
    const cron = structuredClone(rs);
    (cron.find((r) => r.kind === 'CronJob')!.spec as { schedule: string }).schedule = '0 * * * *';
    expect(settingsFromCommands(cmds)).not.toEqual(settingsFromManifests(cron));
  });

  it('uses kn for every Knative resource, kubectl for the namespace, the ConfigMap and the labelled plain resources', () => {
    expect(cmds.filter((c) => c[0] === 'kubectl').map((c) => c.slice(1, 3).join(' '))).toEqual([
      'create namespace',
      'create configmap',
      'apply -k',
    ]);
    expect(shellLine(cmds.at(-1)!)).toBe(
      `kubectl apply -k knative/overlays/${overlay} --selector crypto-pipeline/applied-with=kubectl`,
    );
    // prod includes the monitoring component (knative/components/monitoring); dev leaves it out.
    expect(Object.keys(settingsFromManifests(rs).plain).sort()).toEqual(
      overlay === 'prod'
        ? ['CronJob/retention', 'PrometheusRule/crypto-pipeline', 'ScrapeConfig/crypto-pipeline-status']
        : ['CronJob/retention'],
    );
    const kn = cmds.filter((c) => c[0] === 'kn').map((c) => c.slice(1, c[1] === 'source' ? 3 : 2).join(' '));
    expect(new Set(kn)).toEqual(new Set(['service', 'broker', 'trigger', 'source ping', 'source binding']));
    expect(cmds.filter((c) => c[1] === 'service').every((c) => c.includes('--force'))).toBe(true);
  });

  it('creates the status Service cluster-local, with the read-only database user from the Secret', () => {
    const status = cmds.find((c) => c[1] === 'service' && c[3] === 'status')!;
    const line = shellLine(status);
    expect(line).toContain('--cmd node --arg /app/status/index.mjs');
    expect(line).toContain(
      '--env-value-from POSTGRESQL_USER=secret:crypto-pipeline-secrets:STATUS_POSTGRESQL_USER',
    );
    expect(line).toContain(
      '--env-value-from POSTGRESQL_PASSWORD=secret:crypto-pipeline-secrets:STATUS_POSTGRESQL_PASSWORD',
    );
    expect(line).toContain('--scale-min 0');
    expect(status).toContain('--cluster-local');
  });

  it("starts each extract Service from its bundle's startup snapshot", () => {
    const binance = cmds.find((c) => c[1] === 'service' && c[3] === 'extract-binance')!;
    expect(shellLine(binance)).toContain(
      '--cmd node --arg --snapshot-blob=/app/extract-binance/snapshot.blob',
    );
  });

  it('prints shell lines that quote JSON payloads and never carry a secret value', () => {
    const lines = cmds.map(shellLine);
    const ping = lines.find((l) => l.includes('source ping create') && l.includes('ohlcv'))!;
    expect(ping).toMatch(/--data '\{"datasets":\["ohlcv"\],"symbols":\[.*\],"timeframe":"1m"\}'/);
    expect(ping).toMatch(/--schedule 'CRON_TZ=UTC \* \* \* \* \*'/);
    for (const l of lines) expect(l).not.toMatch(/PASSWORD=[^s]|TOKEN=[^s]/);
  });
});
