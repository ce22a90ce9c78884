// hopscope trace on the built-in lab (flannel VXLAN + kube-proxy iptables): real namespaces,
// real bpftrace, real identity index over the lab's API. Each scenario makes real traffic and
// asserts the exact hops the kernel reported, their devices and owners, the translated
// addresses and the names. One lab and one pipeline for the whole file.
import { describe, expect, it } from 'vitest';
import { execa } from 'execa';
import type { Journey } from '../agent/src/protocol/events.ts';
import { assertWireValid, curl, curlUntilExited, curlUntilNode, inner, kinds, sent, synOf, traceLabForFile, waitFor, waitForReply } from './trace-helpers.ts';

const NAME = `jf${process.pid % 10000}`;
const t = traceLabForFile(NAME, { cni: 'flannel-vxlan', kubeProxy: 'iptables' });

const CROSS_NODE_SYN = [
  'pod-egress', // client eth0
  'host-veth', // client's veth on node-1 (a cni0 port)
  'bridge', // up through cni0 to be routed
  'encap', // flannel.1
  'underlay', // node-1 eth0, outer 10.0.0.1 → 10.0.0.2
  'underlay', // the underlay bridge's port from node-1
  'underlay', // the underlay bridge's port to node-2
  'underlay', // node-2 eth0
  'decap', // flannel.1 on node-2
  'bridge', // cni0 on node-2
  'host-veth', // backend's veth
  'deliver', // backend eth0
];

function expectVxlanLeg(j: Journey, from: string, to: string) {
  for (const h of j.hops.filter((x) => x.kind === 'underlay')) {
    expect(h.encap).toMatchObject({ kind: 'vxlan', vni: 1 });
    expect(h.packet).toMatchObject({ src: from, dst: to });
    expect(h.packet.l4).toMatchObject({ proto: 'udp', dport: 8472 });
  }
  const encap = j.hops.find((h) => h.kind === 'encap')!;
  const decap = j.hops.find((h) => h.kind === 'decap')!;
  expect(encap.dev).toBe('flannel.1');
  expect(decap.dev).toBe('flannel.1');
}

