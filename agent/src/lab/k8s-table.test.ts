import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { expandTopology, scaleDeployment } from './model.ts';
import { parseTopology } from './topology.ts';
import { renderCluster, type K8sObject } from './k8s-objects.ts';
import { ObjectStore } from './k8s-store.ts';
import { formatLabels, humanDuration, negotiate, rowCells, TABLE_COLUMNS, toTable } from './k8s-table.ts';

const model = expandTopology(parseTopology(readFileSync(new URL('./topologies/default.yaml', import.meta.url), 'utf8')));
const time = '2026-01-02T03:04:05Z';
const objs = renderCluster(model, { time, kernelVersion: '6.18.0' });
const stamped = <T extends K8sObject>(o: T): T => ({ ...o, metadata: { ...o.metadata, creationTimestamp: time } });
const now = Date.parse(time) + 90_000;
const cellsBy = (r: keyof typeof objs, o: K8sObject): Record<string, unknown> =>
  Object.fromEntries(rowCells(r, stamped(o), now).map((c, i) => [TABLE_COLUMNS[r][i]!.name, c]));

describe('humanDuration (kubectl AGE)', () => {
  it('follows the precision steps of apimachinery', () => {
    const s = 1000;
    const m = 60 * s;
    const h = 60 * m;
    const d = 24 * h;
    const cases: [number, string][] = [
      [-5 * s, '<invalid>'],
      [-1 * s, '0s'],
      [0, '0s'],
      [119 * s, '119s'],
      [2 * m, '2m'],
      [9 * m + 59 * s, '9m59s'],
      [10 * m + 30 * s, '10m'],
      [179 * m, '179m'],
      [3 * h, '3h'],
      [7 * h + 59 * m, '7h59m'],
      [8 * h + 30 * m, '8h'],
      [47 * h, '47h'],
      [2 * d, '2d'],
      [7 * d + 23 * h, '7d23h'],
      [8 * d + 5 * h, '8d'],
      [729 * d, '729d'],
      [730 * d, '2y'],
      [731 * d, '2y1d'],
      [8 * 365 * d + 40 * d, '8y'],
    ];
    for (const [ms, want] of cases) expect(humanDuration(ms), `${ms} ms`).toBe(want);
  });
});

describe('rows as kubectl prints them, from the rendered model', () => {
  it('pods: READY counts ready containers, IP and NODE come from the model', () => {
    for (const p of model.pods) {
      const o = objs.pods.find((x) => x.metadata.name === p.name)!;
      expect(cellsBy('pods', o)).toEqual({
        Name: p.name,
        Ready: `${p.containers.length}/${p.containers.length}`,
        Status: 'Running',
        Restarts: '0',
        Age: '90s',
        IP: p.ip,
        Node: p.node,
        'Nominated Node': '<none>',
        'Readiness Gates': '<none>',
      });
    }
  });

  it('pods: a container waiting or terminated shows its reason, a deleted pod Terminating', () => {
    const o = objs.pods[0]! as K8sObject & { status: { containerStatuses: Record<string, unknown>[] } };
    const waiting = { ...o, status: { ...o.status, containerStatuses: [{ ready: false, restartCount: 3, state: { waiting: { reason: 'CrashLoopBackOff' } } }] } };
    expect(rowCells('pods', waiting, now).slice(1, 4)).toEqual(['0/1', 'CrashLoopBackOff', '3']);
    const killed = { ...o, status: { ...o.status, containerStatuses: [{ ready: false, state: { terminated: { signal: 9 } } }] } };
    expect(rowCells('pods', killed, now)[2]).toBe('Signal:9');
    expect(rowCells('pods', { ...o, metadata: { ...o.metadata, deletionTimestamp: time } }, now)[2]).toBe('Terminating');
  });

  it('services: TYPE, CLUSTER-IP, PORT(S) with the node port, SELECTOR', () => {
    for (const s of model.services) {
      const o = objs.services.find((x) => x.metadata.name === s.name)!;
      const ports = s.ports.map((p) => (s.type === 'NodePort' && p.nodePort ? `${p.port}:${p.nodePort}/${p.protocol}` : `${p.port}/${p.protocol}`)).join(',');
      expect(cellsBy('services', o)).toEqual({ Name: s.name, Type: s.type, 'Cluster-IP': s.clusterIP, 'External-IP': '<none>', 'Port(s)': ports, Age: '90s', Selector: formatLabels(s.selector) });
    }
  });

  it('endpoints and endpointslices: address:port per port, at most three then "+ N more..."', () => {
    const web = model.services.find((s) => s.name === 'web')!;
    const ep = objs.endpoints.find((x) => x.metadata.name === 'web')!;
    expect(cellsBy('endpoints', ep).Endpoints).toBe(web.endpoints.map((e) => `${e.ip}:${web.ports[0]!.targetPort}`).join(','));
    const slice = objs.endpointslices.find((x) => x.metadata.labels?.['kubernetes.io/service-name'] === 'web')!;
    expect(cellsBy('endpointslices', slice)).toMatchObject({ AddressType: 'IPv4', Ports: String(web.ports[0]!.targetPort), Endpoints: web.endpoints.map((e) => e.ip).join(',') });
    const five = scaleDeployment(model, 'default', 'web', 5).model;
    const five5 = renderCluster(five, { time }).endpoints.find((x) => x.metadata.name === 'web')!;
    const addrs = five.services.find((s) => s.name === 'web')!.endpoints.map((e) => `${e.ip}:8080`);
    expect(rowCells('endpoints', five5, now)[1]).toBe(`${addrs.slice(0, 3).join(',')} + 2 more...`);
    // A Service without endpoints has no subsets.
    const none = renderCluster(scaleDeployment(model, 'default', 'web', 0).model, { time }).endpoints.find((x) => x.metadata.name === 'web')!;
    expect(none.subsets).toBeUndefined();
    expect(rowCells('endpoints', none, now)[1]).toBe('<none>');
  });

  it('nodes, deployments, replicasets, namespaces', () => {
    for (const n of model.nodes) {
      const o = objs.nodes.find((x) => x.metadata.name === n.name)!;
      expect(cellsBy('nodes', o)).toMatchObject({ Status: 'Ready', Roles: '<none>', 'Internal-IP': n.address, 'External-IP': '<none>', 'Kernel-Version': '6.18.0' });
    }
    const d = model.deployments[0]!;
    const pods = model.pods.filter((p) => p.deployment?.name === d.name).length;
    expect(cellsBy('deployments', objs.deployments[0]!)).toEqual({
      Name: d.name,
      Ready: `${pods}/${d.replicas}`,
      'Up-to-date': pods,
      Available: pods,
      Age: '90s',
      Containers: d.containers.map((c) => c.name).join(','),
      Images: d.containers.map((c) => `hopscope.lab/${c.run.kind}:lab`).join(','),
      Selector: formatLabels(d.labels),
    });
    expect(cellsBy('replicasets', objs.replicasets[0]!)).toMatchObject({ Desired: d.replicas, Current: pods, Ready: pods });
    // FormatLabelSelector: an empty selector prints <none>, as the Service's and ReplicaSet's do.
    const bare = { ...objs.deployments[0]!, spec: { replicas: 1 } };
    expect(rowCells('deployments', bare, now).at(-1)).toBe('<none>');
    expect(objs.namespaces.map((o) => rowCells('namespaces', o, now).slice(0, 2))).toContainEqual(['kube-system', 'Active']);
  });

  it('every resource has one cell per column', () => {
    for (const r of Object.keys(objs) as (keyof typeof objs)[])
      for (const o of objs[r]) expect(rowCells(r, o, now), r).toHaveLength(TABLE_COLUMNS[r].length);
  });
});

