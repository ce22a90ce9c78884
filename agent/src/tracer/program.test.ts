import { describe, expect, it } from 'vitest';
import { DEFAULT_KERNEL_FILTER, type KernelFilter } from './kernel-filter.ts';
import { loadTemplates, ProgramError, rawPort, renderHoles, renderProgram } from './program.ts';

const opts = { probeSet: 'tracepoints' as const, vxlanPorts: [4789, 8472] };

describe('renderProgram', () => {
  it('fills every hole and emits one datapath block per hook', () => {
    const p = renderProgram(DEFAULT_KERNEL_FILTER, opts);
    expect(p).not.toMatch(/\{\{/);
    expect(p.match(/^tracepoint:net:netif_receive_skb$/gm)).toHaveLength(1);
    expect(p.match(/^tracepoint:net:net_dev_start_xmit$/gm)).toHaveLength(1);
    expect(p).toContain('printf("H 1 ');
    expect(p).toContain('printf("H 2 ');
    expect(p).not.toContain('kprobe:');
    const k = renderProgram(DEFAULT_KERNEL_FILTER, { ...opts, probeSet: 'kprobes' });
    expect(k).toContain('kprobe:nf_nat_manip_pkt');
    // Every probe that prints packets comes before the flush probe, whose first line the runner
    // takes as "all attached" (bpftrace attaches in the program's order).
    const flushAt = k.indexOf('interval:ms:');
    for (const p of ['kprobe:nf_nat_manip_pkt', 'tracepoint:net:netif_receive_skb', 'tracepoint:net:net_dev_start_xmit', 'tracepoint:skb:kfree_skb', 'tracepoint:skb:consume_skb']) {
      expect(k.indexOf(p), p).toBeGreaterThan(0);
      expect(k.indexOf(p), p).toBeLessThan(flushAt);
    }
  });

  it('pads the flush line past stdio\'s 8 KiB buffer, as long as the template\'s format comment says', () => {
    const pad = /printf\("P %lx (\.+)\\n", nsecs\)/.exec(renderProgram(DEFAULT_KERNEL_FILTER, opts))?.[1];
    expect(pad).toBeDefined();
    // glibc's BUFSIZ: a shorter line could sit in bpftrace's buffer with the events it should flush.
    expect(`P 1 ${pad}\n`.length).toBeGreaterThan(8192);
    const documented = /^\/\/\s+P <nsecs> <(\d+) dots>/m.exec(loadTemplates().datapath)?.[1];
    expect(Number(documented)).toBe(pad!.length);
  });

  it('writes ports and addresses as the kernel reads them (little-endian of network order)', () => {
    expect(rawPort(4789)).toBe(0xb512);
    expect(rawPort(80)).toBe(0x5000);
    const f: KernelFilter = {
      ...DEFAULT_KERNEL_FILTER,
      from: { cidrs: [{ family: 4, bytes: [10, 244, 1, 0], prefix: 24 }], ports: [] },
      to: { cidrs: [], ports: [8080] },
      proto: 'tcp',
      netns: [4026532177],
    };
    const h = renderHoles(f, opts);
    // 10.244.1.0/24 -> mask bytes ff ff ff 00 read as LE u32 = 0x00ffffff; net = 0x0001f40a
    expect(h.MATCH4).toContain(`($fs & ${0x00ffffff}) == ${0x0001f40a}`);
    expect(h.MATCH4).toContain(`$fdp == ${rawPort(8080)}`);
    expect(h.MATCH4).toContain('$fpr == 6');
    expect(h.MATCH4).toContain('$ct != 0');
    expect(h.NETNS).toBe('($ns == 4026532177)');
    expect(h.VXLAN_PORTS).toBe(`(($a >> 16) == ${rawPort(4789)} || ($a >> 16) == ${rawPort(8472)})`);
    // A v4-only address filter never matches IPv6 packets.
    expect(h.MATCH6).toBe('0');
  });

  it('renders match-all, every-packet and sampling-off forms', () => {
    const h = renderHoles({ ...DEFAULT_KERNEL_FILTER, everyPacket: true, sampleEvery: 0 }, opts);
    expect(h.MATCH4).toBe('1');
    expect(h.NETNS).toBe('1');
    expect(h.EVERY).toBe('1');
    expect(h.SAMPLE).toBe('0');
    expect(h.ADAPT).toBe('0');
    expect(renderHoles({ ...DEFAULT_KERNEL_FILTER, proto: 'icmp' }, opts).MATCH6).toBe('($fpr == 58)');
  });

  it('carries a packet\'s "count, don\'t print" only where nothing along its path can change it', () => {
    const carry = (f: Partial<KernelFilter>): string => renderHoles({ ...DEFAULT_KERNEL_FILTER, ...f }, opts).CARRY!;
    expect(carry({})).toBe('1');
    // A lab's own namespaces are closed; a user's netns list is not (the packet goes on to
    // the node's namespace, where it must be ignored, not counted).
    expect(carry({ netns: [4026532177], netnsClosed: true })).toBe('1');
    expect(carry({ netns: [4026532177] })).toBe('0');
    // NAT may make a packet start or stop matching a filter; every-packet never counts.
    expect(carry({ to: { cidrs: [{ family: 4, bytes: [10, 96, 0, 10], prefix: 32 }], ports: [] } })).toBe('0');
    expect(carry({ ports: [53] })).toBe('0');
    expect(carry({ proto: 'udp' })).toBe('0');
    expect(carry({ everyPacket: true })).toBe('0');
    const p = renderProgram(DEFAULT_KERNEL_FILTER, opts);
    expect(p).toContain('if (1) {\n    $ip = ');
    expect(renderProgram({ ...DEFAULT_KERNEL_FILTER, everyPacket: true }, opts)).toContain('if (0) {\n    $ip = ');
  });

  it('lets the sampler adapt its 1 in K to the print budget, from the filter\'s K up', () => {
    const h = renderHoles({ ...DEFAULT_KERNEL_FILTER, sampleEvery: 100, printBudget: 500 }, { ...opts, reportSeconds: 2 });
    expect(h.SAMPLE).toBe('($sid % @k) == 0');
    expect([h.ADAPT, h.K_MIN, h.K_MAX, h.BUDGET]).toEqual(['1', '100', '16384', '1000']);
    expect(renderHoles({ ...DEFAULT_KERNEL_FILTER, sampleEvery: 0 }, opts)).toMatchObject({ ADAPT: '0', K_MIN: '0', SAMPLE: '0' });
    expect(renderHoles(DEFAULT_KERNEL_FILTER, opts).BUDGET).toBe('500');
    expect(() => renderHoles({ ...DEFAULT_KERNEL_FILTER, printBudget: 0 }, opts)).toThrow(ProgramError);
  });

  it('refuses values that are not what the types say', () => {
    const bad = (f: Partial<KernelFilter>) => () => renderProgram({ ...DEFAULT_KERNEL_FILTER, ...f } as KernelFilter, opts);
    expect(bad({ ports: [70000] })).toThrow(ProgramError);
    expect(bad({ ports: ['80; system("x")' as unknown as number] })).toThrow(ProgramError);
    expect(bad({ netns: [1.5] })).toThrow(ProgramError);
    expect(bad({ firstPackets: -1 })).toThrow(ProgramError);
    expect(bad({ proto: 'sctp' as never })).toThrow(ProgramError);
    expect(bad({ from: { cidrs: [{ family: 4, bytes: [1, 2, 3], prefix: 8 }], ports: [] } })).toThrow(ProgramError);
    expect(bad({ from: { cidrs: [{ family: 4, bytes: [1, 2, 3, 4], prefix: 33 }], ports: [] } })).toThrow(ProgramError);
    expect(() => renderProgram(DEFAULT_KERNEL_FILTER, { ...opts, vxlanPorts: [0] })).toThrow(ProgramError);
  });

  it('refuses a list field that is not a list with a ProgramError, not a TypeError', () => {
    const refused = (fn: () => unknown, message: string): void => {
      expect(fn).toThrow(ProgramError);
      expect(fn).toThrow(message);
    };
    const filter = (f: Record<string, unknown>) => () => renderProgram({ ...DEFAULT_KERNEL_FILTER, ...f } as unknown as KernelFilter, opts);
    for (const v of ['80', 80, { 0: 80 }, undefined, null]) {
      refused(filter({ ports: v }), 'ports must be a list');
      refused(filter({ netns: v }), 'netns must be a list');
      refused(() => renderProgram(DEFAULT_KERNEL_FILTER, { ...opts, vxlanPorts: v as never }), 'vxlanPorts must be a list');
      refused(() => renderHoles(DEFAULT_KERNEL_FILTER, { ...opts, vxlanPorts: v as never }), 'vxlanPorts must be a list');
    }
    refused(filter({ from: undefined }), 'from must have cidrs and ports');
    refused(filter({ to: { cidrs: [null], ports: [] } }), 'address must be an object');
  });

  // bpftrace 0.23.2 segfaults compiling a ternary whose arm makes basic blocks of its own (a
  // nested ternary, && or ||: bpftrace issue 4567). The image test compiles real programs with
  // 0.23.2; this catches the shape in every rendered form without it.
  it('renders no ternary with a block-making arm (bpftrace 0.23.2 crashes on one)', () => {
    const v4 = { family: 4 as const, bytes: [10, 244, 1, 0], prefix: 24 };
    const v6 = { family: 6 as const, bytes: [0xfd, 0, ...Array<number>(14).fill(0)], prefix: 64 };
    const filters: Partial<KernelFilter>[] = [
      {},
      { everyPacket: true, sampleEvery: 0 },
      { from: { cidrs: [v4, v6], ports: [80, 443] }, to: { cidrs: [v4], ports: [8080] }, proto: 'tcp' },
      { ports: [53, 5353], proto: 'udp', netns: [4026532177, 4026532178], netnsClosed: true },
      { to: { cidrs: [v6], ports: [] }, proto: 'icmp' },
    ];
    for (const f of filters) {
      for (const probeSet of ['tracepoints', 'kprobes'] as const) {
        expect(blockMakingTernaries(renderProgram({ ...DEFAULT_KERNEL_FILTER, ...f }, { ...opts, probeSet }))).toEqual([]);
      }
    }
    // The checker itself finds the shapes that crash.
    expect(blockMakingTernaries('$k = ($a == 6) ? $b : (($a == 1 || $a == 58) ? $c : 0);')).toHaveLength(1);
    expect(blockMakingTernaries('if ($e == 8 ? ($x && $y) : (1)) {')).toHaveLength(1);
    expect(blockMakingTernaries('$f = ($a == 6 || $a == 17) ? ($b & 0xffff) : 0;')).toEqual([]);
  });
});

/** Ternaries (outside comments) whose arms hold `?`, `&&` or `||`. */
function blockMakingTernaries(program: string): string[] {
  const code = program.replace(/\/\/.*$/gm, '');
  const found: string[] = [];
  for (let q = code.indexOf('?'); q >= 0; q = code.indexOf('?', q + 1)) {
    // The arms: from the '?' to where the enclosing parenthesis closes or the statement ends.
    let depth = 0;
    let end = q + 1;
    for (; end < code.length; end++) {
      const c = code[end]!;
      if (c === '(') depth++;
      else if (c === ')') {
        if (depth === 0) break;
        depth--;
      } else if ((c === ';' || c === '{') && depth === 0) break;
    }
    const arms = code.slice(q + 1, end);
    if (/\?|&&|\|\|/.test(arms)) found.push(code.slice(Math.max(0, q - 40), end).trim());
  }
  return found;
}
