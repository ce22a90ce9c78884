import { describe, expect, it } from 'vitest';
import { parseTraceArgs } from './trace.ts';
import { UsageError } from '../config/flags.ts';

describe('hopscope trace arguments', () => {
  it('parses where, what and output together', () => {
    const a = parseTraceArgs(['--lab', 'demo', '--from', 'default/client', '--to', 'svc/default/web', '--port', '80', '--port=443', '--proto', 'tcp', '--json', '--count', '3']);
    expect(a).toMatchObject({ lab: 'demo', output: 'json', count: 3, filter: { from: 'default/client', to: 'svc/default/web', port: [80, 443], proto: 'tcp' } });
    expect(parseTraceArgs(['--sample-every', '128', '--print-budget=500', '--every-packet', '--netns', '4026532177', '-n', 'shop']).filter).toEqual({ sampleEvery: 128, printBudget: 500, everyPacket: true, netns: [4026532177], namespace: 'shop' });
  });

  it('takes --lab without a name when a flag follows', () => {
    expect(parseTraceArgs(['--lab', '--every-packet']).lab).toBe('');
    expect(parseTraceArgs(['--lab']).lab).toBe('');
    expect(parseTraceArgs(['--every-packet']).lab).toBeUndefined();
    expect(parseTraceArgs(['--lab=x1', '--duration=2.5'])).toMatchObject({ lab: 'x1', durationS: 2.5 });
  });

  it('refuses bad values with a message naming the flag', () => {
    expect(() => parseTraceArgs(['--count', '0'])).toThrow(/--count/);
    expect(() => parseTraceArgs(['--count', '1.5'])).toThrow(/--count: expected a whole number/);
    expect(() => parseTraceArgs(['--duration', 'soon'])).toThrow(/--duration/);
    expect(() => parseTraceArgs(['--lab', 'Bad_Name'])).toThrow(/not a lab name/);
    expect(() => parseTraceArgs(['--frobnicate'])).toThrow(/unknown option "--frobnicate"/);
    expect(() => parseTraceArgs(['--proto', 'sctp'])).toThrow(/proto/);
    expect(() => parseTraceArgs(['--kubeconfig'])).toThrow(/--kubeconfig/);
    expect(() => parseTraceArgs(['--port', 'http'])).toThrow(/^--port: expected 1-65535/);
    expect(() => parseTraceArgs(['--print-budget', '0'])).toThrow(/--print-budget/);
    expect(() => parseTraceArgs(['--json', '--oneline'])).toThrow(/choose one/);
    expect(() => parseTraceArgs(['stray'])).toThrow(UsageError);
  });

  it('a flag is never taken as the value of the one before it', () => {
    expect(() => parseTraceArgs(['--from', '--port', '80'])).toThrow(/^--from needs a value$/);
    expect(() => parseTraceArgs(['--count', '--oneline'])).toThrow(/^--count needs a value$/);
    expect(() => parseTraceArgs(['-n', '--from', 'x'])).toThrow(/^-n needs a value$/);
  });
});
