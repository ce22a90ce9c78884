// A deterministic random source for the fuzz tests, so a failure is reproducible from its seed.

/** Integers in [0, n) from a linear congruential generator started at `seed`. */
export function seededRandom(seed: number): (n: number) => number {
  let state = seed;
  return (n: number): number => {
    state = (state * 1103515245 + 12345) >>> 0;
    return (state >>> 16) % n;
  };
}
