// For the fan-out's unit tests: a socket that records what the fan-out does to it, and the
// status of a running tracepoint agent. Not used outside tests.
import type { FanoutSocket } from '../fanout.ts';
import { MAX_CLOSE_REASON_BYTES, isValidCloseCode } from '../../protocol/close-reason.ts';
import { parseServerMessage, type AgentStatus, type ServerMessage } from '../../protocol/messages.ts';

export class FakeSocket implements FanoutSocket {
  bufferedAmount = 0;
  readyState = 1;
  sent: string[] = [];
  closed: { code: number; reason: string } | undefined;
  terminated = false;
  send(d: string): void {
    this.sent.push(d);
  }
  /** As ws's close(): a no-op once closing, and the same throws for what ws refuses. */
  close(code: number, reason: string): void {
    if (this.readyState === 2 || this.readyState === 3) return;
    if (!isValidCloseCode(code)) throw new TypeError('First argument must be a valid error code number');
    if (Buffer.byteLength(reason) > MAX_CLOSE_REASON_BYTES) throw new RangeError('The message must not be greater than 123 bytes');
    this.closed = { code, reason };
    this.readyState = 2;
  }
  terminate(): void {
    this.terminated = true;
    this.readyState = 3;
  }
  /** What was sent, each frame validated as the UI does. */
  messages(): ServerMessage[] {
    return this.sent.map((s) => {
      const r = parseServerMessage(s);
      if (!r.ok) throw new Error(r.reason);
      return r.message;
    });
  }
  /** Ids of the journeys sent, in order. */
  journeys(): string[] {
    return this.messages().flatMap((m) => (m.type === 'batch' ? m.journeys.map((j) => j.id) : []));
  }
}

export const runningStatus = (): AgentStatus => ({
  tracer: 'running',
  probeSet: 'tracepoints',
  bpftraceVersion: 'v0.17.0',
  sampling: { enabled: false, description: 'none', suppressed: 0 },
  counters: { eventsIn: 0, journeysOut: 0, lostEvents: 0, bpftraceRestarts: 0, dropped: {}, clients: 0 },
  lab: null,
});
