// The lab's kernel networking as data: which namespaces, links, addresses, routes, neighbour
// and forwarding entries realise a ClusterModel in a given CNI style. Pure; netns.ts applies
// the plan with `ip -n <ns> -batch -`. Everything here comes from the validated model
// (addresses, DNS-1123 names, hex veth names), never from free text.
import { controlPlaneAddress, intToIp, ipToInt, type ClusterModel, type ModelNode, type ModelPod } from './model.ts';
import { netnsName, underlayPort, vtepMac, type NetnsKind } from './naming.ts';
import { renderResolvConf } from './dns.ts';

/** One step of building a lab. Steps run in order; consecutive `ip` steps of one netns are batched. */
export type NetStep =
  | { kind: 'netns'; name: string; nsKind: NetnsKind; owner: string; node?: string }
  | { kind: 'ip'; ns: string; cmd: string }
  /** A `bridge` command (forwarding database entries). */
  | { kind: 'bridge'; ns: string; cmd: string }
  | { kind: 'sysctl'; ns: string; settings: [string, string][] }
  | { kind: 'resolv'; ns: string; text: string };

/** The bridge in the underlay namespace that every node and external host plugs into. */
export const UNDERLAY_BRIDGE = 'br0';
/** Calico's pod gateway: a link-local address answered by proxy ARP on the host veth. */
export const CALICO_GATEWAY = '169.254.1.1';
/** Calico sets this MAC on every host-side veth. */
export const CALICO_HOST_MAC = 'ee:ee:ee:ee:ee:ee';
/** MTU of pod interfaces under VXLAN (50 bytes of outer headers off 1500). */
const VXLAN_MTU = 1450;

/** Port of the lab's control-plane address (kube-apiserver's secure port). */
export const API_SERVER_PORT = 6443;

/** Name of a node's VXLAN device in this CNI mode, if it has one. */
export function vxlanDevice(cni: ClusterModel['cni']): { dev: string; vni: number; port: number } | undefined {
  switch (cni) {
    case 'flannel-vxlan':
      return { dev: 'flannel.1', vni: 1, port: 8472 };
    case 'calico-vxlan':
      return { dev: 'vxlan.calico', vni: 4096, port: 4789 };
    case 'calico-routed':
    case 'calico-ipip':
      return undefined;
    default: {
      const never: never = cni;
      throw new Error(`unknown cni ${String(never)}`);
    }
  }
}

/** Address of a node's tunnel device: the network address of its pod CIDR, as flannel assigns to flannel.1. */
export function tunnelAddress(node: ModelNode): string {
  const [base, bits] = node.podCIDR.split('/');
  const size = 2 ** (32 - Number(bits));
  return intToIp(ipToInt(base!) - (ipToInt(base!) % size));
}

function prefixLen(cidr: string): number {
  return Number(cidr.split('/')[1]);
}

/**
 * Source address a backend on `toNode` sees when `viaNode` masquerades traffic to it (NodePort):
 * the address of the device the packet leaves by.
 */
export function masqueradeSource(model: ClusterModel, viaNode: string, toNode: string): string {
  const via = model.nodes.find((n) => n.name === viaNode);
  if (!via) throw new Error(`no node ${viaNode}`);
  if (viaNode === toNode) return model.cni === 'flannel-vxlan' ? via.gateway : via.address;
  return vxlanDevice(model.cni) ? tunnelAddress(via) : via.address;
}

/** Maps a lab object to its namespace name. */
export type NetnsNamer = (kind: NetnsKind, owner: string) => string;

/** A namer for a run prefix. */
export function namerFor(prefix: string): NetnsNamer {
  return (kind, owner) => netnsName(prefix, kind, owner);
}

