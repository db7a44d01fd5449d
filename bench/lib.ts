/** Shared benchmark helpers: timing loops, percentiles, machine description, result tables. */
import { cpus, totalmem } from "node:os";
import { mulberry32 } from "../src/util/random.js";

export interface Timing {
  readonly p50: number;
  readonly p99: number;
  readonly mean: number;
  readonly max: number;
  readonly runs: number;
}

/** Runs `fn` repeatedly (after a warm-up) and returns per-call timings in microseconds. */
export async function timeCalls(fn: () => unknown, options: { runs: number; warmup?: number }): Promise<Timing> {
  for (let i = 0; i < (options.warmup ?? Math.min(200, options.runs)); i++) await fn();
  const samples = new Float64Array(options.runs);
  for (let i = 0; i < options.runs; i++) {
    const start = performance.now();
    await fn();
    samples[i] = (performance.now() - start) * 1000;
  }
  return summarize(samples);
}

export function summarize(samples: Float64Array | number[]): Timing {
  const sorted = Float64Array.from(samples).sort();
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
  let sum = 0;
  for (const s of sorted) sum += s;
  return { p50: at(0.5), p99: at(0.99), mean: sum / sorted.length, max: sorted[sorted.length - 1]!, runs: sorted.length };
}

/**
 * The machine's own jitter, for reading a run's p99: a fixed CPU-only loop (no allocation, no memory beyond
 * registers) of about `targetUs`, timed like the checks, `runs` times. On a quiet dedicated core its p99 is
 * within a few per cent of its p50; on a shared VM the gap is the share of p99 that no code change can remove.
 */
export async function cpuReference(targetUs = 150, runs = 5_000): Promise<Timing> {
  let sink = 0;
  const spin = (iterations: number): void => {
    let x = sink | 1;
    for (let i = 0; i < iterations; i++) x = (Math.imul(x, 1_103_515_245) + 12_345) | 0;
    sink = x;
  };
  // Calibrate the iteration count to about targetUs on this machine, after a warm-up that lets V8 optimise the loop.
  spin(5_000_000);
  let fastestUs = Infinity;
  for (let round = 0; round < 5; round++) {
    const started = performance.now();
    spin(1_000_000);
    fastestUs = Math.min(fastestUs, (performance.now() - started) * 1000);
  }
  const iterations = Math.max(1, Math.round((1_000_000 * targetUs) / fastestUs));
  return timeCalls(() => spin(iterations), { runs });
}

export function machine(): string {
  const cpu = cpus()[0]?.model.trim() ?? "unknown CPU";
  return `${cpu}, ${cpus().length} cores, ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}, ${new Date().toISOString().slice(0, 10)}`;
}

export function table(head: string[], rows: Array<Array<string | number>>): string {
  const cells = [head, ...rows.map((r) => r.map(String))];
  const widths = head.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? "").length)));
  const line = (r: string[]) => "| " + r.map((c, i) => c.padEnd(widths[i]!)).join(" | ") + " |";
  return [line(head), "|" + widths.map((w) => "-".repeat(w + 2)).join("|") + "|", ...cells.slice(1).map(line)].join("\n");
}

export const fmt = (us: number): string => (us >= 1000 ? `${(us / 1000).toFixed(2)} ms` : `${us.toFixed(1)} µs`);

/** Deterministic pseudo-random numbers (mulberry32), so benchmark inputs are the same on every run. */
export const seededRandom: (seed: number) => () => number = mulberry32;

const WORDS = (
  "the of and to in is that for it as with was on be by this are from at or an have not which but all can has more one their will about " +
  "report quarter revenue customer account order shipping invoice please help question process request data model support team " +
  "meeting schedule project update review budget network server client response value function return error message weather " +
  "garden recipe travel train ticket hotel museum city river mountain book chapter table summary result answer code python").split(" ");

/** Ordinary prose-like text of about `bytes` bytes, deterministic for a seed; free of the words attacks are made of. */
export function proseOfSize(bytes: number, seed = 1): string {
  const random = seededRandom(seed);
  const parts: string[] = [];
  let size = 0;
  let sentence = 0;
  while (size < bytes) {
    let word = WORDS[Math.floor(random() * WORDS.length)]!;
    if (sentence === 0) word = word[0]!.toUpperCase() + word.slice(1);
    sentence++;
    if (sentence > 8 + random() * 10) {
      word += ".";
      sentence = 0;
    } else if (random() < 0.08) word += ",";
    parts.push(word);
    size += word.length + 1;
  }
  return parts.join(" ").slice(0, bytes);
}
