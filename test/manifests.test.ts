// The deployment manifests are validated against the Kubernetes schemas (kubernetes-models),
// and the RBAC is checked to grant nothing beyond reading the four resources hopscope names.
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { describe, expect, it } from 'vitest';
import { issueClusterTls, tlsSecretsYaml, TLS_MOUNT, AGENT_TLS_SECRET, HUB_TLS_SECRET } from '../agent/src/tls/secrets.ts';

const dir = join(import.meta.dirname, '..', 'manifests');
/** Resources made at install time, never in the tree: the mutual-TLS Secrets (tls.yaml). */
const GENERATED = ['tls.yaml'];

interface Doc {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string };
  [k: string]: unknown;
}

function loadAll(): Doc[] {
  const kustomization = parseAllDocuments(readFileSync(join(dir, 'kustomization.yaml'), 'utf8'))[0]!.toJS() as {
    resources: string[];
  };
  return kustomization.resources.flatMap((f) =>
    parseAllDocuments(GENERATED.includes(f) ? tlsSecretsYaml(issueClusterTls({ nodes: ['node-a', 'node-b'] })) : readFileSync(join(dir, f), 'utf8')).map((d) => {
      if (d.errors.length) throw new Error(`${f}: ${d.errors[0]!.message}`);
      return d.toJS() as Doc;
    }),
  );
}

// kubernetes-models mirrors apiVersion in its module paths: "v1", "apps/v1", "rbac.authorization.k8s.io/v1".
const modulePath = (apiVersion: string): string => `kubernetes-models/${apiVersion}`;

async function validate(doc: Doc): Promise<void> {
  const mod = (await import(modulePath(doc.apiVersion))) as Record<string, new (d: unknown) => { validate(): void }>;
  const Model = mod[doc.kind];
  if (!Model) throw new Error(`no schema for ${doc.apiVersion} ${doc.kind}`);
  new Model(doc).validate();
}

describe('manifests', () => {
  const docs = loadAll();

  it('every file in manifests/ is listed in the kustomization', () => {
    const listed = new Set(
      (parseAllDocuments(readFileSync(join(dir, 'kustomization.yaml'), 'utf8'))[0]!.toJS() as { resources: string[] }).resources,
    );
    const files = readdirSync(dir).filter((f) => f.endsWith('.yaml') && f !== 'kustomization.yaml' && !GENERATED.includes(f));
    expect([...files, ...GENERATED].sort()).toEqual([...listed].sort());
  });

  it.each(loadAll().map((d) => [`${d.kind}/${d.metadata.name}`, d] as const))('%s passes Kubernetes schema validation', async (_n, doc) => {
    await validate(doc);
  });

  it('the schema validation rejects a broken object (the check is real)', async () => {
    const ds = structuredClone(docs.find((d) => d.kind === 'DaemonSet')!) as Doc & {
      spec: { template: { spec: { containers: { name?: string; ports: { containerPort: unknown }[] }[] } } };
    };
    ds.spec.template.spec.containers[0]!.ports[0]!.containerPort = 'not-a-port';
    await expect(validate(ds)).rejects.toThrow();
  });

  it('RBAC grants only get/list/watch on pods, services, nodes and endpointslices', () => {
    const roles = docs.filter((d) => d.kind === 'ClusterRole' || d.kind === 'Role') as (Doc & {
      rules: { apiGroups: string[]; resources: string[]; verbs: string[]; resourceNames?: string[]; nonResourceURLs?: string[] }[];
    })[];
    expect(roles.length).toBeGreaterThan(0);
    const granted = new Set<string>();
    for (const role of roles)
      for (const rule of role.rules) {
        expect(rule.nonResourceURLs).toBeUndefined();
        expect(rule.verbs.every((v) => ['get', 'list', 'watch'].includes(v))).toBe(true);
        for (const g of rule.apiGroups) for (const r of rule.resources) granted.add(`${g || 'core'}/${r}`);
      }
    expect([...granted].sort()).toEqual(['core/nodes', 'core/pods', 'core/services', 'discovery.k8s.io/endpointslices']);
    const bindings = docs.filter((d) => d.kind === 'ClusterRoleBinding' || d.kind === 'RoleBinding') as (Doc & {
      roleRef: { name: string };
      subjects: { kind: string; name: string }[];
    })[];
    for (const b of bindings) {
      expect(roles.map((r) => r.metadata.name)).toContain(b.roleRef.name);
      expect(b.subjects).toEqual([{ kind: 'ServiceAccount', name: 'hopscope', namespace: 'hopscope' }]);
    }
  });

  it('the agent holds only the capabilities bpftrace needs, and is not privileged', () => {
    const ds = docs.find((d) => d.kind === 'DaemonSet') as Doc & {
      spec: { template: { spec: { hostNetwork: boolean; hostPID: boolean; tolerations: unknown[]; containers: { securityContext: Record<string, unknown>; resources: { limits: unknown } }[] } } };
    };
    const pod = ds.spec.template.spec;
    expect(pod.hostNetwork).toBe(true);
    expect(pod.hostPID).toBe(true);
    expect(pod.tolerations).toContainEqual({ operator: 'Exists' });
    const sc = pod.containers[0]!.securityContext as { privileged: boolean; capabilities: { drop: string[]; add: string[] } };
    expect(sc.privileged).toBe(false);
    expect(sc.capabilities.drop).toEqual(['ALL']);
    expect(sc.capabilities.add.sort()).toEqual(['BPF', 'PERFMON', 'SYS_PTRACE']); // each one measured needed: test/image-tracer.test.ts
    expect(pod.containers[0]!.resources.limits).toBeDefined();
  });

  it('the namespace carries the Pod Security label the agent needs', () => {
    const ns = docs.find((d) => d.kind === 'Namespace') as Doc & { metadata: { labels: Record<string, string> } };
    expect(ns.metadata.labels['pod-security.kubernetes.io/enforce']).toBe('privileged');
  });
});

