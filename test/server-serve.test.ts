// `hopscope serve` against a real Kubernetes-compatible API: the lab's, through its kubeconfig,
// with the real tracer on this node. No lab handle: topology and names come from the API.
import { describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { serveOnLabForFile, webTrafficUntil } from './server-helpers.ts';
import { parseServerMessage, topologySchema, type ServerMessage } from '../agent/src/protocol/messages.ts';

const TOKEN = `serve-test-${process.pid}-0123456789`;
const served = serveOnLabForFile(`hssv${process.pid % 100000}`, TOKEN, (lab) => {
  const kubeconfig = lab.state().api?.kubeconfig;
  if (!kubeconfig) throw new Error('lab came up without its API');
  return ['--kubeconfig', kubeconfig, '--port', '0'];
});

const auth = { Authorization: `Bearer ${TOKEN}` };

describe('hopscope serve', () => {
  it('serves the cluster as the API lists it', async () => {
    const r = await fetch(`${served.base}api/topology`, { headers: auth });
    expect(r.status).toBe(200);
    const t = topologySchema.parse(await r.json());
    const model = served.lab.state().model;
    expect(t.nodes.map((n) => n.name).sort()).toEqual(model.nodes.map((n) => n.name).sort());
    expect(t.pods.map((p) => p.ip).sort()).toEqual(model.pods.map((p) => p.ip).sort());
    const web = t.services.find((s) => s.name === 'web')!;
    expect(web.clusterIP).toBe('10.96.0.20');
    expect(web.endpoints.map((e) => e.name).sort()).toEqual(model.services.find((s) => s.name === 'web')!.endpoints.map((e) => e.podName).sort());
    expect(t.deployments).toContainEqual({ namespace: 'default', name: 'web', replicas: 2 });
    const st = (await (await fetch(`${served.base}api/status`, { headers: auth })).json()) as { status: { tracer: string; lab: unknown } };
    expect(st.status.lab).toBeNull();
    expect(st.status.tracer).toBe('running');
    expect((await fetch(`${served.base}api/topology`)).status).toBe(401);
  });

  it('streams journeys named from the API and refuses lab actions', async () => {
    const msgs: ServerMessage[] = [];
    const ws = new WebSocket(`${served.base.replace('http', 'ws')}ws`, { headers: auth });
    ws.on('message', (d) => {
      const m = parseServerMessage(d.toString());
      if (m.ok) msgs.push(m.message);
    });
    await new Promise((r) => ws.once('open', r));
    ws.send(JSON.stringify({ type: 'hello', version: 1 }));
    ws.send(JSON.stringify({ type: 'subscribe', filter: { service: 'web', onlyDrops: false, onlyNat: false } }));
    ws.send(JSON.stringify({ type: 'action', id: 'x', action: { kind: 'scale', namespace: 'default', deployment: 'web', replicas: 3 } }));
    const named = () => msgs.some((m) => m.type === 'batch' && m.journeys.some((j) => j.dst.service?.name === 'web' && j.src.pod?.name === 'client'));
    await webTrafficUntil(served.lab, named);
    expect(named()).toBe(true);
    expect(msgs.find((m) => m.type === 'actionResult')).toMatchObject({ ok: false, error: expect.stringMatching(/no lab/) });
    ws.close();
  });
});
