// Deploys an overlay with kn (Services, Broker, Triggers, PingSources, SinkBinding) using exactly the settings of the
// rendered knative/ manifests; plain Kubernetes resources labelled for it (the retention CronJob) go with kubectl apply.
// Usage: npm run deploy -- [--overlay=prod] [--dry-run]
import { execFileSync, spawnSync } from 'node:child_process';
import { join, resolve } from 'node:path';
import { parseAllDocuments } from 'yaml';

const root = resolve(import.meta.dirname, '..');

/** A rendered Kubernetes resource. */
export interface Resource {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
  spec?: Record<string, unknown>;
  data?: Record<string, string>;
}

/** Renders an overlay with kubectl kustomize. */
export function render(overlay: string): Resource[] {
  const out = execFileSync('kubectl', ['kustomize', join(root, 'knative/overlays', overlay)], {
    encoding: 'utf8',
  });
  return parseAllDocuments(out).map((d) => d.toJSON() as Resource);
}

type Ref = { apiVersion?: string; kind: string; name: string };
type EnvVar = { name: string; value?: string; valueFrom?: { secretKeyRef?: { name: string; key: string } } };
interface Container {
  image: string;
  command?: string[];
  args?: string[];
  ports?: Array<{ containerPort: number }>;
  envFrom?: Array<{ configMapRef?: { name: string } }>;
  env?: EnvVar[];
  resources?: { requests?: Record<string, string>; limits?: Record<string, string> };
  securityContext?: Record<string, unknown>;
}

/** The settings a deployment is made of, in one shape whether read from manifests or from kn commands. */
export interface Settings {
  namespace: string;
  configMaps: Record<string, Record<string, string>>;
  services: Record<string, Record<string, unknown>>;
  brokers: Record<string, Record<string, unknown>>;
  triggers: Record<string, Record<string, unknown>>;
  pingSources: Record<string, Record<string, unknown>>;
  sinkBindings: Record<string, Record<string, unknown>>;
  /** Resources kn has no command for, applied as rendered: `Kind/name` to the resource's canonical JSON. */
  plain: Record<string, string>;
}

/** The label of the resources kn has no command for, which deploy applies with kubectl as rendered. */
export const PLAIN_LABEL = 'crypto-pipeline/applied-with';

/** The rendered resources deploy applies with kubectl, by `Kind/name`. */
function plainOf(rs: Resource[]): Record<string, string> {
  return Object.fromEntries(
    rs
      .filter((r) => r.metadata.labels?.[PLAIN_LABEL] === 'kubectl')
      .map((r) => [`${r.kind}/${r.metadata.name}`, canonical(r)]),
  );
}

/** `--flag k=v` for every entry of `o`. */
function repeated(flag: string, o: unknown): string[] {
  return Object.entries(o as Record<string, string>).flatMap(([k, v]) => [flag, `${k}=${v}`]);
}

/** kn's sink syntax for a reference. */
function sinkOf(ref: Ref): string {
  const prefix: Record<string, string> = { Service: 'ksvc', Broker: 'broker', Channel: 'channel' };
  const p = prefix[ref.kind];
  if (!p) throw new Error(`no kn sink syntax for ${ref.kind}`);
  return `${p}:${ref.name}`;
}

const STRICT = JSON.stringify({
  allowPrivilegeEscalation: false,
  capabilities: { drop: ['ALL'] },
  runAsNonRoot: true,
  seccompProfile: { type: 'RuntimeDefault' },
});

function canonical(o: unknown): string {
  return JSON.stringify(o, (_k, v: unknown) =>
    v && typeof v === 'object' && !Array.isArray(v) ? Object.fromEntries(Object.entries(v).sort()) : v,
  );
}

