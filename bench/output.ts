/**
 * `npm run bench:output`: the data-protection output layers (secrets, pii,
 * canary, prompt-leak, exfiltration, output-safety with every sink), each on
 * its own and all together, on ordinary and on data-rich output, at 1, 4, 16
 * and 64 KB (target: all output layers together p99 <= 0.5 ms at 4 KB, linear
 * in size). Pass --json FILE to also write the figures as JSON, --quick for 4 KB only.
 */
import { writeFileSync } from "node:fs";
import { fmt, machine, table, timeCalls } from "./lib.js";
import { layerInput, outputLayers, outputText } from "./data-protection-fixtures.js";

const { layers, session } = outputLayers();
const sizes: Array<[string, number, number]> = [
  ["1 KB", 1024, 4000],
  ["4 KB", 4096, 3000],
  ["16 KB", 16384, 800],
  ["64 KB", 65536, 200],
];

// --quick: 4 KB only.
if (process.argv.includes("--quick")) sizes.splice(0, sizes.length, ["4 KB", 4096, 3000]);

const rows: Array<Array<string | number>> = [];
const results: Record<string, unknown> = {};
for (const [label, size, runs] of sizes) {
  for (const rich of [false, true]) {
    const input = layerInput(outputText(size, rich, size), session);
    const kind = rich ? "data-rich" : "ordinary";
    for (const layer of layers) {
      const timing = await timeCalls(() => layer.check(input), { runs });
      rows.push([label, kind, layer.name, fmt(timing.p50), fmt(timing.p99)]);
      results[`${label} ${kind} ${layer.name}`] = timing;
    }
    const all = await timeCalls(() => {
      for (const layer of layers) layer.check(input);
    }, { runs });
    rows.push([label, kind, "ALL output layers", fmt(all.p50), fmt(all.p99)]);
    results[`${label} ${kind} all`] = all;
  }
}

console.log(`Output layers, one core (${machine()})\n`);
console.log(table(["size", "text", "layer", "p50", "p99"], rows));
const jsonAt = process.argv.indexOf("--json");
if (jsonAt > 0 && process.argv[jsonAt + 1]) writeFileSync(process.argv[jsonAt + 1]!, JSON.stringify({ machine: machine(), results }, null, 2));
