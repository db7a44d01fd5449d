import { Histogram, Registry } from "prom-client";
import { describe, expect, it } from "vitest";
import { FastHistogram } from "../../src/gateway/histogram.js";

const BUCKETS = [0.001, 0.01, 0.1, 1];

describe("the gateway's allocation-free histogram", () => {
  it("exposes exactly what a prom-client histogram exposes for the same observations", async () => {
    const reference = new Registry();
    const fast = new Registry();
    const theirs = new Histogram({ name: "t_seconds", help: "Time.", labelNames: ["stage", "layer"], buckets: BUCKETS, registers: [reference] });
    const ours = new FastHistogram("t_seconds", "Time.", ["stage", "layer"], BUCKETS, fast);
    const observations: Array<[string, string, number]> = [
      ["input", "normalize", 0.0005],
      ["input", "normalize", 0.001], // on a bound: counted in that bucket (le is inclusive)
      ["input", "classifier", 0.05],
      ["output", "secrets", 2.5], // above every bound: only in +Inf
      ["input", "classifier", 0.2],
      ["input", "normalize", Number.NaN], // ignored, as prom-client refuses it
    ];
    for (const [stage, layer, value] of observations) {
      if (Number.isFinite(value)) theirs.labels({ stage, layer }).observe(value);
      ours.labels(stage, layer).observe(value);
    }
    expect(await fast.metrics()).toBe(await reference.metrics());
  });

  it("keeps one series per label combination and can be reset", async () => {
    const registry = new Registry();
    const histogram = new FastHistogram("h_seconds", "H.", ["stage"], BUCKETS, registry);
    expect(histogram.labels("input")).toBe(histogram.labels("input"));
    histogram.labels("input").observe(0.5);
    expect(await registry.metrics()).toContain('h_seconds_count{stage="input"} 1');
    histogram.reset();
    expect(await registry.metrics()).not.toContain("h_seconds_count");
  });
});
