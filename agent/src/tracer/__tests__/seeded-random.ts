// A deterministic random source for the fuzz tests, so a failure is reproducible from its seed.

/** Integers in [0, n) from a linear congruential generator started at `seed`. */
export function seededRandom(seed: number): (n: number) => number {
  let state = seed >>> 0;
  return (n: number): number => {
    // Math.imul: a float multiply of two 32-bit numbers loses the low bits past 2^53, and the
    // generator then fell into a cycle of a few hundred states within about 10k draws.
    state = (Math.imul(state, 1103515245) + 12345) >>> 0;
    return (state >>> 16) % n;
  };
}
