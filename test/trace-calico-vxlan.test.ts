// hopscope trace on a Calico VXLAN lab (cali* veths, vxlan.calico VNI 4096 on port 4789)
// with kube-proxy in nftables mode: the NAT comes from nft rules, the hops must read the same.
import { describe, expect, it } from 'vitest';
import type { Journey } from '../agent/src/protocol/events.ts';
import { curl, curlUntilNode, inner, kinds, sent, synOf, traceLabForFile, waitFor, waitForReply } from './trace-helpers.ts';

const NAME = `jv${process.pid % 10000}`;
const t = traceLabForFile(NAME, { cni: 'calico-vxlan', kubeProxy: 'nftables' });

const TUNNEL = ['encap', 'underlay', 'underlay', 'underlay', 'underlay', 'decap'];

/** The tunnelled leg (between encap and decap) carries VXLAN between the two node addresses. */
function expectCalicoVxlan(j: Journey, from: string, to: string) {
  const start = j.hops.findIndex((h) => h.kind === 'encap');
  const end = j.hops.findIndex((h) => h.kind === 'decap');
  expect(end - start).toBe(5);
  for (const h of j.hops.slice(start + 1, end)) {
    expect(h.kind).toBe('underlay');
    expect(h.encap).toMatchObject({ kind: 'vxlan', vni: 4096 });
    expect(h.packet).toMatchObject({ src: from, dst: to, l4: { proto: 'udp', dport: 4789 } });
  }
  expect(j.hops.find((h) => h.kind === 'encap')!.dev).toBe('vxlan.calico');
  expect(j.hops.find((h) => h.kind === 'decap')!.dev).toBe('vxlan.calico');
}

describe('trace: calico-vxlan + nftables', () => {
  it('pod → pod across nodes through vxlan.calico (VNI 4096, port 4789)', async () => {
    const client = t.pod('default', 'client');
    const web2 = t.pod('default', 'web', 'node-2');
    const a = await curl(t.lab, 'default/client', `http://${web2.ip}:8080/`);
    const syn = await waitFor('cross-node SYN', () => synOf(t.journeys, client.ip, a.peerPort));
    expect(kinds(syn)).toEqual(['pod-egress', 'host-veth', ...TUNNEL, 'host-veth', 'deliver']);
    expect(syn.hops.map((h) => h.where.label)).toEqual(['client (default)', 'node-1', 'node-1', 'node-1', 'underlay', 'underlay', 'node-2', 'node-2', 'node-2', `${web2.name} (default)`]);
    expectCalicoVxlan(syn, '10.0.0.1', '10.0.0.2');
    expect(syn.hops[1]!.dev).toBe(client.hostVeth);
    expect(syn.hops[8]!.dev).toBe(web2.hostVeth);
    for (const h of syn.hops) expect(inner(h)).toMatchObject({ src: client.ip, dst: web2.ip });
  });

  it('pod → ClusterIP with nftables kube-proxy: DNAT then the tunnel; reverse NAT on the reply', async () => {
    const client = t.pod('default', 'client');
    const web2 = t.pod('default', 'web', 'node-2');
    const a = await curlUntilNode(t.lab, 'default/client', 'http://10.96.0.20/', 'node-2');
    expect(a.pod).toBe(web2.name);
    const syn = await waitFor('ClusterIP SYN', () => synOf(t.journeys, client.ip, a.peerPort));
    expect(kinds(syn)).toEqual(['pod-egress', 'host-veth', 'dnat', ...TUNNEL, 'host-veth', 'deliver']);
    const dnat = syn.hops[2]!;
    expect(dnat.where.node).toBe('node-1');
    expect(dnat.nat?.before).toMatchObject({ ip: '10.96.0.20', port: 80, service: { namespace: 'default', name: 'web' } });
    expect(dnat.nat?.after).toMatchObject({ ip: web2.ip, port: 8080, pod: { namespace: 'default', name: web2.name } });
    expect(syn.dst.service?.name).toBe('web');
    expect(syn.backend?.pod?.name).toBe(web2.name);
    expectCalicoVxlan(syn, '10.0.0.1', '10.0.0.2');
    const reply = await waitForReply(t, syn, 'its SYN-ACK');
    expect(kinds(reply)).toEqual(['pod-egress', 'host-veth', ...TUNNEL, 'reverse-nat', 'deliver']);
    const rnat = reply.hops[8]!;
    expect(rnat).toMatchObject({ dev: client.hostVeth, where: { node: 'node-1' } });
    expect(rnat.nat?.before).toMatchObject({ ip: web2.ip, port: 8080 });
    expect(rnat.nat?.after).toMatchObject({ ip: '10.96.0.20', port: 80, service: { name: 'web' } });
    expectCalicoVxlan(reply, '10.0.0.2', '10.0.0.1');
  });

  it('NodePort from the external host to node-2 with nftables masquerade', async () => {
    const web1 = t.pod('default', 'web', 'node-1');
    const a = await curlUntilNode(t.lab, { external: 'ext-client' }, 'http://10.0.0.2:30080/', 'node-1');
    expect(a.pod).toBe(web1.name);
    const syn = await waitFor('NodePort SYN', () =>
      t.journeys.find((j) => sent(j).src === '10.0.0.100' && j.hops.some((h) => h.kind === 'snat' && h.nat?.after.ip === a.peer && h.nat.after.port === a.peerPort)),
    );
    expect(kinds(syn)).toEqual(['egress', 'underlay', 'underlay', 'route', 'dnat', 'snat', ...TUNNEL, 'host-veth', 'deliver']);
    expect(syn.dst).toMatchObject({ ip: '10.0.0.2', port: 30080, node: 'node-2', service: { name: 'web-nodeport' } });
    expect(syn.backend).toMatchObject({ ip: web1.ip, pod: { name: web1.name } });
    expect(syn.hops[5]!.nat?.after).toMatchObject({ ip: a.peer, node: 'node-2' });
    expectCalicoVxlan(syn, '10.0.0.2', '10.0.0.1');
    expect(syn.hops.at(-1)!.where.pod?.name).toBe(web1.name);
    // Before node-2 the external host's packet is plain on the underlay.
    expect(syn.hops.slice(0, 3).map((h) => [h.encap, h.packet.src, h.packet.dst])).toEqual(Array(3).fill([undefined, '10.0.0.100', '10.0.0.2']));
  });
});
