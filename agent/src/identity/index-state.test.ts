import { readFileSync } from 'node:fs';
import type { V1EndpointSlice, V1Node, V1Pod, V1Service } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { renderCluster } from '../lab/k8s-objects.ts';
import { expandTopology } from '../lab/model.ts';
import { parseTopology } from '../lab/topology.ts';
import { WATCHED_KINDS, applyList, applyUpdate, buildLookups, emptyState, isStale, lookupService, trimObject, type IndexState } from './index-state.ts';

const pod = (name: string, ip: string, rv: string, extra: Partial<V1Pod['spec']> = {}, ns = 'default'): V1Pod => ({
  metadata: { name, namespace: ns, uid: `uid-${name}`, resourceVersion: rv },
  spec: { nodeName: 'node-1', containers: [], ...extra },
  status: { phase: 'Running', podIP: ip, podIPs: [{ ip }] },
});
const node = (name: string, ip: string): V1Node => ({
  metadata: { name, resourceVersion: '1' },
  status: { addresses: [{ type: 'InternalIP', address: ip }, { type: 'Hostname', address: name }] },
});
const svc: V1Service = {
  metadata: { name: 'web', namespace: 'default', resourceVersion: '5' },
  spec: {
    type: 'NodePort',
    clusterIP: '10.96.0.30',
    clusterIPs: ['10.96.0.30'],
    ports: [
      { name: 'http', protocol: 'TCP', port: 80, nodePort: 30080 },
      { name: 'dns', protocol: 'UDP', port: 53 },
    ],
  },
};
const slice: V1EndpointSlice = {
  metadata: { name: 'web-abcde', namespace: 'default', labels: { 'kubernetes.io/service-name': 'web' }, resourceVersion: '6' },
  addressType: 'IPv4',
  endpoints: [
    { addresses: ['10.244.1.4'], conditions: { ready: true }, nodeName: 'node-1', targetRef: { kind: 'Pod', namespace: 'default', name: 'web-1' } },
    { addresses: ['10.244.2.9'], conditions: { ready: false }, nodeName: 'node-2', targetRef: { kind: 'Pod', namespace: 'default', name: 'web-2' } },
  ],
  ports: [{ name: 'http', protocol: 'TCP', port: 8080 }],
};

describe('isStale', () => {
  it.each([
    ['10', '9', true],
    ['10', '10', false],
    ['9', '10', false],
    ['99999999999999999999', '100000000000000000000', false], // beyond 2^53: compared exactly
    ['100000000000000000001', '100000000000000000000', true],
    ['abc', '1', false], // opaque versions are not compared
    [undefined, '1', false],
  ])('current %s, incoming %s → %s', (cur, inc, want) => expect(isStale(cur, inc)).toBe(want));
});

describe('applyUpdate / applyList', () => {
  it('adds, modifies and deletes, ignoring stale and repeated versions', () => {
    const s = emptyState();
    expect(applyUpdate(s, { kind: 'pods', type: 'ADDED', object: pod('a', '10.244.1.2', '10') })).toBe(true);
    expect(applyUpdate(s, { kind: 'pods', type: 'MODIFIED', object: pod('a', '10.244.1.9', '9') })).toBe(false);
    expect(applyUpdate(s, { kind: 'pods', type: 'MODIFIED', object: pod('a', '10.244.1.2', '10') })).toBe(false);
    expect(s.pods.get('default/a')!.status!.podIP).toBe('10.244.1.2');
    expect(applyUpdate(s, { kind: 'pods', type: 'MODIFIED', object: pod('a', '10.244.1.3', '11') })).toBe(true);
    expect(s.pods.get('default/a')!.status!.podIP).toBe('10.244.1.3');
    // A delete older than what we have (the pod was recreated since) must not remove it.
    expect(applyUpdate(s, { kind: 'pods', type: 'DELETED', object: pod('a', '', '10') })).toBe(false);
    expect(applyUpdate(s, { kind: 'pods', type: 'DELETED', object: pod('a', '', '12') })).toBe(true);
    expect(s.pods.size).toBe(0);
    expect(applyUpdate(s, { kind: 'pods', type: 'DELETED', object: pod('a', '', '13') })).toBe(false);
    expect(applyUpdate(s, { kind: 'pods', type: 'ADDED', object: { metadata: {} } })).toBe(false);
  });

  it('a relist replaces the kind wholesale (objects deleted while disconnected disappear)', () => {
    const s = emptyState();
    applyList(s, 'pods', [pod('a', '10.244.1.2', '1'), pod('b', '10.244.1.3', '2')]);
    applyList(s, 'nodes', [node('node-1', '10.0.0.1')]);
    applyList(s, 'pods', [pod('b', '10.244.1.3', '2'), pod('c', '10.244.1.4', '7')]);
    expect([...s.pods.keys()]).toEqual(['default/b', 'default/c']);
    expect(s.nodes.size).toBe(1);
  });

  it('a relist keeps the object it holds when the version is the same (the informer keeps its cached one too)', () => {
    const s = emptyState();
    applyList(s, 'pods', [pod('a', '10.244.1.2', '1'), pod('b', '10.244.1.3', '2')]);
    const [a, b] = [s.pods.get('default/a'), s.pods.get('default/b')];
    applyList(s, 'pods', [pod('a', '10.244.1.2', '1'), pod('b', '10.244.1.9', '5')]);
    expect(s.pods.get('default/a')).toBe(a);
    expect(s.pods.get('default/b')).not.toBe(b);
    expect(s.pods.get('default/b')!.status!.podIP).toBe('10.244.1.9');
  });
});

