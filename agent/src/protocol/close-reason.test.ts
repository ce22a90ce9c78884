import { describe, expect, it } from 'vitest';
import { MAX_CLOSE_REASON_BYTES, closeReason, closeWith, isValidCloseCode } from './close-reason.ts';
import { seededRandom } from '../tracer/__tests__/seeded-random.ts';

const bytes = (s: string) => Buffer.byteLength(s);

describe('closeReason', () => {
  it('leaves a reason that fits as it is', () => {
    expect(closeReason('wrong token')).toBe('wrong token');
    const exact = 'x'.repeat(MAX_CLOSE_REASON_BYTES);
    expect(closeReason(exact)).toBe(exact);
  });

  it('cuts the zod reason that quoted 60 × "é" on a character boundary (it used to grow back to 125 bytes)', () => {
    const reason = `invalid message: filter: Unrecognized key(s) in object: '${'é'.repeat(60)}'`;
    const cut = closeReason(reason);
    expect(bytes(cut)).toBeLessThanOrEqual(MAX_CLOSE_REASON_BYTES);
    expect(cut.endsWith('é…')).toBe(true);
    expect(reason.startsWith(cut.slice(0, -1))).toBe(true);
    expect(cut).not.toContain('\uFFFD');
  });

  it('keeps astral characters whole and measures lone surrogates as ws sends them', () => {
    const astral = closeReason('🦆'.repeat(40));
    expect(bytes(astral)).toBeLessThanOrEqual(MAX_CLOSE_REASON_BYTES);
    expect(astral).toBe('🦆'.repeat(30) + '…');
    const lone = closeReason('\uD800'.repeat(100));
    expect(bytes(lone)).toBeLessThanOrEqual(MAX_CLOSE_REASON_BYTES);
  });

  it('fits any string (seeded strings of 1-4 byte characters and lone surrogates)', () => {
    const rnd = seededRandom(12);
    const pools = ['a', 'é', '中', '🦆', '\uD83D', '\uDC00', '\u0000', '…'];
    for (let i = 0; i < 2000; i++) {
      let s = '';
      const n = rnd(200);
      for (let k = 0; k < n; k++) s += pools[rnd(pools.length)];
      const cut = closeReason(s);
      expect(bytes(cut)).toBeLessThanOrEqual(MAX_CLOSE_REASON_BYTES);
      // What is kept is the start of the reason, as the peer will decode it.
      const sent = Buffer.from(s).toString();
      expect(sent.startsWith(cut.endsWith('…') && cut !== sent ? cut.slice(0, -1) : cut)).toBe(true);
    }
  });
});

describe('isValidCloseCode / closeWith', () => {
  it('accepts the codes ws accepts', () => {
    for (const c of [1000, 1001, 1003, 1008, 1009, 1011, 1014, 3000, 4999]) expect(isValidCloseCode(c)).toBe(true);
    for (const c of [0, 999, 1004, 1005, 1006, 1015, 2000, 5000, 1000.5]) expect(isValidCloseCode(c)).toBe(false);
  });

  it('terminates a socket whose close throws instead of throwing', () => {
    let terminated = false;
    const sock = {
      close() {
        throw new Error('socket broke');
      },
      terminate() {
        terminated = true;
      },
    };
    expect(() => closeWith(sock, 1008, 'bye')).not.toThrow();
    expect(terminated).toBe(true);
  });
});