describe('toTable', () => {
  it('is a meta.k8s.io Table whose rows carry the metadata kubectl reads (namespace for -A, labels)', () => {
    const store = new ObjectStore(model, { time, rvBase: 10, historyLimit: 10 });
    const pods = store.list('pods');
    const t = toTable('pods', pods, { version: 'v1', include: 'Metadata', now, resourceVersion: String(store.resourceVersion) }) as {
      kind: string;
      apiVersion: string;
      metadata: { resourceVersion: string };
      columnDefinitions: { name: string; priority: number }[];
      rows: { cells: unknown[]; object: { kind: string; metadata: K8sObject['metadata'] } }[];
    };
    expect(t).toMatchObject({ kind: 'Table', apiVersion: 'meta.k8s.io/v1', metadata: { resourceVersion: String(store.resourceVersion) } });
    expect(t.columnDefinitions.filter((c) => c.priority === 0).map((c) => c.name)).toEqual(['Name', 'Ready', 'Status', 'Restarts', 'Age']);
    expect(t.rows.map((r) => r.object.metadata.namespace)).toEqual(pods.map((p) => p.metadata.namespace));
    expect(t.rows[0]!.object.kind).toBe('PartialObjectMetadata');
    const v1beta1 = toTable('pods', pods, { version: 'v1beta1', include: 'None', now });
    expect(v1beta1.apiVersion).toBe('meta.k8s.io/v1beta1');
    expect((v1beta1.rows as Record<string, unknown>[])[0]).not.toHaveProperty('object');
    expect((toTable('pods', pods, { version: 'v1', include: 'Object', now }).rows as { object: unknown }[])[0]!.object).toBe(pods[0]);
  });
});

describe('negotiate (Accept)', () => {
  it("reads kubectl's Table request, plain JSON and refuses what it cannot serve", () => {
    expect(negotiate('application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json')).toEqual({ type: 'table', version: 'v1' });
    expect(negotiate('application/json;as=Table;v=v1beta1;g=meta.k8s.io')).toEqual({ type: 'table', version: 'v1beta1' });
    expect(negotiate('application/json;as=Table;v=v2;g=meta.k8s.io, application/json')).toEqual({ type: 'json' });
    expect(negotiate('application/json, */*')).toEqual({ type: 'json' });
    expect(negotiate(undefined)).toEqual({ type: 'json' });
    expect(negotiate('application/vnd.kubernetes.protobuf')).toBeUndefined();
    expect(negotiate('application/json;as=PartialObjectMetadataList;v=v1;g=meta.k8s.io')).toBeUndefined();
  });
});
