import { describe, expect, it } from 'vitest';
import { inspectCommand, parseTranscript, shellQuote, transcript } from './inspect.ts';
import { labActionSchema } from './messages.ts';

const flannel = { cni: 'flannel-vxlan', kubeProxy: 'iptables' } as const;

describe('inspection commands', () => {
  it('renders the Service rules per kube-proxy mode as argv stages and the line a user types', () => {
    const c = { what: 'service-rules', node: 'node-1', service: { namespace: 'default', name: 'web' } } as const;
    const ipt = inspectCommand(c, flannel);
    expect(ipt.pipeline).toEqual([['iptables-save', '-t', 'nat'], ['grep', '-F', '--', 'default/web:']]);
    expect(ipt.line).toBe('iptables-save -t nat | grep -F -- default/web:');
    const nft = inspectCommand(c, { cni: 'flannel-vxlan', kubeProxy: 'nftables' });
    expect(nft.line).toBe('nft list table ip kube-proxy | grep -F -A3 -- -default/web/');
    expect(inspectCommand({ what: 'vxlan-fdb', node: 'node-2' }, { cni: 'calico-vxlan', kubeProxy: 'iptables' }).line).toBe('bridge fdb show dev vxlan.calico');
  });

  it('quotes what a shell would split or expand', () => {
    expect(shellQuote('default/web:')).toBe('default/web:');
    expect(shellQuote('a b')).toBe("'a b'");
    expect(shellQuote("it's;$(x)")).toBe(`'it'\\''s;$(x)'`);
  });

  it('a transcript is the prompt, the line and the output, and splits back', () => {
    const c = inspectCommand({ what: 'route-get', at: { kind: 'pod', namespace: 'default', name: 'client' }, dst: '10.96.0.20' }, flannel);
    const t = transcript(c, '10.96.0.20 via 10.244.1.1 dev eth0\n');
    expect(t).toBe('pod default/client $ ip route get 10.96.0.20\n10.96.0.20 via 10.244.1.1 dev eth0\n');
    expect(parseTranscript(t)).toEqual({ prompt: 'pod default/client $', line: 'ip route get 10.96.0.20', output: '10.96.0.20 via 10.244.1.1 dev eth0\n' });
    expect(transcript(c, 'x'.repeat(7000))).toContain('(1000 more characters)');
  });

  it('refuses anything but the fixed checks with validated names and addresses', () => {
    const bad = [
      { kind: 'inspect', check: { what: 'shell', line: 'id' } },
      { kind: 'inspect', check: { what: 'route-get', at: { kind: 'node', node: 'node-1' }, dst: '10.0.0.1; reboot' } },
      { kind: 'inspect', check: { what: 'service-rules', node: 'node-1', service: { namespace: 'default', name: "web' -e x" } } },
      { kind: 'inspect', check: { what: 'neigh', at: { kind: 'node', node: 'node-1' }, dev: 'lo; id' } },
      { kind: 'rebuild', cni: 'weave', kubeProxy: 'iptables' },
    ];
    for (const b of bad) expect(labActionSchema.safeParse(b).success, JSON.stringify(b)).toBe(false);
  });
});
