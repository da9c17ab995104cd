import { required } from "./errors";

/**
 * A small seeded random generator (mulberry32) and the draws the simulations need: the demo district
 * (scripts/demo.ts) and the risk benchmark's city (bench/risk-city.ts) are the same for the same seed.
 * Not for anything secret.
 */
export function rng(seed: number) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const u = (lo: number, hi: number) => lo + (hi - lo) * next();
  /** Standard normal (Box–Muller). */
  const normal = () => {
    const x = Math.max(next(), 1e-12);
    return Math.sqrt(-2 * Math.log(x)) * Math.cos(2 * Math.PI * next());
  };
  /** Poisson: Knuth's method, a normal approximation over 30. */
  const poisson = (lambda: number): number => {
    if (lambda <= 0) return 0;
    if (lambda > 30) return Math.max(0, Math.round(lambda + Math.sqrt(lambda) * normal()));
    const l = Math.exp(-lambda);
    let k = 0;
    let p = 1;
    do { k++; p *= next(); } while (p > l);
    return k - 1;
  };
  return {
    next, u, normal, poisson,
    /** An integer from lo to hi, both included. */
    int: (lo: number, hi: number) => Math.floor(u(lo, hi + 1)),
    chance: (p: number) => next() < p,
    pick: <T>(xs: readonly T[]): T => required(xs[Math.floor(next() * xs.length)], "a value to pick from an empty list"),
    logNormal: (median: number, sigma: number) => median * Math.exp(sigma * normal()),
    /** One of `xs`, each with probability proportional to `w(x)`. */
    weighted: <T>(xs: readonly T[], w: (x: T) => number): T => {
      const total = xs.reduce((s, x) => s + w(x), 0);
      let r = next() * total;
      for (const x of xs) if ((r -= w(x)) < 0) return x;
      return required(xs.at(-1), "a value to pick from an empty list");
    },
  };
}

export type Rng = ReturnType<typeof rng>;
