import { describe, expect, it } from 'vitest';
import { parseTraceArgs } from './trace.ts';

describe('hopscope trace arguments', () => {
  it('parses where, what and output together', () => {
    const a = parseTraceArgs(['--lab', 'demo', '--from', 'default/client', '--to', 'svc/default/web', '--port', '80', '--proto', 'tcp', '--json', '--count', '3']);
    expect(a).toMatchObject({ lab: 'demo', output: 'json', count: 3, filter: { from: 'default/client', to: 'svc/default/web', port: [80], proto: 'tcp' } });
  });

  it('takes --lab without a name when a flag follows', () => {
    expect(parseTraceArgs(['--lab', '--every-packet']).lab).toBe('');
    expect(parseTraceArgs(['--lab']).lab).toBe('');
    expect(parseTraceArgs(['--every-packet']).lab).toBeUndefined();
    expect(parseTraceArgs(['--lab=x1', '--duration=2.5'])).toMatchObject({ lab: 'x1', durationS: 2.5 });
  });

  it('refuses bad values with a message naming the flag', () => {
    expect(() => parseTraceArgs(['--count', '0'])).toThrow(/--count/);
    expect(() => parseTraceArgs(['--count', '1.5'])).toThrow(/whole number/);
    expect(() => parseTraceArgs(['--duration', 'soon'])).toThrow(/--duration/);
    expect(() => parseTraceArgs(['--lab', 'Bad_Name'])).toThrow(/not a lab name/);
    expect(() => parseTraceArgs(['--frobnicate'])).toThrow(/unknown option "--frobnicate"/);
    expect(() => parseTraceArgs(['--proto', 'sctp'])).toThrow(/proto/);
    expect(() => parseTraceArgs(['--kubeconfig'])).toThrow(/--kubeconfig/);
  });
});