/** Steps that build the underlay, the nodes and the external hosts (no pods). */
export function planInfrastructure(model: ClusterModel, ns: NetnsNamer): NetStep[] {
  const steps: NetStep[] = [];
  const ul = ns('underlay', 'underlay');
  const ulBits = prefixLen(model.underlayCIDR);
  steps.push({ kind: 'netns', name: ul, nsKind: 'underlay', owner: 'underlay' });
  for (const n of model.nodes) steps.push({ kind: 'netns', name: ns('node', n.name), nsKind: 'node', owner: n.name });
  for (const e of model.externals) steps.push({ kind: 'netns', name: ns('external', e.name), nsKind: 'external', owner: e.name });

  steps.push({ kind: 'ip', ns: ul, cmd: 'link set lo up' });
  steps.push({ kind: 'ip', ns: ul, cmd: `link add ${UNDERLAY_BRIDGE} type bridge` });
  steps.push({ kind: 'ip', ns: ul, cmd: `link set ${UNDERLAY_BRIDGE} up` });
  steps.push({ kind: 'ip', ns: ul, cmd: `addr add ${controlPlaneAddress(model.underlayCIDR)}/${ulBits} dev ${UNDERLAY_BRIDGE}` });
  // Veth pairs are created from the underlay straight into the other namespace: nothing
  // ever exists in the root namespace, not even for a moment.
  const hosts = [
    ...model.nodes.map((n, i) => ({ port: underlayPort('node', i), netns: ns('node', n.name), address: n.address })),
    ...model.externals.map((e, i) => ({ port: underlayPort('external', i), netns: ns('external', e.name), address: e.address })),
  ];
  for (const h of hosts) {
    steps.push({ kind: 'ip', ns: ul, cmd: `link add ${h.port} type veth peer name eth0 netns ${h.netns}` });
    steps.push({ kind: 'ip', ns: ul, cmd: `link set ${h.port} master ${UNDERLAY_BRIDGE}` });
    steps.push({ kind: 'ip', ns: ul, cmd: `link set ${h.port} up` });
  }
  for (const h of hosts) {
    steps.push({ kind: 'ip', ns: h.netns, cmd: 'link set lo up' });
    steps.push({ kind: 'ip', ns: h.netns, cmd: `addr add ${h.address}/${ulBits} dev eth0` });
    steps.push({ kind: 'ip', ns: h.netns, cmd: 'link set eth0 up' });
  }
  // The control-plane host (the underlay namespace, at the control-plane address) knows each
  // node's pod block, as a control-plane node's CNI does: pods reach the API server and its
  // replies find them. Bridged traffic between nodes never consults these routes.
  for (const n of model.nodes) steps.push({ kind: 'ip', ns: ul, cmd: `route add ${n.podCIDR} via ${n.address} dev ${UNDERLAY_BRIDGE}` });
  for (const n of model.nodes) steps.push(...planNode(model, n, ns));
  return steps;
}

function planNode(model: ClusterModel, node: ModelNode, ns: NetnsNamer): NetStep[] {
  const me = ns('node', node.name);
  const steps: NetStep[] = [];
  // Forwarding on; loose reverse-path filtering because replies of masqueraded and
  // tunnelled flows come back on a different device than a strict check expects.
  const sys: [string, string][] = [
    ['net.ipv4.ip_forward', '1'],
    ['net.ipv4.conf.all.rp_filter', '2'],
    ['net.ipv4.conf.default.rp_filter', '2'],
  ];
  if (model.cni === 'flannel-vxlan') {
    // kube-proxy needs bridged pod traffic to pass iptables (a same-node ClusterIP reply
    // would otherwise skip the reverse NAT), as every flannel node sets it.
    sys.push(['net.bridge.bridge-nf-call-iptables', '1']);
    steps.push({ kind: 'ip', ns: me, cmd: 'link add cni0 type bridge' });
    steps.push({ kind: 'ip', ns: me, cmd: `addr add ${node.gateway}/${prefixLen(node.podCIDR)} dev cni0` });
    steps.push({ kind: 'ip', ns: me, cmd: 'link set cni0 up' });
  }
  steps.unshift({ kind: 'sysctl', ns: me, settings: sys });
  const vx = vxlanDevice(model.cni);
  if (vx) {
    steps.push({
      kind: 'ip',
      ns: me,
      cmd: `link add ${vx.dev} address ${vtepMac(node.name)} mtu ${VXLAN_MTU} type vxlan id ${vx.vni} local ${node.address} dev eth0 dstport ${vx.port} nolearning`,
    });
    steps.push({ kind: 'ip', ns: me, cmd: `addr add ${tunnelAddress(node)}/32 dev ${vx.dev}` });
    steps.push({ kind: 'ip', ns: me, cmd: `link set ${vx.dev} up` });
    // What flanneld / Felix program per remote node: a route via the remote VTEP address,
    // a permanent ARP entry for it and the FDB entry that maps its MAC to its node address.
    for (const other of model.nodes.filter((o) => o.name !== node.name)) {
      const vtep = tunnelAddress(other);
      steps.push({ kind: 'ip', ns: me, cmd: `route add ${other.podCIDR} via ${vtep} dev ${vx.dev} onlink` });
      steps.push({ kind: 'ip', ns: me, cmd: `neigh add ${vtep} lladdr ${vtepMac(other.name)} dev ${vx.dev} nud permanent` });
      steps.push({ kind: 'bridge', ns: me, cmd: `fdb add ${vtepMac(other.name)} dev ${vx.dev} dst ${other.address} self permanent` });
    }
  } else if (model.cni === 'calico-routed') {
    // What BIRD learns over BGP: each other node's block via that node's address.
    for (const other of model.nodes.filter((o) => o.name !== node.name))
      steps.push({ kind: 'ip', ns: me, cmd: `route add ${other.podCIDR} via ${other.address} dev eth0 proto bird` });
  }
  return steps;
}

