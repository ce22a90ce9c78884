import { describe, expect, it } from 'vitest';
import { actionOf, defaultPick, offeredKinds, pushRecent, settlePick, sourcesFor, targetsFor, type Pick } from './labPicker.ts';
import { bigTopology } from '../__tests__/bigTopology.ts';

const t = bigTopology();

describe('the traffic picker on a 30-Service lab', () => {
  it('offers six actions over three menus instead of a button per Service and action', () => {
    expect(t.services).toHaveLength(30);
    expect(t.pods).toHaveLength(38);
    expect(offeredKinds(t)).toEqual(['curl', 'dig', 'nodeport', 'closed-port', 'scale-up', 'scale-down']);
    // every Service but kube-dns can be curled, grouped by namespace
    const curl = targetsFor(t, 'curl');
    expect(curl).toHaveLength(29);
    expect(new Set(curl.map((o) => o.group))).toEqual(new Set(['default', 'backend', 'shop']));
    expect(targetsFor(t, 'nodeport').map((o) => o.label)).toEqual(['svc/web-nodeport :30080', 'svc/backend/api-nodeport :30081', 'svc/shop/shop-nodeport :30082']);
    // calls run from a pod, client first; a NodePort from the outside host to a chosen node
    expect(sourcesFor(t, 'curl')[0]!.value).toBe('client');
    expect(sourcesFor(t, 'nodeport').map((o) => o.value)).toEqual(t.nodes.map((n) => n.name));
    expect(sourcesFor(t, 'scale-up')).toEqual([]);
  });

  it('makes the LabAction the server validates', () => {
    const p = defaultPick(t)!;
    expect(p).toEqual({ kind: 'curl', target: 'svc:default/web', from: 'client' });
    expect(actionOf(t, p)).toEqual({ label: 'curl svc/web', action: { kind: 'curl', service: { namespace: 'default', name: 'web' } } });
    expect(actionOf(t, { kind: 'curl', target: 'svc:backend/api-v2', from: 'web-5f7c9-ax0' })).toEqual({
      label: 'curl svc/backend/api-v2 from web-5f7c9-ax0',
      action: { kind: 'curl', service: { namespace: 'backend', name: 'api-v2' }, from: 'web-5f7c9-ax0' },
    });
    expect(actionOf(t, { kind: 'dig', target: 'svc:shop/shop', from: 'client' })).toMatchObject({ action: { kind: 'dig', name: 'shop.shop.svc.cluster.local' } });
    expect(actionOf(t, { kind: 'nodeport', target: 'svc:backend/api-nodeport', from: 'node-4' })).toMatchObject({ label: 'NodePort :30081 on node-4', action: { kind: 'nodeport', node: 'node-4' } });
    expect(actionOf(t, { kind: 'closed-port', target: 'deploy:shop/shop', from: 'client' })).toMatchObject({ action: { kind: 'connect', port: 9, pod: { namespace: 'shop' } } });
    expect(actionOf(t, { kind: 'scale-down', target: 'deploy:backend/api', from: '' })).toEqual({ label: 'scale backend/api → 11', action: { kind: 'scale', namespace: 'backend', deployment: 'api', replicas: 11 } });
  });

  it('refuses a pick that does not fit the lab with a reason, not a broken action', () => {
    expect(actionOf(t, { kind: 'curl', target: 'svc:default/nope', from: 'client' })).toEqual({ error: 'no svc:default/nope to curl in this lab' });
    expect(actionOf(t, { kind: 'curl', target: 'svc:kube-system/kube-dns', from: 'client' })).toHaveProperty('error');
    expect(actionOf(t, { kind: 'curl', target: 'svc:default/web', from: 'ghost' })).toEqual({ error: 'cannot run from ghost' });
    expect(actionOf(t, { kind: 'scale-up', target: 'svc:default/web/x', from: '' })).toHaveProperty('error');
  });

  it('keeps a pick valid across an action change and a scale to zero', () => {
    const p: Pick = { kind: 'curl', target: 'svc:backend/api', from: 'web-5f7c9-ax0' };
    expect(settlePick(t, { ...p, kind: 'dig' })).toEqual({ kind: 'dig', target: 'svc:backend/api', from: 'web-5f7c9-ax0' });
    expect(settlePick(t, { ...p, kind: 'scale-up' })).toEqual({ kind: 'scale-up', target: 'deploy:default/web', from: '' });
    const scaled = { ...t, deployments: t.deployments.map((d) => (d.name === 'api' ? { ...d, replicas: 0 } : d)) };
    expect(targetsFor(scaled, 'scale-down').map((o) => o.value)).toEqual(['deploy:default/web', 'deploy:shop/shop']);
  });

  it('keeps the recent picks newest first, without repeats, bounded', () => {
    let r: Pick[] = [];
    for (let i = 0; i < 10; i++) r = pushRecent(r, { kind: 'curl', target: `svc:default/web${i % 3 ? '' : '-v2'}`, from: `p${i}` });
    expect(r).toHaveLength(6);
    expect(r[0]!.from).toBe('p9');
    r = pushRecent(r, r[3]!);
    expect(r).toHaveLength(6);
    expect(r[0]!.from).toBe('p6');
  });
});