/** The settings the manifests set. */
export function settingsFromManifests(rs: Resource[]): Settings {
  const s: Settings = {
    namespace: '',
    configMaps: {},
    services: {},
    brokers: {},
    triggers: {},
    pingSources: {},
    sinkBindings: {},
    plain: {},
  };
  for (const r of rs) {
    s.namespace = r.metadata.namespace ?? s.namespace;
    const spec = (r.spec ?? {}) as Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
    switch (r.kind) {
      case 'ConfigMap':
        s.configMaps[r.metadata.name] = { ...r.data };
        break;
      case 'Service': {
        const tpl = spec['template'];
        const c = tpl.spec.containers[0] as Container;
        const ann = (tpl.metadata?.annotations ?? {}) as Record<string, string>;
        s.services[r.metadata.name] = {
          image: c.image,
          cmd: c.command ?? [],
          port: c.ports?.[0]?.containerPort ?? null,
          envFrom: (c.envFrom ?? []).map((e) => e.configMapRef?.name),
          env: Object.fromEntries(
            (c.env ?? []).map((e) => [
              e.name,
              e.valueFrom?.secretKeyRef
                ? `secret:${e.valueFrom.secretKeyRef.name}:${e.valueFrom.secretKeyRef.key}`
                : (e.value ?? ''),
            ]),
          ),
          requests: c.resources?.requests ?? {},
          limits: c.resources?.limits ?? {},
          concurrency: tpl.spec.containerConcurrency ?? null,
          timeout: tpl.spec.timeoutSeconds ?? null,
          minScale: ann['autoscaling.knative.dev/min-scale'] ?? null,
          maxScale: ann['autoscaling.knative.dev/max-scale'] ?? null,
          utilization: ann['autoscaling.knative.dev/target-utilization-percentage'] ?? null,
          clusterLocal: r.metadata.labels?.['networking.knative.dev/visibility'] === 'cluster-local',
          security:
            canonical(c.securityContext ?? {}) === canonical(JSON.parse(STRICT))
              ? 'strict'
              : canonical(c.securityContext ?? {}),
        };
        break;
      }
      case 'Broker': {
        const d = spec['delivery'] ?? {};
        s.brokers[r.metadata.name] = {
          retry: d.retry ?? null,
          backoffPolicy: d.backoffPolicy ?? null,
          backoffDelay: d.backoffDelay ?? null,
          deadLetterSink: d.deadLetterSink?.ref ? sinkOf(d.deadLetterSink.ref) : null,
        };
        break;
      }
      case 'Trigger':
        s.triggers[r.metadata.name] = {
          broker: spec['broker'],
          filters: spec['filter']?.attributes ?? {},
          sink: sinkOf(spec['subscriber'].ref),
        };
        break;
      case 'PingSource':
        s.pingSources[r.metadata.name] = {
          schedule: spec['schedule'],
          data: spec['data'] ?? null,
          ceOverrides: spec['ceOverrides']?.extensions ?? {},
          sink: sinkOf(spec['sink'].ref),
        };
        break;
      case 'SinkBinding': {
        const subj = spec['subject'];
        const sel = Object.entries((subj.selector?.matchLabels ?? {}) as Record<string, string>)
          .map(([k, v]) => `${k}=${v}`)
          .join(',');
        s.sinkBindings[r.metadata.name] = {
          subject: `${subj.kind}:${subj.apiVersion}:${subj.name ?? sel}`,
          sink: sinkOf(spec['sink'].ref),
        };
        break;
      }
      default:
        if (r.metadata.labels?.[PLAIN_LABEL] === 'kubectl')
          s.plain[`${r.kind}/${r.metadata.name}`] = canonical(r);
        else throw new Error(`scripts/deploy does not know how to deploy ${r.kind}/${r.metadata.name}`);
    }
  }
  return s;
}

/**
 * The commands that deploy `rs` (the rendering of `overlay`): kubectl for the namespace and ConfigMap, kn for
 * everything Knative, then kubectl apply for the plain resources labelled for it.
 */
