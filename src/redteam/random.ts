/** Seeded randomness: every choice a scan makes comes from the run's seed, so a rerun makes the same cases. */
import { createHash } from "node:crypto";
import { mulberry32 as uniform } from "../util/random.js";

export interface Rng {
  /** Uniform in [0, 1). */
  next(): number;
  /** Integer in [min, max]. */
  int(min: number, max: number): number;
  pick<T>(items: readonly T[]): T;
  chance(probability: number): boolean;
}

/** An independent stream for (seed, ...labels): the same labels always give the same stream. */
export function rngFor(seed: number, ...labels: string[]): Rng {
  const digest = createHash("sha256").update(`${seed}\u0000${labels.join("\u0000")}`).digest();
  return mulberry32(digest.readUInt32LE(0));
}

export function mulberry32(seed: number): Rng {
  const next = uniform(seed);
  return {
    next,
    int: (min, max) => min + Math.floor(next() * (max - min + 1)),
    pick: <T>(items: readonly T[]): T => {
      if (items.length === 0) throw new Error("pick from an empty list");
      return items[Math.floor(next() * items.length)]!;
    },
    chance: (probability) => next() < probability,
  };
}

/** A 10-digit code for a case to ask the target to say: digits survive leetspeak, homoglyphs and rot13 unchanged. */
export function markerFor(seed: number, attemptId: string): string {
  const digest = createHash("sha256").update(`marker\u0000${seed}\u0000${attemptId}`).digest();
  const value = (digest.readUInt32LE(0) * 4 + (digest[4]! & 3)) % 9_000_000_000;
  return String(1_000_000_000 + value);
}
