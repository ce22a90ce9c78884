import { describe, expect, it } from 'vitest';
import type { AddressInfo } from 'node:net';
import { WebSocketServer } from 'ws';
import { parseRemoteTraceArgs, remoteTrace } from './remote-trace.ts';
import { syntheticJourney } from '../server/__tests__/synthetic.ts';

describe('remote trace flags', () => {
  it('builds the filter and the output the hub is asked for', () => {
    expect(parseRemoteTraceArgs([])).toEqual({ filter: { onlyDrops: false, onlyNat: false }, format: 'story' });
    expect(parseRemoteTraceArgs(['-n', 'shop', '--service=web', '--port', '8080', '--proto', 'tcp', '--only-drops', '--oneline', '--count', '5', '--duration', '60'])).toEqual({
      filter: { namespace: 'shop', service: 'web', port: 8080, proto: 'tcp', onlyDrops: true, onlyNat: false },
      format: 'oneline',
      count: 5,
      durationS: 60,
    });
    expect(parseRemoteTraceArgs(['--namespace', 'a', '--pod', 'client', '--only-nat', '--json'])).toMatchObject({ filter: { namespace: 'a', pod: 'client', onlyNat: true }, format: 'json' });
  });

  it('refuses what the hub would, before connecting', () => {
    expect(() => parseRemoteTraceArgs(['--proto', 'sctp'])).toThrow(/^filter: proto:/);
    expect(() => parseRemoteTraceArgs(['-n', 'Not_A_Namespace'])).toThrow(/^filter: namespace:/);
    expect(() => parseRemoteTraceArgs(['--port', '0'])).toThrow(/^--port: expected 1-65535, got "0"$/);
    expect(() => parseRemoteTraceArgs(['--count', '0'])).toThrow(/^--count: expected 1-1000000000/);
    expect(() => parseRemoteTraceArgs(['--duration', '86401'])).toThrow(/^--duration: expected 1-86400/);
    expect(() => parseRemoteTraceArgs(['--json', '--oneline'])).toThrow('--json and --oneline: choose one');
    expect(() => parseRemoteTraceArgs(['--url', 'http://h/'])).toThrow('unknown option "--url"');
    expect(() => parseRemoteTraceArgs(['-n'])).toThrow(/^-n needs a value$/);
  });
});

describe('remote trace stream', () => {
  it('ends with an error naming the frame it could not show, instead of throwing from the socket', async () => {
    const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
    await new Promise((r) => wss.once('listening', r));
    const closed = new Promise<number>((resolve) =>
      wss.once('connection', (ws) => {
        ws.send(JSON.stringify({ type: 'batch', seq: 1, dropped: 0, journeys: [syntheticJourney(1)] }));
        ws.on('close', (code) => resolve(code));
      }),
    );
    try {
      const url = `http://127.0.0.1:${(wss.address() as AddressInfo).port}/`;
      const trace = remoteTrace({
        url,
        token: 't',
        filter: { onlyDrops: false, onlyNat: false },
        format: 'oneline',
        write: () => {
          throw new Error('EPIPE: stdout went away');
        },
      });
      await expect(trace).rejects.toThrow(`${url}: a frame could not be shown: EPIPE: stdout went away`);
      expect(await closed).toBe(1011);
    } finally {
      for (const c of wss.clients) c.terminate();
      await new Promise((r) => wss.close(r));
    }
  });
});
