import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { expandTopology, scaleDeployment } from './model.ts';
import { parseTopology } from './topology.ts';
import { ObjectStore } from './k8s-store.ts';

const model = expandTopology(parseTopology(readFileSync(new URL('./topologies/default.yaml', import.meta.url), 'utf8')));
const opts = { time: '2026-01-02T03:04:05Z', rvBase: 1000, historyLimit: 50 };

describe('ObjectStore', () => {
  it('stamps every object with a distinct resourceVersion and lists at the newest', () => {
    const s = new ObjectStore(model, opts);
    const rvs = (['pods', 'services', 'endpointslices', 'nodes'] as const).flatMap((r) => s.list(r).map((o) => Number(o.metadata.resourceVersion)));
    expect(new Set(rvs).size).toBe(rvs.length);
    expect(Math.max(...rvs)).toBeLessThanOrEqual(s.resourceVersion);
    expect(Math.min(...rvs)).toBeGreaterThan(1000);
  });

  it('turns a scale into ADDED pod, MODIFIED slice/deployment events with increasing versions', () => {
    const s = new ObjectStore(model, opts);
    const start = s.resourceVersion;
    const scaled = scaleDeployment(model, 'default', 'web', 3);
    const ev = s.setModel(scaled.model, '2026-01-02T03:05:00Z');
    const added = scaled.added[0]!;
    expect(ev.filter((e) => e.resource === 'pods')).toEqual([expect.objectContaining({ type: 'ADDED', object: expect.objectContaining({ metadata: expect.objectContaining({ name: added.name, creationTimestamp: '2026-01-02T03:05:00Z' }) }) })]);
    const slices = ev.filter((e) => e.resource === 'endpointslices');
    expect(slices.map((e) => [e.type, e.object.metadata.labels?.['kubernetes.io/service-name']]).sort()).toEqual([
      ['MODIFIED', 'web'],
      ['MODIFIED', 'web-nodeport'],
    ]);
    expect(slices[0]!.previous).toBeDefined();
    expect(ev.map((e) => e.rv)).toEqual(ev.map((_, i) => start + 1 + i));
    expect(s.resourceVersion).toBe(start + ev.length);
    // Unchanged objects keep their version; nothing happens when the model does not change.
    expect(s.setModel(scaled.model, 'x')).toEqual([]);
  });

  it('emits DELETED with a new version on scale-down', () => {
    const s = new ObjectStore(model, opts);
    const scaled = scaleDeployment(model, 'default', 'web', 1);
    const ev = s.setModel(scaled.model, 't');
    const del = ev.filter((e) => e.type === 'DELETED');
    expect(del.map((e) => e.object.metadata.name)).toEqual([scaled.removed[0]!.name]);
    expect(Number(del[0]!.object.metadata.resourceVersion)).toBe(del[0]!.rv);
    // The pod is marked for deletion first (kubectl shows it Terminating), then removed.
    const pods = ev.filter((e) => e.resource === 'pods');
    expect(pods.map((e) => [e.type, e.object.metadata.name, e.object.metadata.deletionTimestamp])).toEqual([
      ['MODIFIED', scaled.removed[0]!.name, 't'],
      ['DELETED', scaled.removed[0]!.name, 't'],
    ]);
  });

  it('serves events since a version and expires versions outside the bounded history', () => {
    const s = new ObjectStore(model, { ...opts, historyLimit: 9 });
    const v0 = s.resourceVersion;
    expect(s.eventsSince(v0)).toEqual([]);
    expect(s.eventsSince(v0 - 1)).toBe('expired'); // before the first event: never in history
    expect(s.eventsSince(v0 + 1)).toBe('expired'); // from the future
    const e1 = s.setModel(scaleDeployment(model, 'default', 'web', 3).model, 't');
    expect(e1.length).toBeLessThanOrEqual(9);
    expect(s.eventsSince(v0)).toEqual(e1);
    const v1 = s.resourceVersion;
    s.setModel(scaleDeployment(model, 'default', 'web', 1).model, 't');
    expect(s.eventsSince(v0)).toBe('expired');
    const since = s.eventsSince(v1 + 1);
    expect(since !== 'expired' && since.every((e) => e.rv > v1 + 1)).toBe(true);
  });
});