export function deployCommands(rs: Resource[], overlay = 'prod'): string[][] {
  const st = settingsFromManifests(rs);
  const ns = ['--namespace', st.namespace];
  const cmds: string[][] = [
    ['kubectl', 'create', 'namespace', st.namespace, '--dry-run=client', '-o', 'yaml'],
  ];
  for (const [name, data] of Object.entries(st.configMaps)) {
    cmds.push([
      'kubectl',
      'create',
      'configmap',
      name,
      ...ns,
      ...Object.entries(data).map(([k, v]) => `--from-literal=${k}=${v}`),
      '--dry-run=client',
      '-o',
      'yaml',
    ]);
  }
  // The dead-letter sink and subscribers first, then the Broker, the routes and the sources.
  for (const [name, svc] of Object.entries(st.services)) {
    const cmd = svc['cmd'] as string[];
    const kv = (o: unknown) =>
      Object.entries(o as Record<string, string>)
        .map(([k, v]) => `${k}=${v}`)
        .join(',');
    cmds.push([
      'kn',
      'service',
      'create',
      name,
      '--force',
      ...ns,
      '--image',
      String(svc['image']),
      ...(cmd[0] ? ['--cmd', cmd[0]] : []),
      ...cmd.slice(1).flatMap((a) => ['--arg', a]),
      ...(svc['port'] !== null ? ['--port', String(svc['port'])] : []),
      ...(svc['envFrom'] as string[]).flatMap((n) => ['--env-from', `config-map:${n}`]),
      ...Object.entries(svc['env'] as Record<string, string>).flatMap(([k, v]) =>
        v.startsWith('secret:') ? ['--env-value-from', `${k}=${v}`] : ['--env', `${k}=${v}`],
      ),
      '--request',
      kv(svc['requests']),
      '--limit',
      kv(svc['limits']),
      ...(svc['concurrency'] !== null ? ['--concurrency-limit', String(svc['concurrency'])] : []),
      ...(svc['timeout'] !== null ? ['--timeout', String(svc['timeout'])] : []),
      ...(svc['minScale'] !== null ? ['--scale-min', String(svc['minScale'])] : []),
      ...(svc['maxScale'] !== null ? ['--scale-max', String(svc['maxScale'])] : []),
      ...(svc['utilization'] !== null ? ['--scale-utilization', String(svc['utilization'])] : []),
      ...(svc['security'] === 'strict' ? ['--security-context', 'strict'] : []),
      ...(svc['clusterLocal'] ? ['--cluster-local'] : []),
    ]);
  }
  for (const [name, b] of Object.entries(st.brokers)) {
    cmds.push([
      'kn',
      'broker',
      'create',
      name,
      ...ns,
      ...(b['retry'] !== null ? ['--retry', String(b['retry'])] : []),
      ...(b['backoffPolicy'] !== null ? ['--backoff-policy', String(b['backoffPolicy'])] : []),
      ...(b['backoffDelay'] !== null ? ['--backoff-delay', String(b['backoffDelay'])] : []),
      ...(b['deadLetterSink'] !== null ? ['--dl-sink', String(b['deadLetterSink'])] : []),
    ]);
  }
  for (const [name, t] of Object.entries(st.triggers)) {
    cmds.push([
      'kn',
      'trigger',
      'create',
      name,
      ...ns,
      '--broker',
      String(t['broker']),
      ...repeated('--filter', t['filters']),
      '--sink',
      String(t['sink']),
    ]);
  }
  for (const [name, p] of Object.entries(st.pingSources)) {
    cmds.push([
      'kn',
      'source',
      'ping',
      'create',
      name,
      ...ns,
      '--schedule',
      String(p['schedule']),
      ...(p['data'] !== null ? ['--data', String(p['data'])] : []),
      ...repeated('--ce-override', p['ceOverrides']),
      '--sink',
      String(p['sink']),
    ]);
  }
  for (const [name, b] of Object.entries(st.sinkBindings)) {
    cmds.push([
      'kn',
      'source',
      'binding',
      'create',
      name,
      ...ns,
      '--subject',
      String(b['subject']),
      '--sink',
      String(b['sink']),
    ]);
  }
  if (Object.keys(st.plain).length > 0)
    cmds.push([
      'kubectl',
      'apply',
      '-k',
      `knative/overlays/${overlay}`,
      '--selector',
      `${PLAIN_LABEL}=kubectl`,
    ]);
  return cmds;
}