describe('the agent and hub commands in the manifests', () => {
  const docs = loadAll();
  type Container = { args: string[]; ports: { name: string; containerPort: number }[]; securityContext: Record<string, unknown> };
  type Workload = Doc & { spec: { selector: { matchLabels: Record<string, string> }; template: { metadata: { labels: Record<string, string> }; spec: Record<string, unknown> & { containers: Container[] } } } };
  const ds = docs.find((d) => d.kind === 'DaemonSet') as Workload;
  const hub = docs.find((d) => d.kind === 'Deployment' && d.metadata.name === 'hopscope-hub') as Workload;

  it('the DaemonSet args are accepted by `hopscope serve`s own parsers', async () => {
    const { parseAgentFlags } = await import('../agent/src/hubmode/agent-flags.ts');
    const { parseServerArgs } = await import('../agent/src/server/config.ts');
    // The kubelet expands $(VAR) from the container env before the process sees it.
    const args = ds.spec.template.spec.containers[0]!.args.map((a) => a.replace('$(HOST_IP)', '10.0.0.5').replace('$(NODE_NAME)', 'node-a'));
    expect(args[0]).toBe('serve');
    const agent = parseAgentFlags(args.slice(1));
    expect(agent).toMatchObject({ node: 'node-a', procRoot: '/host/proc' });
    const cfg = parseServerArgs(agent.rest, { HOPSCOPE_TOKEN: 'a-token-of-sixteen-chars' }, { uiDir: 'ui/dist', port: 7070 }, 'serve');
    expect(cfg).toMatchObject({ host: '10.0.0.5', port: 4780 });
    const volumes = ds.spec.template.spec.containers[0] as unknown as { volumeMounts: { name: string; mountPath: string }[] };
    expect(volumes.volumeMounts.map((m) => m.mountPath)).toContain('/host/proc');
    // Mutual TLS: the agents' Secret mounted where --tls-dir reads it.
    expect(agent.tlsDir).toBe(TLS_MOUNT);
    expect(agent.insecure).toBe(false);
    const tlsMount = volumes.volumeMounts.find((m) => m.mountPath === TLS_MOUNT)!;
    expect((ds.spec.template.spec.volumes as { name: string; secret?: { secretName: string; defaultMode: number } }[]).find((v) => v.name === tlsMount.name)?.secret).toEqual({ secretName: AGENT_TLS_SECRET, defaultMode: 0o400 });
  });

  it('the hub finds exactly the DaemonSet pods, on their port, and its args parse', async () => {
    const { parseHubFlags } = await import('../agent/src/cli/hub.ts');
    const { parseServerArgs } = await import('../agent/src/server/config.ts');
    const c = hub.spec.template.spec.containers[0]!;
    expect(c.args[0]).toBe('hub');
    const flags = parseHubFlags(c.args.slice(1));
    expect(flags.agents).toBeUndefined(); // discovery through the API
    expect(flags.tlsDir).toBe(TLS_MOUNT);
    expect(flags.insecure).toBe(false);
    const hubMount = (c as unknown as { volumeMounts: { name: string; mountPath: string }[] }).volumeMounts.find((m) => m.mountPath === TLS_MOUNT)!;
    expect((hub.spec.template.spec.volumes as { name: string; secret?: { secretName: string } }[]).find((v) => v.name === hubMount.name)?.secret?.secretName).toBe(HUB_TLS_SECRET);
    expect(flags.namespace).toBe(ds.metadata.namespace);
    expect(flags.port).toBe(ds.spec.template.spec.containers[0]!.ports[0]!.containerPort);
    const wanted = Object.fromEntries(flags.selector.split(',').map((kv) => kv.split('=') as [string, string]));
    expect(ds.spec.template.metadata.labels).toMatchObject(wanted);
    expect(hub.spec.template.metadata.labels).not.toMatchObject(wanted);
    const cfg = parseServerArgs(flags.rest, { HOPSCOPE_TOKEN: 'a-token-of-sixteen-chars' }, { uiDir: 'ui/dist', port: 7070 }, 'serve');
    expect(cfg).toMatchObject({ host: '0.0.0.0', port: 7070 });
  });

  it('the hub holds no privilege and its Service reaches it', () => {
    const pod = hub.spec.template.spec as { hostNetwork?: boolean; hostPID?: boolean; securityContext: { runAsNonRoot: boolean }; containers: Container[] };
    expect(pod.hostNetwork).toBeFalsy();
    expect(pod.hostPID).toBeFalsy();
    expect(pod.securityContext.runAsNonRoot).toBe(true);
    const sc = pod.containers[0]!.securityContext as { privileged: boolean; allowPrivilegeEscalation: boolean; capabilities: { drop: string[]; add?: string[] } };
    expect(sc).toMatchObject({ privileged: false, allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } });
    expect(sc.capabilities.add).toBeUndefined();
    const svc = docs.find((d) => d.kind === 'Service' && d.metadata.name === 'hopscope-hub') as Doc & { spec: { type: string; selector: Record<string, string>; ports: { port: number; targetPort: string }[] } };
    expect(svc.spec.type).toBe('ClusterIP');
    expect(hub.spec.template.metadata.labels).toMatchObject(svc.spec.selector);
    expect(ds.spec.template.metadata.labels).not.toMatchObject(svc.spec.selector);
    expect(pod.containers[0]!.ports.map((p) => p.name)).toContain(svc.spec.ports[0]!.targetPort);
    expect(svc.spec.ports[0]!.port).toBe(7070);
  });
});
