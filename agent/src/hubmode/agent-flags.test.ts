import { describe, expect, it } from 'vitest';
import { agentTransportPlan, labNodeInodes, parseAgentFlags, scopeInodes } from './agent-flags.ts';
import type { LabNetns } from '../lab/state.ts';

const netns: LabNetns[] = [
  { name: 'a', kind: 'node', owner: 'node-1', inode: 11 },
  { name: 'b', kind: 'node', owner: 'node-2', inode: 12 },
  { name: 'c', kind: 'pod', owner: 'default/client', node: 'node-1', inode: 21 },
  { name: 'd', kind: 'pod', owner: 'default/web-x', node: 'node-2', inode: 22 },
  { name: 'e', kind: 'underlay', owner: 'underlay', inode: 30 },
  { name: 'f', kind: 'external', owner: 'ext', inode: 31 },
];

describe('agent flags', () => {
  it('takes the node flags and leaves the server flags', () => {
    const f = parseAgentFlags(['--host', '10.0.0.1', '--node', 'node-1', '--proc-root=/host/proc', '--port', '4780', '--netns-scope', 'lab:demo/node-1', '--netns-inode', '99']);
    expect(f).toEqual({ node: 'node-1', procRoot: '/host/proc', lab: 'demo', scopes: [{ lab: 'demo', node: 'node-1' }], inodes: [99], insecure: false, rest: ['--host', '10.0.0.1', '--port', '4780'] });
    expect(parseAgentFlags(['--tls-dir', '/etc/hopscope/tls'])).toMatchObject({ tlsDir: '/etc/hopscope/tls', insecure: false });
    expect(parseAgentFlags(['--insecure'])).toMatchObject({ insecure: true });
  });

  it('serves beyond loopback only over mutual TLS, or with --insecure said out loud', () => {
    expect(agentTransportPlan('127.0.0.1', { insecure: false }, true)).toEqual({ kind: 'plain', insecure: false });
    expect(agentTransportPlan('10.0.0.1', { tlsDir: '/t', insecure: false }, false)).toEqual({ kind: 'tls', dir: '/t' });
    expect(agentTransportPlan('127.0.0.1', { tlsDir: '/t', insecure: false }, true)).toEqual({ kind: 'tls', dir: '/t' });
    expect(agentTransportPlan('10.0.0.1', { insecure: true }, false)).toEqual({ kind: 'plain', insecure: true });
    expect(agentTransportPlan('10.0.0.1', { insecure: false }, false)).toMatchObject({ kind: 'refuse', message: expect.stringMatching(/^--host 10\.0\.0\.1: an agent reachable beyond loopback serves HTTPS with mutual TLS only/) });
    expect(agentTransportPlan('10.0.0.1', { tlsDir: '/t', insecure: true }, false)).toEqual({ kind: 'refuse', message: '--tls-dir and --insecure: choose one' });
  });

  it('refuses bad values with the flag named', () => {
    expect(() => parseAgentFlags(['--netns-scope', 'demo/node-1'])).toThrow(/--netns-scope: expected lab:<lab>\/<node>/);
    expect(() => parseAgentFlags(['--netns-scope', 'lab:demo/node-1', '--lab', 'other'])).toThrow(/names lab demo but --lab is other/);
    expect(() => parseAgentFlags(['--netns-inode', '0'])).toThrow(/--netns-inode/);
    expect(() => parseAgentFlags(['--netns-inode', '1; rm'])).toThrow(/--netns-inode/);
    expect(() => parseAgentFlags(['--node', 'Node_1'])).toThrow(/--node/);
    expect(() => parseAgentFlags(['--proc-root', 'proc'])).toThrow(/absolute/);
    expect(() => parseAgentFlags(['--node'])).toThrow(/needs a value/);
    expect(() => parseAgentFlags(['--node', '--port', '4780'])).toThrow(/^--node needs a value$/);
    expect(() => parseAgentFlags(['--bogus'])).toThrow(/unknown option "--bogus"/);
  });

  it('hands the server flags on whole, a token starting with "-" included', () => {
    const f = parseAgentFlags(['--token', '-k2H_generated-token', '--node', 'node-1', '-h', '--port=4780']);
    expect(f).toMatchObject({ node: 'node-1', rest: ['--token', '-k2H_generated-token', '-h', '--port=4780'] });
  });

  it('a lab node scope is the node netns and its pods, not the underlay or other nodes', () => {
    expect(labNodeInodes({ name: 'demo', netns }, 'node-1')).toEqual([11, 21]);
    expect(labNodeInodes({ name: 'demo', netns }, 'node-2')).toEqual([12, 22]);
    expect(() => labNodeInodes({ name: 'demo', netns }, 'node-3')).toThrow(/no node "node-3" \(nodes: node-1, node-2\)/);
    expect(scopeInodes({ scopes: [{ lab: 'demo', node: 'node-2' }], inodes: [5] }, { name: 'demo', netns })).toEqual([5, 12, 22]);
    expect(scopeInodes({ scopes: [], inodes: [] }, undefined)).toEqual([]);
  });
});
