// The deployment manifests are validated against the Kubernetes schemas (kubernetes-models),
// and the RBAC is checked to grant nothing beyond reading the four resources hopscope names.
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { describe, expect, it } from 'vitest';

const dir = join(import.meta.dirname, '..', 'manifests');

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
    parseAllDocuments(readFileSync(join(dir, f), 'utf8')).map((d) => {
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
    const files = readdirSync(dir).filter((f) => f.endsWith('.yaml') && f !== 'kustomization.yaml');
    expect(files.sort()).toEqual([...listed].sort());
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
    expect(sc.capabilities.add.sort()).toEqual(['BPF', 'PERFMON', 'SYS_PTRACE', 'SYS_RESOURCE']);
    expect(pod.containers[0]!.resources.limits).toBeDefined();
  });

  it('the namespace carries the Pod Security label the agent needs', () => {
    const ns = docs.find((d) => d.kind === 'Namespace') as Doc & { metadata: { labels: Record<string, string> } };
    expect(ns.metadata.labels['pod-security.kubernetes.io/enforce']).toBe('privileged');
  });
});