/** Steps that create one pod's namespace and connect it to its node. */
export function planPod(model: ClusterModel, pod: ModelPod, ns: NetnsNamer): NetStep[] {
  const node = model.nodes.find((n) => n.name === pod.node);
  if (!node) throw new Error(`pod ${pod.namespace}/${pod.name}: no node ${pod.node}`);
  const me = ns('pod', `${pod.namespace}/${pod.name}`);
  const host = ns('node', node.name);
  const mtu = vxlanDevice(model.cni) ? VXLAN_MTU : 1500;
  const steps: NetStep[] = [{ kind: 'netns', name: me, nsKind: 'pod', owner: `${pod.namespace}/${pod.name}`, node: node.name }];
  const calico = model.cni.startsWith('calico');
  steps.push({
    kind: 'ip',
    ns: host,
    cmd: `link add ${pod.hostVeth}${calico ? ` address ${CALICO_HOST_MAC}` : ''} mtu ${mtu} type veth peer name eth0 mtu ${mtu} netns ${me}`,
  });
  if (calico) {
    steps.push({ kind: 'sysctl', ns: host, settings: [[`net.ipv4.conf.${pod.hostVeth}.proxy_arp`, '1']] });
    steps.push({ kind: 'ip', ns: host, cmd: `link set ${pod.hostVeth} up` });
    steps.push({ kind: 'ip', ns: host, cmd: `route add ${pod.ip}/32 dev ${pod.hostVeth} scope link` });
  } else {
    steps.push({ kind: 'ip', ns: host, cmd: `link set ${pod.hostVeth} master cni0` });
    // Hairpin lets a pod reach itself through its own Service, as the bridge CNI sets it.
    steps.push({ kind: 'ip', ns: host, cmd: `link set ${pod.hostVeth} type bridge_slave hairpin on` });
    steps.push({ kind: 'ip', ns: host, cmd: `link set ${pod.hostVeth} up` });
  }
  steps.push({ kind: 'ip', ns: me, cmd: 'link set lo up' });
  if (calico) {
    steps.push({ kind: 'ip', ns: me, cmd: `addr add ${pod.ip}/32 dev eth0` });
    steps.push({ kind: 'ip', ns: me, cmd: 'link set eth0 up' });
    steps.push({ kind: 'ip', ns: me, cmd: `route add ${CALICO_GATEWAY} dev eth0 scope link` });
    steps.push({ kind: 'ip', ns: me, cmd: `route add default via ${CALICO_GATEWAY} dev eth0 onlink` });
    // NOTE: the node namespace has no default route, so proxy ARP (which answers only for
    // routable targets) stays silent for 169.254.1.1; a permanent entry for the host veth's
    // fixed MAC gives the pod the same next hop proxy ARP would.
    steps.push({ kind: 'ip', ns: me, cmd: `neigh add ${CALICO_GATEWAY} lladdr ${CALICO_HOST_MAC} dev eth0 nud permanent` });
  } else {
    steps.push({ kind: 'ip', ns: me, cmd: `addr add ${pod.ip}/${prefixLen(node.podCIDR)} dev eth0` });
    steps.push({ kind: 'ip', ns: me, cmd: 'link set eth0 up' });
    steps.push({ kind: 'ip', ns: me, cmd: `route add default via ${node.gateway} dev eth0` });
  }
  const dns = model.services.find((s) => s.namespace === 'kube-system' && s.name === 'kube-dns');
  if (dns) steps.push({ kind: 'resolv', ns: me, text: renderResolvConf(dns.clusterIP, pod.namespace, model.clusterDomain) });
  return steps;
}

/** All steps for a whole lab: infrastructure, then every pod. */
export function planLab(model: ClusterModel, ns: NetnsNamer): NetStep[] {
  return [...planInfrastructure(model, ns), ...model.pods.flatMap((p) => planPod(model, p, ns))];
}
