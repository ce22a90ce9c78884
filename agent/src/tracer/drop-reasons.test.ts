import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseDropReasons } from './drop-reasons.ts';

// Recorded from Linux 6.18 (/sys/kernel/tracing/events/skb/kfree_skb/format).
const format618 = readFileSync(new URL('../../../test/fixtures/tracer/kfree_skb.format', import.meta.url), 'utf8');

describe('parseDropReasons', () => {
  it('reads the kernel table', () => {
    const m = parseDropReasons(format618);
    expect(m.get(2)).toBe('NOT_SPECIFIED');
    expect(m.get(3)).toBe('NO_SOCKET');
    expect(m.get(12)).toBe('NETFILTER_DROP');
    expect(m.size).toBeGreaterThan(50);
  });

  it('ignores other __print_symbolic tables and garbage', () => {
    const f = 'print fmt: "x %s %s", __print_symbolic(REC->proto, { 1, "ICMP" }), __print_symbolic(REC->reason, { 7, "SEVEN" }, { 9, "NINE" })';
    expect([...parseDropReasons(f)]).toEqual([[7, 'SEVEN'], [9, 'NINE']]);
    expect(parseDropReasons('no table here').size).toBe(0);
  });
});
