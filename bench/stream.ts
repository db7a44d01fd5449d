/**
 * `npm run bench:stream`: the streaming output checker with the data-protection
 * output layers (bench/data-protection-fixtures.ts), on 16 KB of ordinary and of
 * data-rich output streamed in 4-character chunks (about one token) and in
 * 64-character chunks.
 *   - added cost per chunk: mean time of StreamChecker.push per chunk (target <= 20 µs), with p50/p99
 *     (the p99 chunks are the ones that trigger a check);
 *   - time to first text: characters received before the first release (target <= holdbackChars),
 *     and the time that first check took.
 * Pass --json FILE to also write the figures as JSON.
 */
import { writeFileSync } from "node:fs";
import { createGuard } from "../src/guard/engine.js";
import { StreamChecker } from "../src/guard/stream.js";
import { fmt, machine, summarize, table } from "./lib.js";
import { outputLayers, outputText } from "./data-protection-fixtures.js";

const { layers, session, policy } = outputLayers();
const guard = createGuard({ policy, layers, replaceBuiltinLayers: true });
const holdbackChars = policy.policy.streaming.holdbackChars;
const rounds = 20;

const rows: Array<Array<string | number>> = [];
const results: Record<string, unknown> = {};
for (const rich of [false, true]) {
  const text = outputText(16 * 1024, rich, 7);
  for (const chunkSize of [4, 64]) {
    const chunks: string[] = [];
    for (let i = 0; i < text.length; i += chunkSize) chunks.push(text.slice(i, i + chunkSize));
    const samples: number[] = [];
    const firstText: number[] = [];
    const firstCheck: number[] = [];
    for (let round = 0; round < rounds + 2; round++) {
      const checker = new StreamChecker(guard, { session });
      let received = 0;
      let released = false;
      for (const chunk of chunks) {
        const start = performance.now();
        const events = await checker.push(chunk);
        const us = (performance.now() - start) * 1000;
        received += chunk.length;
        if (round < 2) continue; // warm-up rounds
        samples.push(us);
        if (!released && events.some((event) => event.type === "text")) {
          released = true;
          firstText.push(received);
          firstCheck.push(us);
        }
      }
      await checker.end();
    }
    const timing = summarize(samples);
    const kind = rich ? "data-rich" : "ordinary";
    rows.push([kind, chunkSize, fmt(timing.mean), fmt(timing.p50), fmt(timing.p99), Math.max(...firstText), fmt(summarize(firstCheck).p50)]);
    results[`${kind} ${chunkSize}`] = { perChunk: timing, charsBeforeFirstText: Math.max(...firstText), firstCheck: summarize(firstCheck) };
  }
}

console.log(`Streaming checker, holdback ${holdbackChars} characters, check every ${policy.policy.streaming.checkEveryChars} (${machine()})\n`);
console.log(table(["text", "chunk chars", "mean per chunk", "p50", "p99", "chars before first text", "first check"], rows));
const jsonAt = process.argv.indexOf("--json");
if (jsonAt > 0 && process.argv[jsonAt + 1]) writeFileSync(process.argv[jsonAt + 1]!, JSON.stringify({ machine: machine(), holdbackChars, results }, null, 2));