describe('buildLookups', () => {
  const s = emptyState();
  applyList(s, 'pods', [
    pod('web-1', '10.244.1.4', '1'),
    pod('hostnet', '10.0.0.1', '2', { hostNetwork: true }, 'kube-system'),
    {
      ...pod('sidecar', '10.244.1.5', '4'),
      status: {
        phase: 'Running',
        podIP: '10.244.1.5',
        initContainerStatuses: [{ name: 'init', image: 'i', imageID: '', ready: false, restartCount: 0, containerID: 'containerd://' + 'a'.repeat(64) }],
        containerStatuses: [
          { name: 'app', image: 'i', imageID: '', ready: true, restartCount: 0, containerID: 'cri-o://' + 'b'.repeat(64) },
          { name: 'waiting', image: 'i', imageID: '', ready: false, restartCount: 0 },
        ],
      },
    },
    { ...pod('done', '10.244.1.7', '3'), status: { phase: 'Succeeded', podIP: '10.244.1.7' } },
  ]);
  applyList(s, 'nodes', [node('node-1', '10.0.0.1'), node('node-2', '10.0.0.2')]);
  applyList(s, 'services', [svc]);
  applyList(s, 'endpointslices', [slice]);
  const l = buildLookups(s);

  it('names pod IPs, but never by hostNetwork or finished pods', () => {
    expect(l.podByIp.get('10.244.1.4')).toEqual({ namespace: 'default', name: 'web-1', node: 'node-1' });
    expect(l.podByIp.get('10.0.0.1')).toBeUndefined();
    expect(l.podByIp.get('10.244.1.7')).toBeUndefined();
    expect(l.nodeByIp.get('10.0.0.1')).toBe('node-1');
    expect(l.podByUid.get('uid-hostnet')).toEqual({ namespace: 'kube-system', name: 'hostnet', node: 'node-1' });
    expect(l.podIps.get('default/web-1')).toEqual(['10.244.1.4']);
  });

  it('names pods by their containers\' ids, without the runtime prefix', () => {
    const sidecar = { namespace: 'default', name: 'sidecar', node: 'node-1' };
    expect(l.podByContainerId.get('a'.repeat(64))).toEqual(sidecar);
    expect(l.podByContainerId.get('b'.repeat(64))).toEqual(sidecar);
    expect(l.podByContainerId.size).toBe(2);
  });

  it('names a backend known only from its EndpointSlice', () => {
    expect(l.podByIp.get('10.244.2.9')).toEqual({ namespace: 'default', name: 'web-2', node: 'node-2' });
    expect(l.endpoints.get('default/web')).toEqual([
      { ip: '10.244.1.4', port: 8080, proto: 'tcp', ready: true, portName: 'http', pod: { namespace: 'default', name: 'web-1', node: 'node-1' } },
      { ip: '10.244.2.9', port: 8080, proto: 'tcp', ready: false, portName: 'http', pod: { namespace: 'default', name: 'web-2', node: 'node-2' } },
    ]);
  });

  it('finds services by ClusterIP:port/proto and by NodePort on any node address only', () => {
    expect(lookupService(l, '10.96.0.30', 80, 'tcp')).toEqual({ namespace: 'default', name: 'web', port: 80, portName: 'http' });
    expect(lookupService(l, '10.96.0.30', 53, 'udp')).toEqual({ namespace: 'default', name: 'web', port: 53, portName: 'dns' });
    expect(lookupService(l, '10.96.0.30', 80, 'udp')).toBeUndefined();
    expect(lookupService(l, '10.96.0.30', 53, 'tcp')).toBeUndefined();
    expect(lookupService(l, '10.0.0.2', 30080, 'tcp')).toEqual({ namespace: 'default', name: 'web', port: 30080, portName: 'http' });
    expect(lookupService(l, '10.244.1.4', 30080, 'tcp')).toBeUndefined();
    expect(l.serviceIps.get('default/web')).toEqual([
      { ip: '10.96.0.30', port: 80, proto: 'tcp' },
      { ip: '10.96.0.30', port: 53, proto: 'udp' },
      { ip: '10.0.0.1', port: 30080, proto: 'tcp' },
      { ip: '10.0.0.2', port: 30080, proto: 'tcp' },
    ]);
  });
});

