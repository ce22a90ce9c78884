import { describe, expect, it } from 'vitest';
import { netnsName, netnsPrefix, newRunId, parseNetnsName, underlayPort, vtepMac } from './naming.ts';
import { renderResolvConf, dnsRecords } from './dns.ts';
import { clusterCidr } from './kubeproxy-common.ts';
import { expandTopology } from './model.ts';
import { validateTopology } from './topology.ts';
import { masqueradeSource, planLab, namerFor, tunnelAddress } from './netplan.ts';

describe('netns naming', () => {
  it('prefixes every namespace with lab and run id', () => {
    const p = netnsPrefix('lab', 'ab12');
    expect(p).toBe('hs-lab.ab12-');
    expect(netnsName(p, 'node', 'node-1')).toBe('hs-lab.ab12-n-node-1');
    expect(netnsName(p, 'pod', 'kube-system/coredns')).toBe('hs-lab.ab12-p-kube-system.coredns');
    expect(netnsName(p, 'external', 'ext')).toBe('hs-lab.ab12-x-ext');
    expect(netnsName(p, 'underlay', 'underlay')).toBe('hs-lab.ab12-underlay');
    expect(newRunId()).toMatch(/^[0-9a-f]{4}$/);
  });

  it('tells labs apart even when one name extends another', () => {
    expect(parseNetnsName('hs-lab.ab12-n-node-1')).toEqual({ lab: 'lab', runId: 'ab12' });
    expect(parseNetnsName('hs-lab-beef.ab12-n-node-1')).toEqual({ lab: 'lab-beef', runId: 'ab12' });
    expect(parseNetnsName('hs-lab-beef-1234-x')).toBeUndefined();
    expect(parseNetnsName('cni-1234')).toBeUndefined();
  });

  it('rejects names that could escape the pattern', () => {
    expect(() => netnsPrefix('Lab', 'ab12')).toThrow(/DNS-1123/);
    expect(() => netnsPrefix('a.b', 'ab12')).toThrow(/DNS-1123/);
    expect(() => netnsPrefix('lab', 'xyz1')).toThrow(/4 hex/);
  });

  it('derives short interface names and unicast, locally administered VTEP MACs', () => {
    expect(underlayPort('node', 0)).toBe('un1');
    expect(underlayPort('external', 1)).toBe('ux2');
    const mac = vtepMac('node-1');
    expect(mac).toMatch(/^0e(:[0-9a-f]{2}){5}$/);
    expect(vtepMac('node-2')).not.toBe(mac);
  });
});

describe('pod DNS', () => {
  it('renders resolv.conf as kubelet does for ClusterFirst', () => {
    expect(renderResolvConf('10.96.0.10', 'team-a', 'cluster.local')).toBe(
      'nameserver 10.96.0.10\nsearch team-a.svc.cluster.local svc.cluster.local cluster.local\noptions ndots:5\n',
    );
  });
});

const topo = (cni: string) =>
  expandTopology(
    validateTopology({
      name: 't',
      cni,
      nodes: [
        { name: 'node-1', podCIDR: '10.244.1.0/24', address: '10.0.0.1' },
        { name: 'node-2', podCIDR: '10.244.2.0/24', address: '10.0.0.2' },
      ],
      pods: [{ name: 'a', node: 'node-1', labels: {}, containers: [{ name: 'c', run: { kind: 'idle' } }] }],
      services: [{ name: 'kube-dns', namespace: 'kube-system', clusterIP: '10.96.0.10', selector: { x: 'y' }, ports: [{ port: 53, targetPort: 53 }] }],
    }),
  );

describe('network plan', () => {
  it('programs flannel VXLAN forwarding to the other node as flanneld does', () => {
    const m = topo('flannel-vxlan');
    const steps = planLab(m, namerFor('hs-t.0000-'));
    const n1 = steps.filter((s) => (s.kind === 'ip' || s.kind === 'bridge') && s.ns === 'hs-t.0000-n-node-1').map((s) => (s as { cmd: string }).cmd);
    expect(n1).toContain(`link add flannel.1 address ${vtepMac('node-1')} mtu 1450 type vxlan id 1 local 10.0.0.1 dev eth0 dstport 8472 nolearning`);
    expect(n1).toContain('route add 10.244.2.0/24 via 10.244.2.0 dev flannel.1 onlink');
    expect(n1).toContain(`neigh add 10.244.2.0 lladdr ${vtepMac('node-2')} dev flannel.1 nud permanent`);
    expect(n1).toContain(`fdb add ${vtepMac('node-2')} dev flannel.1 dst 10.0.0.2 self permanent`);
    const pod = steps.filter((s) => s.kind === 'ip' && s.ns === 'hs-t.0000-p-default.a').map((s) => (s as { cmd: string }).cmd);
    expect(pod).toContain('addr add 10.244.1.2/24 dev eth0');
    expect(pod).toContain('route add default via 10.244.1.1 dev eth0');
    expect(steps).toContainEqual({ kind: 'resolv', ns: 'hs-t.0000-p-default.a', text: renderResolvConf('10.96.0.10', 'default', 'cluster.local') });
    // Nothing is ever created in the root namespace: every link/addr/route step names a lab namespace.
    expect(steps.every((s) => s.kind === 'netns' ? s.name.startsWith('hs-t.0000-') : s.ns.startsWith('hs-t.0000-'))).toBe(true);
  });

  it('gives Calico pods a /32 behind 169.254.1.1 and routes other blocks via the node address', () => {
    const m = topo('calico-routed');
    const steps = planLab(m, namerFor('hs-t.0000-'));
    const cmds = (ns: string) => steps.filter((s) => s.kind === 'ip' && s.ns === ns).map((s) => (s as { cmd: string }).cmd);
    expect(cmds('hs-t.0000-p-default.a')).toEqual(
      expect.arrayContaining(['addr add 10.244.1.2/32 dev eth0', 'route add default via 169.254.1.1 dev eth0 onlink']),
    );
    expect(cmds('hs-t.0000-n-node-1')).toContain(`route add 10.244.1.2/32 dev ${m.pods[0]!.hostVeth} scope link`);
    expect(cmds('hs-t.0000-n-node-1')).toContain('route add 10.244.2.0/24 via 10.0.0.2 dev eth0 proto bird');
    expect(steps).toContainEqual({ kind: 'sysctl', ns: 'hs-t.0000-n-node-1', settings: [[`net.ipv4.conf.${m.pods[0]!.hostVeth}.proxy_arp`, '1']] });
  });

  it('knows which address a masqueraded NodePort flow carries', () => {
    const f = topo('flannel-vxlan');
    expect(tunnelAddress(f.nodes[0]!)).toBe('10.244.1.0');
    expect(masqueradeSource(f, 'node-1', 'node-2')).toBe('10.244.1.0');
    expect(masqueradeSource(f, 'node-1', 'node-1')).toBe('10.244.1.1');
    expect(masqueradeSource(topo('calico-routed'), 'node-1', 'node-2')).toBe('10.0.0.1');
    expect(masqueradeSource(topo('calico-vxlan'), 'node-2', 'node-1')).toBe('10.244.2.0');
  });

  it('computes the cluster CIDR covering every pod CIDR and the DNS table', () => {
    const m = topo('flannel-vxlan');
    expect(clusterCidr(m)).toBe('10.244.0.0/22');
    expect(dnsRecords(m)).toEqual({ 'kube-dns.kube-system.svc.cluster.local': '10.96.0.10', '10-244-1-2.default.pod.cluster.local': '10.244.1.2' });
  });
});
