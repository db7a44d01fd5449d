/**
 * Classifier load time and per-call latency on 4 KB inputs (one core), the
 * figures the issue sets limits for: load <= 200 ms, 4 KB <= 0.3 ms at p99.
 *
 *   node --import tsx bench/classifier.ts
 */
import { readFileSync } from "node:fs";
import { scanText } from "../src/detectors/normalize/index.js";
import { detect } from "../src/model/detect.js";
import { loadClassifier, shippedModelDir, WEIGHTS_FILE } from "../src/model/weights.js";
import { machine, summarize, table } from "./lib.js";
import { join } from "node:path";

const loads: number[] = [];
for (let i = 0; i < 5; i++) {
  const started = performance.now();
  loadClassifier(shippedModelDir());
  loads.push(performance.now() - started);
}
const model = loadClassifier(shippedModelDir());
const size = readFileSync(join(shippedModelDir(), WEIGHTS_FILE)).length;

const datasets = new URL("../../shared/datasets/benign/", import.meta.url);
const read = (name: string): string[] => readFileSync(new URL(`${name}/data.jsonl`, datasets), "utf8").split("\n").filter(Boolean).slice(0, 3000).map((l) => (JSON.parse(l) as { text: string }).text);
const sources = [...read("python-peps"), ...read("p3-permissive-prompts")];
const inputs: Array<{ folded: string; text: string }> = [];
for (let i = 0; inputs.length < 400 && i < sources.length; i++) {
  let text = sources[i]!;
  while (text.length < 4096) text += "\n" + sources[(i * 7 + text.length) % sources.length]!;
  text = text.slice(0, 4096);
  inputs.push({ text, folded: scanText(text, { stripInvisible: true, stripControl: true }).folded });
}
const short = inputs.map((x) => ({ text: x.text.slice(0, 200), folded: x.folded.slice(0, 200) }));

/** Per-call wall-clock percentiles, plus mean CPU time per call (less disturbed when other processes share the cores). */
function time(items: typeof inputs, domain: "prompt" | "document"): ReturnType<typeof summarize> & { cpuMean: number } {
  for (let r = 0; r < 3; r++) for (const x of items) detect(model, x.folded, x.text, domain);
  const cpuStart = process.cpuUsage();
  for (const x of items) detect(model, x.folded, x.text, domain);
  const cpu = process.cpuUsage(cpuStart);
  const cpuMean = (cpu.user + cpu.system) / items.length;
  const samples: number[] = [];
  for (let r = 0; r < 5; r++) {
    for (const x of items) {
      const started = process.hrtime.bigint();
      detect(model, x.folded, x.text, domain);
      samples.push(Number(process.hrtime.bigint() - started) / 1000);
    }
  }
  return { ...summarize(samples), cpuMean };
}

const rows = [
  ["4 KB, prompt model", time(inputs, "prompt")],
  ["4 KB, document model", time(inputs, "document")],
  ["200 chars, prompt model", time(short, "prompt")],
] as const;
console.log(machine());
console.log(`weights ${(size / 1024).toFixed(0)} KiB; load ${summarize(loads).p50.toFixed(1)} ms (median of 5), first ${loads[0]!.toFixed(1)} ms`);
console.log(table(["input", "p50 µs", "p99 µs", "mean µs", "CPU µs/call", "runs"], rows.map(([name, t]) => [name, t.p50.toFixed(1), t.p99.toFixed(1), t.mean.toFixed(1), t.cpuMean.toFixed(1), t.runs])));
