import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { expandTopology, scaleDeployment } from './model.ts';
import { parseTopology } from './topology.ts';
import { podTemplateHash, renderCluster, type K8sObject } from './k8s-objects.ts';

const model = expandTopology(parseTopology(readFileSync(new URL('./topologies/default.yaml', import.meta.url), 'utf8')));
const opts = { time: '2026-01-02T03:04:05Z', kernelVersion: '6.18.0' };
const byName = (list: K8sObject[], ns: string | undefined, name: string): K8sObject => {
  const o = list.find((x) => x.metadata.name === name && x.metadata.namespace === ns);
  if (!o) throw new Error(`no ${ns}/${name} in ${list.map((x) => x.metadata.name).join(',')}`);
  return o;
};

describe('renderCluster', () => {
  const out = renderCluster(model, opts);

  it('renders pods with node, IPs, Ready condition and a ReplicaSet owner for Deployment pods', () => {
    expect(out.pods.map((p) => p.metadata.name)).toEqual(model.pods.map((p) => p.name));
    const web = model.pods.find((p) => p.deployment)!;
    const pod = byName(out.pods, 'default', web.name) as K8sObject & { spec: { nodeName: string; containers: { name: string; ports?: unknown[] }[] }; status: Record<string, unknown> };
    expect(pod.metadata.uid).toBe(web.uid);
    expect(pod.metadata.labels).toEqual(web.labels);
    expect(pod.metadata.ownerReferences).toEqual([expect.objectContaining({ kind: 'ReplicaSet', name: web.deployment!.replicaSet, controller: true })]);
    expect(pod.spec.nodeName).toBe(web.node);
    expect(pod.spec.containers[0]).toMatchObject({ name: 'web', ports: [{ containerPort: 8080, protocol: 'TCP', name: 'http' }] });
    const node = model.nodes.find((n) => n.name === web.node)!;
    expect(pod.status).toMatchObject({ phase: 'Running', podIP: web.ip, podIPs: [{ ip: web.ip }], hostIP: node.address });
    expect(pod.status.conditions).toContainEqual(expect.objectContaining({ type: 'Ready', status: 'True' }));
    // A standalone pod has no owner.
    expect(byName(out.pods, 'default', 'client').metadata.ownerReferences).toBeUndefined();
  });

  it('renders services with clusterIPs, ports, nodePort only on NodePort services, and selectors', () => {
    expect(byName(out.services, 'default', 'web-nodeport').spec).toMatchObject({
      type: 'NodePort',
      clusterIP: '10.96.0.30',
      clusterIPs: ['10.96.0.30'],
      selector: { app: 'web' },
      ports: [{ name: 'http', protocol: 'TCP', port: 80, targetPort: 8080, nodePort: 30080 }],
    });
    const dns = byName(out.services, 'kube-system', 'kube-dns').spec as { ports: Record<string, unknown>[] };
    expect(dns.ports).toEqual([
      { name: 'dns', protocol: 'UDP', port: 53, targetPort: 53 },
      { name: 'dns-tcp', protocol: 'TCP', port: 53, targetPort: 53 },
    ]);
  });

  it('renders one EndpointSlice per service with ready endpoints pointing at pods', () => {
    const slice = out.endpointslices.find((s) => s.metadata.labels?.['kubernetes.io/service-name'] === 'web')!;
    expect(slice.apiVersion).toBe('discovery.k8s.io/v1');
    expect(slice.addressType).toBe('IPv4');
    const webPods = model.pods.filter((p) => p.deployment?.name === 'web');
    expect(slice.endpoints).toEqual(
      webPods.map((p) => ({
        addresses: [p.ip],
        conditions: { ready: true, serving: true, terminating: false },
        nodeName: p.node,
        targetRef: { kind: 'Pod', namespace: 'default', name: p.name, uid: p.uid },
      })),
    );
    expect(slice.ports).toEqual([{ name: 'http', protocol: 'TCP', port: 8080 }]);
  });

  it('renders nodes with InternalIP, Hostname, podCIDRs and Ready', () => {
    const n = byName(out.nodes, undefined, 'node-2') as K8sObject & { spec: unknown; status: { addresses: unknown; conditions: unknown[]; nodeInfo: Record<string, string> } };
    expect(n.spec).toEqual({ podCIDR: '10.244.2.0/24', podCIDRs: ['10.244.2.0/24'] });
    expect(n.status.addresses).toEqual([
      { type: 'InternalIP', address: '10.0.0.2' },
      { type: 'Hostname', address: 'node-2' },
    ]);
    expect(n.status.conditions).toContainEqual(expect.objectContaining({ type: 'Ready', status: 'True' }));
    expect(n.status.nodeInfo.kernelVersion).toBe('6.18.0');
  });

  it('renders namespaces in use and the Deployment with its ReplicaSet', () => {
    expect(out.namespaces.map((n) => n.metadata.name)).toEqual(expect.arrayContaining(['default', 'kube-system']));
    const d = byName(out.deployments, 'default', 'web');
    expect(d.spec).toMatchObject({ replicas: 2, selector: { matchLabels: { app: 'web' } } });
    expect(d.status).toMatchObject({ replicas: 2, readyReplicas: 2 });
    const rs = out.replicasets[0]!;
    expect(rs.metadata.ownerReferences).toEqual([expect.objectContaining({ kind: 'Deployment', name: 'web', uid: d.metadata.uid })]);
  });

  it('keeps the ReplicaSet name when a Deployment is scaled to zero (template hash agrees with model.ts)', () => {
    const web = model.pods.find((p) => p.deployment)!;
    expect(podTemplateHash('default', 'web')).toBe(web.deployment!.podTemplateHash);
    const zero = renderCluster(scaleDeployment(model, 'default', 'web', 0).model, opts);
    expect(zero.replicasets[0]!.metadata.name).toBe(web.deployment!.replicaSet);
    expect(zero.deployments[0]!.status).toMatchObject({ replicas: 0 });
    expect(zero.endpointslices.find((s) => s.metadata.labels?.['kubernetes.io/service-name'] === 'web')!.endpoints).toEqual([]);
  });

  it('is deterministic', () => {
    expect(JSON.stringify(renderCluster(model, opts))).toBe(JSON.stringify(out));
  });
});