describe('trace: flannel-vxlan + iptables', () => {
  it('pod → pod on the same node: veth to veth across the bridge, no routing, no tunnel', async () => {
    const web1 = t.pod('default', 'web', 'node-1');
    const client = t.pod('default', 'client');
    const a = await curl(t.lab, 'default/client', `http://${web1.ip}:8080/`);
    expect(a.pod).toBe(web1.name);
    const syn = await waitFor('same-node SYN', () => synOf(t.journeys, client.ip, a.peerPort));
    expect(kinds(syn)).toEqual(['pod-egress', 'host-veth', 'host-veth', 'deliver']);
    expect(syn.hops.map((h) => h.where.label)).toEqual(['client (default)', 'node-1', 'node-1', `${web1.name} (default)`]);
    expect(syn.hops[1]!.dev).toBe(client.hostVeth);
    expect(syn.hops[2]!.dev).toBe(web1.hostVeth);
    expect(syn.hops[0]!.dev).toBe('eth0');
    expect(syn.verdict).toBe('delivered');
    expect(syn.src).toMatchObject({ ip: client.ip, pod: { namespace: 'default', name: 'client' } });
    expect(syn.dst).toMatchObject({ ip: web1.ip, port: 8080, pod: { namespace: 'default', name: web1.name } });
    expect(syn.backend).toBeUndefined();
    const reply = await waitForReply(t, syn, 'its SYN-ACK');
    expect(kinds(reply)).toEqual(['pod-egress', 'host-veth', 'host-veth', 'deliver']);
    expect(reply.hops[3]!.where.pod?.name).toBe('client');
  });

  it('pod → pod across nodes over VXLAN: encap on node-1, outer node addresses, decap on node-2', async () => {
    const web2 = t.pod('default', 'web', 'node-2');
    const client = t.pod('default', 'client');
    const a = await curl(t.lab, 'default/client', `http://${web2.ip}:8080/`);
    const syn = await waitFor('cross-node SYN', () => synOf(t.journeys, client.ip, a.peerPort));
    expect(kinds(syn)).toEqual(CROSS_NODE_SYN);
    expect(syn.hops.map((h) => h.where.label)).toEqual([
      'client (default)',
      'node-1',
      'node-1',
      'node-1',
      'node-1',
      'underlay',
      'underlay',
      'node-2',
      'node-2',
      'node-2',
      'node-2',
      `${web2.name} (default)`,
    ]);
    expect(syn.hops[2]!.dev).toBe('cni0');
    expect(syn.hops[9]!.dev).toBe('cni0');
    expect(syn.hops[10]!.dev).toBe(web2.hostVeth);
    expectVxlanLeg(syn, '10.0.0.1', '10.0.0.2');
    // The inner packet is untouched by the tunnel.
    for (const h of syn.hops) expect(inner(h)).toMatchObject({ src: client.ip, dst: web2.ip });
    expect(syn.dst.pod?.name).toBe(web2.name);
    const reply = await waitForReply(t, syn, 'its SYN-ACK');
    expect(kinds(reply)).toEqual(CROSS_NODE_SYN);
    expectVxlanLeg(reply, '10.0.0.2', '10.0.0.1');
    expect(syn.hops.every((h, i) => i === 0 || h.tsNs >= syn.hops[i - 1]!.tsNs)).toBe(true);
  });

  it('pod → ClusterIP: DNAT on node-1 names the Service and the backend; the reply is reverse-NATed on node-1', async () => {
    const client = t.pod('default', 'client');
    const web2 = t.pod('default', 'web', 'node-2');
    // kube-proxy picks a backend at random: call until the one on the other node answers.
    const a = await curlUntilNode(t.lab, 'default/client', 'http://10.96.0.20/', 'node-2');
    expect(a.pod).toBe(web2.name);
    const syn = await waitFor('ClusterIP SYN', () => synOf(t.journeys, client.ip, a.peerPort));
    expect(kinds(syn)).toEqual(['pod-egress', 'host-veth', 'dnat', ...CROSS_NODE_SYN.slice(3)]);
    expect(sent(syn)).toMatchObject({ src: client.ip, dst: '10.96.0.20' });
    expect(syn.dst).toMatchObject({ ip: '10.96.0.20', port: 80, service: { namespace: 'default', name: 'web' } });
    expect(syn.backend).toMatchObject({ ip: web2.ip, port: 8080, pod: { namespace: 'default', name: web2.name } });
    const dnat = syn.hops[2]!;
    expect(dnat).toMatchObject({ dev: 'cni0', where: { node: 'node-1' } });
    expect(dnat.nat?.before).toMatchObject({ ip: '10.96.0.20', port: 80, service: { name: 'web' } });
    expect(dnat.nat?.after).toMatchObject({ ip: web2.ip, port: 8080, pod: { name: web2.name } });
    // The chain is read from the lab node's own rules, and its KUBE-SEP sends to this backend.
    const kp = dnat.nat?.kubeProxy;
    expect(kp).toMatchObject({ mode: 'iptables', source: 'node' });
    const sep = kp!.chains.at(-1)!;
    expect(sep).toMatch(/^KUBE-SEP-/);
    const node1 = t.lab.state().netns.find((n) => n.kind === 'node' && n.owner === 'node-1')!.name;
    const saved = (await execa('ip', ['netns', 'exec', node1, 'iptables-save', '-t', 'nat'])).stdout;
    expect(saved).toMatch(new RegExp(`^-A ${sep} .*--to-destination ${web2.ip.replaceAll('.', '\\.')}:8080$`, 'm'));
    expectVxlanLeg(syn, '10.0.0.1', '10.0.0.2');

    const reply = await waitForReply(t, syn, 'its SYN-ACK');
    expect(kinds(reply)).toEqual([...CROSS_NODE_SYN.slice(0, 9), 'reverse-nat', 'host-veth', 'deliver']);
    const rnat = reply.hops[9]!;
    expect(rnat).toMatchObject({ dev: 'cni0', hook: 'xmit', where: { node: 'node-1' } });
    expect(rnat.nat?.before).toMatchObject({ ip: web2.ip, port: 8080, pod: { name: web2.name } });
    expect(rnat.nat?.after).toMatchObject({ ip: '10.96.0.20', port: 80, service: { namespace: 'default', name: 'web' } });
    expect(sent(reply)).toMatchObject({ src: web2.ip, dst: client.ip });
    expect(reply.hops[11]!.packet).toMatchObject({ src: '10.96.0.20', dst: client.ip });
  });

  it('DNS over UDP to the kube-dns ClusterIP: DNAT to coredns on node-2 and back', async () => {
    const client = t.pod('default', 'client');
    const coredns = t.pod('kube-system', 'coredns');
    const before = t.journeys.length;
    const r = await t.lab.exec('default/client', ['dig', '+short', '+tries=1', '+time=3', 'web.default.svc.cluster.local'], { timeoutMs: 10_000 });
    expect(r.stdout.trim()).toBe('10.96.0.20');
    const query = await waitFor('DNS query', () =>
      t.journeys.slice(before).find((j) => j.proto === 'udp' && sent(j).src === client.ip && sent(j).dst === '10.96.0.10'),
    );
    expect(kinds(query)).toEqual(['pod-egress', 'host-veth', 'dnat', ...CROSS_NODE_SYN.slice(3)]);
    expect(query.dst).toMatchObject({ ip: '10.96.0.10', port: 53, service: { namespace: 'kube-system', name: 'kube-dns' } });
    expect(query.backend).toMatchObject({ ip: coredns.ip, port: 53, pod: { namespace: 'kube-system', name: 'coredns' } });
    expect(query.hops[11]!.where.label).toBe('coredns (kube-system)');
    const answer = await waitForReply(t, query, 'DNS answer');
    expect(answer.proto).toBe('udp');
    const rnat = answer.hops.find((h) => h.kind === 'reverse-nat')!;
    expect(rnat.where.node).toBe('node-1');
    expect(rnat.nat?.after).toMatchObject({ ip: '10.96.0.10', port: 53, service: { name: 'kube-dns' } });
    expect(answer.verdict).toBe('delivered');
    expect(answer.hops.at(-1)!.where.pod?.name).toBe('client');
  });

  it('NodePort from the external host: DNAT and masquerade on node-1, then the tunnel to a backend on node-2', async () => {
    const web2 = t.pod('default', 'web', 'node-2');
    const a = await curlUntilNode(t.lab, { external: 'ext-client' }, 'http://10.0.0.1:30080/', 'node-2');
    expect(a.pod).toBe(web2.name);
    // The backend saw the masqueraded source; find the journey by what left node-1.
    const syn = await waitFor('NodePort SYN', () =>
      t.journeys.find((j) => sent(j).src === '10.0.0.100' && j.hops.some((h) => h.kind === 'snat' && h.nat?.after.ip === a.peer && h.nat.after.port === a.peerPort)),
    );
    expect(kinds(syn)).toEqual(['egress', 'underlay', 'underlay', 'route', 'dnat', 'snat', 'encap', ...CROSS_NODE_SYN.slice(4)]);
    expect(syn.hops[0]!.where.label).toBe('ext-client');
    expect(syn.hops[3]!.where.node).toBe('node-1');
    expect(syn.src).toMatchObject({ ip: '10.0.0.100', external: true });
    expect(syn.dst).toMatchObject({ ip: '10.0.0.1', port: 30080, node: 'node-1', service: { namespace: 'default', name: 'web-nodeport' } });
    expect(syn.backend).toMatchObject({ ip: web2.ip, port: 8080, pod: { name: web2.name } });
    const snat = syn.hops[5]!;
    expect(snat.nat?.before).toMatchObject({ ip: '10.0.0.100' });
    expect(snat.nat?.after).toMatchObject({ ip: a.peer, port: a.peerPort, node: 'node-1' });
    expect(snat.where.node).toBe('node-1');
    const reply = await waitForReply(t, syn, 'NodePort reply');
    const rn = reply.hops.filter((h) => h.kind === 'reverse-nat');
    expect(rn.map((h) => [h.nat?.before.ip, h.nat?.after.ip]).sort()).toEqual([[a.peer, '10.0.0.100'], [web2.ip, '10.0.0.1']].sort());
    // The masquerade address is node-1's on the way back too, as on the request's SNAT.
    expect(rn.find((h) => h.nat?.before.ip === a.peer)?.nat?.before).toMatchObject({ node: 'node-1' });
    expect(reply.hops.at(-1)).toMatchObject({ kind: 'deliver', where: { label: 'ext-client' } });
  });

  it('the sidecar pod talks to its app over lo', async () => {
    const sidecar = t.pod('default', 'sidecar');
    const lo = await waitFor(
      'a loopback SYN in the sidecar pod',
      () => t.journeys.find((j) => j.hops[0]!.where.pod?.name === sidecar.name && sent(j).l4.proto === 'tcp' && (sent(j).l4 as { flags: string }).flags === 'S'),
      12_000,
    );
    expect(kinds(lo)).toEqual(['loopback', 'loopback']);
    expect(lo.hops.map((h) => [h.dev, h.hook])).toEqual([
      ['lo', 'xmit'],
      ['lo', 'recv'],
    ]);
    expect(sent(lo)).toMatchObject({ src: '127.0.0.1', dst: '127.0.0.1', l4: { dport: 9090 } });
    expect(lo.hops[0]!.where).toMatchObject({ label: 'sidecar-demo (default)', node: 'node-1', pod: { namespace: 'default', name: 'sidecar-demo' } });
    expect(lo.verdict).toBe('delivered');
  });

  it('an iptables DROP rule in node-1 shows as a drop with the kernel reason at node-1', async () => {
    const web2 = t.pod('default', 'web', 'node-2');
    const client = t.pod('default', 'client');
    const rule = ['FORWARD', '-s', client.ip, '-d', web2.ip, '-p', 'tcp', '--dport', '8080', '-j', 'DROP'];
    const add = await t.lab.exec({ node: 'node-1' }, ['iptables', '-I', ...rule]);
    expect(add.exitCode).toBe(0);
    try {
      const before = t.journeys.length;
      const r = await t.lab.exec('default/client', ['curl', '-s', '-m', '1', `http://${web2.ip}:8080/`], { timeoutMs: 10_000 });
      expect(r.exitCode).not.toBe(0);
      const dropped = await waitFor('the dropped SYN', () =>
        t.journeys.slice(before).find((j) => j.verdict === 'dropped' && sent(j).src === client.ip && sent(j).dst === web2.ip),
      );
      expect(kinds(dropped)).toEqual(['pod-egress', 'host-veth', 'bridge', 'drop']);
      const d = dropped.hops[3]!;
      expect(d.where).toMatchObject({ node: 'node-1', label: 'node-1' });
      expect(d.drop?.reason).toBe('NETFILTER_DROP');
      // iptables-legacy drops in nf_hook_slow, iptables-nft in nft_do_chain: both netfilter.
      expect(d.drop?.location).toMatch(/^(nf_hook_slow|nft_do_chain|ipt_do_table)/);
      expect(d.hook).toBe('drop');
      expect(d.packet).toMatchObject({ src: client.ip, dst: web2.ip });
    } finally {
      await t.lab.exec({ node: 'node-1' }, ['iptables', '-D', ...rule]);
    }
  });

  it('after scaling web to 3, the new pod is traced and named as a DNAT target', async () => {
    const client = t.pod('default', 'client');
    const old = new Set(t.lab.state().model.pods.map((p) => p.name));
    await t.lab.scale('default', 'web', 3);
    const fresh = t.lab.state().model.pods.find((p) => p.name.startsWith('web') && !old.has(p.name))!;
    const inode = t.lab.state().netns.find((n) => n.owner === `default/${fresh.name}`)!.inode;
    // The pipeline follows the lab's namespaces: the kernel filter must now include the new pod's.
    await waitFor('the new netns in the kernel filter', () => t.pipeline.status().filter.netns.includes(inode));
    // Random backend choice, and the restarted bpftrace reports itself attached a moment before
    // its probes are live: call until the new pod answered a call that was traced.
    let syn: Journey | undefined;
    for (let i = 0; i < 30 && !syn; i++) {
      const a = await curl(t.lab, 'default/client', 'http://10.96.0.20/');
      if (a.pod === fresh.name) syn = await waitFor('SYN to the new backend', () => synOf(t.journeys, client.ip, a.peerPort), 1500).catch(() => undefined);
    }
    if (!syn) throw new Error(`no traced call reached the new pod ${fresh.name}`);
    expect(syn.backend).toMatchObject({ ip: fresh.ip, port: 8080, pod: { namespace: 'default', name: fresh.name } });
    expect(syn.hops.at(-1)).toMatchObject({ kind: 'deliver', netns: inode, where: { label: `${fresh.name} (default)`, pod: { name: fresh.name } } });
  });

  it('every journey so far is valid on the wire and counted; nothing was lost', () => {
    expect(t.journeys.length).toBeGreaterThan(10);
    for (const j of t.journeys) assertWireValid(j);
    const s = t.pipeline.status();
    expect(s.counters.journeys).toBe(t.journeys.length);
    expect(s.counters.lost).toBe(0);
    expect(s.identitySynced).toBe(true);
    expect(s.probeSet).toBe('tracepoints');
    expect(s.tracer).toBe('running');
  });

  it('hopscope trace --json --count as a child process prints valid journeys and exits', async () => {
    const web2 = t.pod('default', 'web', 'node-2');
    const child = execa('node', ['agent/bin/hopscope.mjs', 'trace', '--lab', NAME, '--from', 'default/client', '--to', `${web2.ip}:8080`, '--json', '--count', '2'], {
      reject: false,
      timeout: 60_000,
      buffer: true,
    });
    // Make traffic until the child has printed its two journeys (it starts bpftrace first).
    await curlUntilExited(t.lab, child, `http://${web2.ip}:8080/`);
    const r = await child;
    expect(r.exitCode).toBe(0);
    expect(String(r.stderr)).toContain(`tracing lab ${NAME}`);
    const lines = String(r.stdout).trim().split('\n');
    expect(lines).toHaveLength(2);
    for (const line of lines) {
      const j = assertWireValid(JSON.parse(line));
      const p = sent(j);
      // The filter matches both directions of the flow.
      expect([p.src, p.dst].sort()).toEqual([t.pod('default', 'client').ip, web2.ip].sort());
      expect(j.hops.length).toBeGreaterThanOrEqual(12);
    }
  });

  it('hopscope trace refuses an unknown pod with a clear message', async () => {
    const r = await execa('node', ['agent/bin/hopscope.mjs', 'trace', '--lab', NAME, '--from', 'default/nosuchpod'], { reject: false, timeout: 60_000 });
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toContain('pod default/nosuchpod not found');
  });
});
