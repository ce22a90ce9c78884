// The fan-out's limits on abusive clients, on a clock the test drives: message floods, clients that
// never say hello, and clients that stop reading. Each is closed with a reason; others go on.
import { describe, expect, it } from 'vitest';
import { Fanout } from './fanout.ts';
import { FakeSocket, runningStatus } from './__tests__/fanout-kit.ts';
import { syntheticJourney } from './__tests__/synthetic.ts';

const status = runningStatus;

function setup(over: Partial<ConstructorParameters<typeof Fanout>[0]> = {}) {
  let t = 1_000_000;
  const unions: unknown[] = [];
  const fanout = new Fanout({ status, now: () => t, maxMessagesPerSecond: 10, messageBurst: 50, helloTimeoutMs: 5000, maxStallMs: 3000, maxBufferedBytes: 1000, onFilterUnion: (u) => unions.push(u), ...over });
  const connect = (hello = true) => {
    const sock = new FakeSocket();
    const id = fanout.addClient(sock);
    if (hello) fanout.handleMessage(id, JSON.stringify({ type: 'hello', version: 1 }));
    return { id, sock };
  };
  return { fanout, connect, unions, advance: (ms: number) => (t += ms) };
}

const sub = (port: number) => JSON.stringify({ type: 'subscribe', filter: { port, onlyDrops: false, onlyNat: false } });

describe('fan-out limits', () => {
  it('closes a client that floods subscriptions (1008, reason) and keeps serving the others', () => {
    const { fanout, connect, unions } = setup();
    const good = connect();
    const abuser = connect();
    for (let i = 0; i < 5000 && !abuser.sock.closed; i++) fanout.handleMessage(abuser.id, sub(1 + (i % 60000)));
    expect(abuser.sock.closed).toEqual({ code: 1008, reason: 'too many messages (limit 10/s, burst 50)' });
    // The burst (hello + 49 subscribes) went through, nothing after it.
    expect(unions.length).toBeLessThanOrEqual(51);
    expect(fanout.counters.clientsClosedAbusive).toBe(1);
    expect(fanout.clientCount).toBe(1);
    fanout.publish(syntheticJourney(1));
    fanout.flush();
    expect(good.sock.sent.some((m) => m.startsWith('{"type":"batch"'))).toBe(true);
    expect(good.sock.closed).toBeUndefined();
  });

  it('allows a steady rate under the limit indefinitely', () => {
    const { fanout, connect, advance } = setup();
    const c = connect();
    for (let i = 0; i < 1000; i++) {
      advance(150); // under 10/s
      fanout.handleMessage(c.id, sub(80 + (i % 2)));
    }
    expect(c.sock.closed).toBeUndefined();
  });

  it('closes a client that never says hello', () => {
    const { fanout, connect, advance } = setup();
    const silent = connect(false);
    const talker = connect(true);
    advance(4000);
    fanout.flush();
    expect(silent.sock.closed).toBeUndefined();
    advance(1001);
    fanout.flush();
    expect(silent.sock.closed).toEqual({ code: 1008, reason: 'no hello within 5000 ms' });
    expect(talker.sock.closed).toBeUndefined();
  });

  it('drops a client whose socket stays over its buffer bound, not one that catches up', () => {
    const { fanout, connect, advance } = setup();
    const stuck = connect();
    const slowButReading = connect();
    stuck.sock.bufferedAmount = 5000;
    slowButReading.sock.bufferedAmount = 5000;
    fanout.flush();
    advance(2000);
    slowButReading.sock.bufferedAmount = 0; // it read
    fanout.flush();
    slowButReading.sock.bufferedAmount = 5000;
    advance(1500);
    fanout.flush();
    expect(stuck.sock.closed).toEqual({ code: 1008, reason: 'too slow: not reading for 3000 ms' });
    expect(stuck.sock.terminated).toBe(true);
    expect(slowButReading.sock.closed).toBeUndefined();
    expect(fanout.counters.clientsClosedStalled).toBe(1);
    expect(fanout.clientCount).toBe(1);
  });

  it('queues no status snapshots behind a socket that is not reading', () => {
    const { fanout, connect } = setup();
    const stuck = connect();
    const ok = connect();
    stuck.sock.bufferedAmount = 5000;
    const before = stuck.sock.sent.length;
    for (let i = 0; i < 10; i++) fanout.broadcast({ type: 'status', status: status() });
    expect(stuck.sock.sent.length).toBe(before);
    expect(ok.sock.sent.filter((m) => m.startsWith('{"type":"status"')).length).toBe(10);
  });
});
