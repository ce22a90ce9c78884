// The lab's datapath modes: which CNI shape it builds and how kube-proxy programs Services.
// Shared by the lab's topology schema, the rebuild action and the lesson files.

/** CNI shapes the lab knows (calico-ipip only where the kernel has IP-in-IP). */
export const cniModes = ['flannel-vxlan', 'calico-routed', 'calico-vxlan', 'calico-ipip'] as const;
export type CniMode = (typeof cniModes)[number];
/** kube-proxy modes the lab reproduces. */
export const kubeProxyModes = ['iptables', 'nftables'] as const;
export type LabProxyMode = (typeof kubeProxyModes)[number];

/** A lab's datapath: CNI and kube-proxy mode. */
export interface LabMode {
  cni: CniMode;
  kubeProxy: LabProxyMode;
}

/** "flannel-vxlan + iptables", as the page and the log say it. */
export function modeText(m: LabMode): string {
  return `${m.cni} + ${m.kubeProxy}`;
}