/** Reads kn/kubectl commands back into settings: what the commands would set. */
export function settingsFromCommands(cmds: string[][]): Settings {
  const s: Settings = {
    namespace: '',
    configMaps: {},
    services: {},
    brokers: {},
    triggers: {},
    pingSources: {},
    sinkBindings: {},
    plain: {},
  };
  for (const argv of cmds) {
    const flags: Array<[string, string | true]> = [];
    const positional: string[] = [];
    for (let i = 0; i < argv.length; i++) {
      const a = argv[i] as string;
      if (a.startsWith('--')) {
        const eq = a.indexOf('=');
        if (eq > 0) flags.push([a.slice(2, eq), a.slice(eq + 1)]);
        else if (['--force', '--cluster-local'].includes(a)) flags.push([a.slice(2), true]);
        else flags.push([a.slice(2), argv[++i] as string]);
      } else if (a === '-o') i++;
      else positional.push(a);
    }
    const all = (k: string) => flags.filter(([f]) => f === k).map(([, v]) => v as string);
    const one = (k: string) => all(k)[0] ?? null;
    const pairs = (vals: string[]) =>
      Object.fromEntries(vals.map((v) => [v.slice(0, v.indexOf('=')), v.slice(v.indexOf('=') + 1)]));
    s.namespace = one('namespace') ?? s.namespace;
    const what = positional.slice(0, 4).join(' ');
    if (what.startsWith('kubectl create namespace')) s.namespace = positional[3] ?? s.namespace;
    else if (what.startsWith('kubectl apply')) {
      // What kubectl applies is the overlay's rendering, filtered by the label.
      const overlay = (positional[3] ?? '').replace(/^knative\/overlays\//, '');
      if (one('selector') !== `${PLAIN_LABEL}=kubectl`) throw new Error(`unknown command: ${argv.join(' ')}`);
      s.plain = plainOf(render(overlay));
    } else if (what.startsWith('kubectl create configmap'))
      s.configMaps[positional[3] as string] = pairs(all('from-literal'));
    else if (what.startsWith('kn service create')) {
      const cmd = [one('cmd'), ...all('arg')].filter((x): x is string => x !== null);
      const kv = (v: string | null) =>
        Object.fromEntries(
          (v ?? '')
            .split(',')
            .filter(Boolean)
            .map((p) => p.split('=') as [string, string]),
        );
      s.services[positional[3] as string] = {
        image: one('image'),
        cmd,
        port: one('port') === null ? null : Number(one('port')),
        envFrom: all('env-from').map((v) => v.replace(/^(config-map|cm):/, '')),
        env: { ...pairs(all('env')), ...pairs(all('env-value-from')) },
        requests: kv(one('request')),
        limits: kv(one('limit')),
        concurrency: one('concurrency-limit') === null ? null : Number(one('concurrency-limit')),
        timeout: one('timeout') === null ? null : Number(one('timeout')),
        minScale: one('scale-min'),
        maxScale: one('scale-max'),
        utilization: one('scale-utilization'),
        clusterLocal: flags.some(([f]) => f === 'cluster-local'),
        security: one('security-context') ?? canonical({}),
      };
    } else if (what.startsWith('kn broker create')) {
      s.brokers[positional[3] as string] = {
        retry: one('retry') === null ? null : Number(one('retry')),
        backoffPolicy: one('backoff-policy'),
        backoffDelay: one('backoff-delay'),
        deadLetterSink: one('dl-sink'),
      };
    } else if (what.startsWith('kn trigger create')) {
      s.triggers[positional[3] as string] = {
        broker: one('broker'),
        filters: pairs(all('filter')),
        sink: one('sink'),
      };
    } else if (positional.slice(0, 4).join(' ') === 'kn source ping create') {
      s.pingSources[positional[4] as string] = {
        schedule: one('schedule'),
        data: one('data'),
        ceOverrides: pairs(all('ce-override')),
        sink: one('sink'),
      };
    } else if (positional.slice(0, 4).join(' ') === 'kn source binding create') {
      s.sinkBindings[positional[4] as string] = { subject: one('subject'), sink: one('sink') };
    } else throw new Error(`unknown command: ${argv.join(' ')}`);
  }
  return s;
}

/** One command as a shell line (quoted where needed), with the kubectl apply pipe for generated YAML. */
export function shellLine(argv: string[]): string {
  const q = (a: string) => (/^[A-Za-z0-9_./:=,@%+-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`);
  const line = argv.map(q).join(' ');
  return argv.includes('--dry-run=client') ? `${line} | kubectl apply -f -` : line;
}

function execute(argv: string[]): void {
  if (argv.includes('--dry-run=client')) {
    const yaml = execFileSync(argv[0] as string, argv.slice(1), { encoding: 'utf8' });
    execFileSync('kubectl', ['apply', '-f', '-'], { input: yaml, stdio: ['pipe', 'inherit', 'inherit'] });
    return;
  }
  let r = spawnSync(argv[0] as string, argv.slice(1), { stdio: 'inherit', cwd: root });
  // kn's create refuses an existing resource (but for services, which take --force): update it instead.
  if (r.status !== 0 && argv[0] === 'kn' && argv.includes('create') && !argv.includes('--force')) {
    r = spawnSync(
      argv[0] as string,
      argv.slice(1).map((a) => (a === 'create' ? 'update' : a)),
      { stdio: 'inherit' },
    );
  }
  if (r.status !== 0) throw new Error(`failed: ${shellLine(argv)}`);
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const overlay = process.argv.find((a) => a.startsWith('--overlay='))?.slice('--overlay='.length) ?? 'prod';
  const cmds = deployCommands(render(overlay), overlay);
  if (process.argv.includes('--dry-run')) {
    for (const c of cmds) console.log(shellLine(c));
  } else {
    if (spawnSync('kn', ['version'], { stdio: 'ignore' }).status !== 0) {
      console.error(
        'kn is not on PATH: install the Knative CLI, or apply the manifests with kubectl apply -k knative/overlays/' +
          overlay,
      );
      process.exit(2);
    }
    for (const c of cmds) execute(c);
  }
}
