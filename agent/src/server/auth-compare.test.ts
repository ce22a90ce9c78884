// The token check goes through crypto.timingSafeEqual on equal-length digests for every input
// length, so neither the content nor the length of the right token leaks through timing.
import { describe, expect, it, vi } from 'vitest';

const calls: [number, number][] = [];
vi.mock('node:crypto', async (importOriginal) => {
  const real = await importOriginal<typeof import('node:crypto')>();
  return {
    ...real,
    timingSafeEqual: (a: NodeJS.ArrayBufferView, b: NodeJS.ArrayBufferView) => {
      calls.push([a.byteLength, b.byteLength]);
      return real.timingSafeEqual(a, b);
    },
  };
});
const { tokenEquals } = await import('./auth.ts');

describe('tokenEquals', () => {
  it('compares fixed-length digests with timingSafeEqual, whatever the lengths given', () => {
    const right = 'right-token-0123456789abcdef';
    const given = ['', 'r', right.slice(0, -1), right, `${right}x`, 'x'.repeat(5000), 'ü'.repeat(40)];
    const results = given.map((g) => tokenEquals(g, right));
    expect(results).toEqual([false, false, false, true, false, false, false]);
    // One constant-time comparison per check, never an early return, always 32 bytes a side.
    expect(calls).toEqual(given.map(() => [32, 32]));
  });
});
