// hopscope trace on a Calico-style routed lab (no bridge, no tunnel: cali* veths with /32
// routes, node-to-node routes over the underlay) with kube-proxy in iptables mode.
import { describe, expect, it } from 'vitest';
import { curl, curlUntilNode, inner, kinds, synOf, traceLabForFile, waitFor, waitForReply } from './trace-helpers.ts';

const NAME = `jr${process.pid % 10000}`;
const t = traceLabForFile(NAME, { cni: 'calico-routed', kubeProxy: 'iptables' });

const ROUTED_CROSS_NODE = [
  'pod-egress', // client eth0
  'host-veth', // cali* on node-1 (no master: a pod of this node is behind it)
  'route', // node-1 eth0: routed, no encapsulation
  'underlay', // the underlay bridge's port from node-1
  'underlay', // … and to node-2
  'route', // node-2 eth0
  'host-veth', // cali* of the backend
  'deliver',
];

describe('trace: calico-routed + iptables', () => {
  it('pod → pod across nodes is routed with the pod addresses on the underlay, no tunnel', async () => {
    const client = t.pod('default', 'client');
    const web2 = t.pod('default', 'web', 'node-2');
    const a = await curl(t.lab, 'default/client', `http://${web2.ip}:8080/`);
    const syn = await waitFor('routed SYN', () => synOf(t.journeys, client.ip, a.peerPort));
    expect(kinds(syn)).toEqual(ROUTED_CROSS_NODE);
    expect(syn.hops.map((h) => h.where.label)).toEqual(['client (default)', 'node-1', 'node-1', 'underlay', 'underlay', 'node-2', 'node-2', `${web2.name} (default)`]);
    expect(syn.hops[1]!.dev).toBe(client.hostVeth);
    expect(syn.hops[1]!.dev).toMatch(/^cali[0-9a-f]{11}$/);
    expect(syn.hops[6]!.dev).toBe(web2.hostVeth);
    for (const h of syn.hops) {
      expect(h.encap).toBeUndefined();
      expect(h.packet).toMatchObject({ src: client.ip, dst: web2.ip });
    }
    const reply = await waitForReply(t, syn, 'its SYN-ACK');
    expect(kinds(reply)).toEqual(ROUTED_CROSS_NODE);
    expect(reply.hops[1]!.dev).toBe(web2.hostVeth);
  });

  it('pod → pod on one node goes cali → cali through the node, routed', async () => {
    const client = t.pod('default', 'client');
    const web1 = t.pod('default', 'web', 'node-1');
    const a = await curl(t.lab, 'default/client', `http://${web1.ip}:8080/`);
    const syn = await waitFor('same-node SYN', () => synOf(t.journeys, client.ip, a.peerPort));
    expect(kinds(syn)).toEqual(['pod-egress', 'host-veth', 'host-veth', 'deliver']);
    expect(syn.hops.map((h) => h.dev)).toEqual(['eth0', client.hostVeth, web1.hostVeth, 'eth0']);
  });

  it('pod → ClusterIP: DNAT seen where node-1 routes it out, reverse NAT on the way back', async () => {
    const client = t.pod('default', 'client');
    const web2 = t.pod('default', 'web', 'node-2');
    const a = await curlUntilNode(t.lab, 'default/client', 'http://10.96.0.20/', 'node-2');
    expect(a.pod).toBe(web2.name);
    const syn = await waitFor('ClusterIP SYN', () => synOf(t.journeys, client.ip, a.peerPort));
    // The DNAT happens in PREROUTING after the cali* receive, so the next event (node-1's
    // eth0, where the routed packet leaves) is where the new destination shows.
    expect(kinds(syn)).toEqual(['pod-egress', 'host-veth', 'dnat', ...ROUTED_CROSS_NODE.slice(3)]);
    const dnat = syn.hops[2]!;
    expect(dnat).toMatchObject({ dev: 'eth0', hook: 'xmit', where: { node: 'node-1' } });
    expect(dnat.nat?.before).toMatchObject({ ip: '10.96.0.20', port: 80, service: { namespace: 'default', name: 'web' } });
    expect(dnat.nat?.after).toMatchObject({ ip: web2.ip, port: 8080, pod: { name: web2.name } });
    expect(syn.backend?.pod?.name).toBe(web2.name);
    for (const h of syn.hops.slice(2)) expect(inner(h).dst).toBe(web2.ip);
    const reply = await waitForReply(t, syn, 'its SYN-ACK');
    // Reverse NAT in node-1's POSTROUTING: visible as the reply leaves for the client's cali*.
    expect(kinds(reply)).toEqual([...ROUTED_CROSS_NODE.slice(0, 6), 'reverse-nat', 'deliver']);
    const rnat = reply.hops[6]!;
    expect(rnat).toMatchObject({ dev: client.hostVeth, hook: 'xmit', where: { node: 'node-1' } });
    expect(rnat.nat?.after).toMatchObject({ ip: '10.96.0.20', port: 80, service: { name: 'web' } });
  });
});