describe('trimObject', () => {
  // What the lab's API serves (as a real API server would: conditions, container statuses,
  // labels, annotations, owner references), plus the hand-made objects above.
  const model = expandTopology(parseTopology(readFileSync(new URL('../lab/topologies/six-node.yaml', import.meta.url), 'utf8')));
  const served = renderCluster(model, { time: '2026-12-04T00:00:00Z' });
  const full = (): IndexState => {
    const s = emptyState();
    for (const k of WATCHED_KINDS) applyList(s, k, structuredClone(served[k]) as never[]);
    for (const p of [pod('hostnet', '10.0.0.1', '2', { hostNetwork: true }, 'kube-system'), { ...pod('done', '10.244.9.7', '3'), status: { phase: 'Succeeded', podIP: '10.244.9.7' } }]) applyUpdate(s, { kind: 'pods', type: 'ADDED', object: p });
    const lb: V1Service = { ...svc, spec: { ...svc.spec, externalIPs: ['192.0.2.1'] }, status: { loadBalancer: { ingress: [{ ip: '192.0.2.2', hostname: 'lb' }, { hostname: 'only-name' }] } } };
    applyUpdate(s, { kind: 'services', type: 'ADDED', object: lb });
    applyUpdate(s, { kind: 'endpointslices', type: 'ADDED', object: slice });
    applyUpdate(s, { kind: 'nodes', type: 'ADDED', object: node('node-extra', '10.0.9.1') });
    return s;
  };
  const trimmed = (s: IndexState): IndexState => {
    const t = emptyState();
    for (const k of WATCHED_KINDS) applyList(t, k, [...s[k].values()].map((o) => trimObject(k, o as never)) as never[]);
    return t;
  };
  /** Every path to a value in `o`, with array indexes as []. */
  const paths = (o: unknown, at = ''): string[] =>
    o !== null && typeof o === 'object' ? Object.entries(o).flatMap(([k, v]) => paths(v, `${at}${Array.isArray(o) ? '[]' : `.${k}`}`)) : [at];

  it('keeps everything the lookups and the stale check read', () => {
    const s = full();
    expect(s.pods.size).toBeGreaterThan(10);
    expect(buildLookups(trimmed(s))).toEqual(buildLookups(s));
    for (const k of WATCHED_KINDS) for (const [key, o] of s[k]) expect(trimmed(s)[k].get(key)!.metadata?.resourceVersion).toBe(o.metadata?.resourceVersion);
  });

  it('keeps nothing else: no conditions, labels, annotations, owners, specs of containers, timestamps', () => {
    const t = trimmed(full());
    const kept = new Set(WATCHED_KINDS.flatMap((k) => [...t[k].values()].flatMap((o) => paths(o).map((p) => `${k}${p}`))));
    expect([...kept].sort()).toEqual(
      [
        'endpointslices.endpoints[].addresses[]', 'endpointslices.endpoints[].conditions.ready', 'endpointslices.endpoints[].nodeName',
        'endpointslices.endpoints[].targetRef.kind', 'endpointslices.endpoints[].targetRef.name', 'endpointslices.endpoints[].targetRef.namespace',
        'endpointslices.metadata.labels.kubernetes.io/service-name', 'endpointslices.metadata.name', 'endpointslices.metadata.namespace', 'endpointslices.metadata.resourceVersion',
        'endpointslices.ports[].name', 'endpointslices.ports[].port', 'endpointslices.ports[].protocol',
        'nodes.metadata.name', 'nodes.metadata.resourceVersion', 'nodes.status.addresses[].address', 'nodes.status.addresses[].type',
        'pods.metadata.name', 'pods.metadata.namespace', 'pods.metadata.resourceVersion', 'pods.metadata.uid',
        'pods.spec.hostNetwork', 'pods.spec.nodeName', 'pods.status.containerStatuses[].containerID', 'pods.status.phase', 'pods.status.podIP', 'pods.status.podIPs[].ip',
        'services.metadata.name', 'services.metadata.namespace', 'services.metadata.resourceVersion',
        'services.spec.clusterIP', 'services.spec.clusterIPs[]', 'services.spec.externalIPs[]',
        'services.spec.ports[].name', 'services.spec.ports[].nodePort', 'services.spec.ports[].port', 'services.spec.ports[].protocol',
        'services.status.loadBalancer.ingress[].ip',
      ].sort(),
    );
  });

  it('is a copy: trimming again changes nothing, and the object given is left as it was', () => {
    const s = full();
    const before = structuredClone([...s.pods.values()]);
    const t = trimmed(s);
    expect(trimmed(t)).toEqual(t);
    expect([...s.pods.values()]).toEqual(before);
  });
});
