import { describe, expect, it } from "vitest";
import { createGuard, type Layer, type LayerInput, type LayerOutput } from "../../src/index.js";

function layer(name: string, check: (input: LayerInput) => LayerOutput | Promise<LayerOutput>, extra: Partial<Layer> = {}): Layer {
  return { name, version: "1", stage: "input", phase: "detect", budgetMs: 50, check, ...extra };
}

const guardWith = (layers: Layer[], policy: object = { version: 1 }) => createGuard({ policy: { version: 1, ...policy }, layers, replaceBuiltinLayers: true });

describe("guard engine", () => {
  it("allows when no layer finds anything and records the policy hash", async () => {
    const guard = guardWith([layer("quiet", () => ({ findings: [] }))]);
    const decision = await guard.check("hello");
    expect(decision.action).toBe("allow");
    expect(decision.score).toBe(0);
    expect(decision.policyHash).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(decision.policyHash).toBe(guard.policyHash);
    expect(decision.layers).toEqual([expect.objectContaining({ name: "quiet", status: "ok", findings: 0 })]);
  });

  it("maps scores to actions through default, category and role thresholds", async () => {
    const scoring = (score: number) => layer("score", () => ({ findings: [{ detector: "score", category: "prompt_injection", score }] }));
    expect((await guardWith([scoring(0.3)]).check("x")).action).toBe("allow");
    expect((await guardWith([scoring(0.6)]).check("x")).action).toBe("flag");
    expect((await guardWith([scoring(0.9)]).check("x")).action).toBe("block");
    // Untrusted document content blocks injection at a lower score by default.
    expect((await guardWith([scoring(0.65)]).check({ text: "x", role: "user" })).action).toBe("flag");
    expect((await guardWith([scoring(0.65)]).check({ text: "x", role: "document" })).action).toBe("block");
    // A category threshold in the policy overrides the default.
    const strict = guardWith([scoring(0.35)], { actions: { categories: { prompt_injection: { flag: 0.3, block: 0.35 } } } });
    expect((await strict.check("x")).action).toBe("block");
  });

  it("takes the most severe action and lists categories with OWASP ids", async () => {
    const guard = guardWith([
      layer("a", () => ({ findings: [{ detector: "a", category: "repetition", score: 0.6 }] })),
      layer("b", () => ({ findings: [{ detector: "b", category: "system_prompt_extraction", score: 0.95 }] })),
    ]);
    const decision = await guard.check("x");
    expect(decision.action).toBe("block");
    expect(decision.categories).toEqual(["system_prompt_extraction", "repetition"]);
    expect(decision.owasp).toEqual(["LLM01", "LLM07", "LLM10"]);
    expect(decision.score).toBe(0.95);
  });

  it("gives sortable unique decision ids", async () => {
    const guard = guardWith([]);
    const ids = [];
    for (let i = 0; i < 50; i++) ids.push((await guard.check("x")).id);
    expect(new Set(ids).size).toBe(50);
    expect([...ids].sort()).toEqual(ids);
  });

  describe("containment", () => {
    const failures: Array<[string, Layer]> = [
      ["throws", layer("boom", () => { throw new Error("kaput"); })],
      ["rejects", layer("reject", async () => { throw new Error("async kaput"); })],
      ["returns garbage", layer("garbage", () => 42 as unknown as LayerOutput)],
      ["returns an unknown category", layer("unknown", () => ({ findings: [{ detector: "x", category: "nonsense" as "jailbreak", score: 0.1 }] }))],
      ["returns a score out of range", layer("range", () => ({ findings: [{ detector: "x", category: "jailbreak", score: Number.NaN }] }))],
      ["returns a span outside the text", layer("span", () => ({ findings: [{ detector: "x", category: "jailbreak", score: 0.1, span: { start: 0, end: 999 } }] }))],
      ["never answers", layer("hang", () => new Promise<LayerOutput>(() => {}), { budgetMs: 20 })],
      ["overruns its budget synchronously", layer("slow", () => { const end = performance.now() + 15; while (performance.now() < end); return { findings: [] }; }, { budgetMs: 5 })],
    ];
    // The first run of a layer includes V8's one-time compilation and is not held to the synchronous budget.
    const warmGuard = async (failing: Layer) => {
      const guard = guardWith([failing]);
      await guard.check("warm-up");
      return guard;
    };

    for (const [what, failing] of failures) {
      it(`blocks, marked degraded, when a layer ${what} (fail-closed default)`, async () => {
        const decision = await (await warmGuard(failing)).check("hello");
        expect(decision.action).toBe("block");
        expect(decision.degraded).toBe(true);
        expect(decision.categories).toContain("guard_failure");
        expect(decision.layers[0]).toMatchObject({ name: failing.name, failureMode: "closed" });
        expect(decision.layers[0]!.status).not.toBe("ok");
      });
    }

    it("aborts an asynchronous layer's signal when its budget runs out, so its work (a request to a remote model) stops", async () => {
      const aborted: unknown[] = [];
      const waiting = layer(
        "remote",
        (input) =>
          new Promise<LayerOutput>((resolve) => {
            // Reads the signal only after the check began, as a layer awaiting something first would.
            setTimeout(() => input.signal.addEventListener("abort", () => aborted.push(input.signal.reason)), 1);
            setTimeout(() => resolve({ findings: [] }), 5_000).unref();
          }),
        { budgetMs: 30 },
      );
      const decision = await guardWith([waiting]).check("hello");
      expect(decision.layers[0]).toMatchObject({ name: "remote", status: "timeout" });
      await new Promise((resolve) => setTimeout(resolve, 5));
      expect(aborted).toHaveLength(1);
      expect(String(aborted[0])).toContain("time budget exhausted");
    });

    it("lets the request through, still marked degraded, when the policy fails open", async () => {
      const decision = await guardWith([failures[0]![1]], { failureMode: "open" }).check("hello");
      expect(decision.action).toBe("allow");
      expect(decision.degraded).toBe(true);
      expect(decision.layers[0]).toMatchObject({ status: "error", failureMode: "open", error: "Error: kaput" });
    });

    it("honours a per-layer failure mode over the policy's", async () => {
      const openLayer = layer("optional", () => { throw new Error("down"); }, { failureMode: "open" });
      expect((await guardWith([openLayer]).check("x")).action).toBe("allow");
    });

    it("keeps the findings of healthy layers when another fails", async () => {
      const decision = await guardWith([failures[0]![1], layer("ok", () => ({ findings: [{ detector: "ok", category: "jailbreak", score: 0.6 }] }))], { failureMode: "open" }).check("x");
      expect(decision.findings.map((f) => f.category)).toEqual(["jailbreak"]);
      expect(decision.action).toBe("flag");
    });
  });

  it("runs transform layers first and gives later layers their text and views", async () => {
    const seen: string[] = [];
    const guard = guardWith([
      layer("detector", (input) => { seen.push(`${input.text}|${input.views.folded}`); return { findings: [] }; }),
      layer("upper", (input) => ({ findings: [], text: input.text.trim(), views: { folded: input.text.trim().toUpperCase(), foldedToText: null, hidden: [] } }), { phase: "transform" }),
    ]);
    const decision = await guard.check("  Hi  ");
    expect(seen).toEqual(["Hi|HI"]);
    expect(decision.text).toBe("Hi");
  });

  it("skips verify layers once a block is certain, unless earlyExit is off", async () => {
    let verified = 0;
    const layers = [
      layer("blocker", () => ({ findings: [{ detector: "blocker", category: "prompt_injection", score: 1 }] })),
      layer("expensive", () => { verified++; return { findings: [] }; }, { phase: "verify" }),
    ];
    const decision = await guardWith(layers).check("x");
    expect(decision.layers.find((l) => l.name === "expensive")?.status).toBe("skipped");
    expect(verified).toBe(0);
    await guardWith(layers, { earlyExit: false }).check("x");
    expect(verified).toBe(1);
  });

  it("rewrites redacted spans and records them; redact without a span blocks", async () => {
    const policy = { actions: { categories: { repetition: { redact: 0.5 } } } };
    const withSpan = layer("r", (input) => {
      const start = input.text.indexOf("aaaa");
      return { findings: [{ detector: "r", category: "repetition", score: 0.7, span: { start, end: start + 4 }, replacement: "<RUN>" }] };
    });
    const decision = await guardWith([withSpan], policy).check("x aaaa y");
    expect(decision.action).toBe("redact");
    expect(decision.text).toBe("x <RUN> y");
    expect(decision.redactions).toEqual([{ category: "repetition", detector: "r", span: { start: 2, end: 6 }, replacement: "<RUN>" }]);
    const withoutSpan = layer("r", () => ({ findings: [{ detector: "r", category: "repetition", score: 0.7 }] }));
    expect((await guardWith([withoutSpan], policy).check("x aaaa y")).action).toBe("block");
  });

  it("accepts raw bytes and repairs invalid UTF-8 and lone surrogates before layers see them", async () => {
    const seen: Array<{ text: string; invalid: number; lone: number }> = [];
    const guard = guardWith([layer("spy", (input) => { seen.push({ text: input.text, invalid: input.intake.invalidUtf8, lone: input.intake.loneSurrogates }); return { findings: [] }; })]);
    await guard.check({ text: new Uint8Array([0x68, 0x69, 0xff, 0xfe, 0x21]) });
    await guard.check("a\ud800b");
    await guard.check({ text: new TextEncoder().encode("ok \ufffd") });
    expect(seen[0]).toEqual({ text: "hi\ufffd\ufffd!", invalid: 2, lone: 0 });
    expect(seen[1]).toEqual({ text: "a\ufffdb", invalid: 0, lone: 1 });
    expect(seen[2]).toEqual({ text: "ok \ufffd", invalid: 0, lone: 0 });
  });

  it("does not fail a synchronous layer for overrunning on its first (cold) run, only afterwards", async () => {
    let calls = 0;
    const slowOnce = layer("jit", () => { if (calls++ === 0) { const end = performance.now() + 15; while (performance.now() < end); } return { findings: [] }; }, { budgetMs: 5 });
    const guard = guardWith([slowOnce]);
    expect((await guard.check("first")).action).toBe("allow");
    expect((await guard.check("second")).action).toBe("allow");
  });

  it("runs one-time warm-up before the first input large enough to need it, not for small ones", async () => {
    const events: string[] = [];
    const warming = layer("warming", (input) => { events.push(`check ${input.text.length}`); return { findings: [] }; }, {
      warmUp: async () => { events.push("warm-up"); },
    });
    const guard = guardWith([warming], { limits: { maxTokens: 100 } });
    await guard.check("small");
    await guard.check("x".repeat(200));
    await guard.check("y".repeat(300));
    expect(events).toEqual(["check 5", "warm-up", "check 200", "check 300"]);
  });

  it("starts a layer that offloads its work before the synchronous ones and holds it to its budget from when they are done", async () => {
    const order: string[] = [];
    const busy = (ms: number) => { const end = performance.now() + ms; while (performance.now() < end); };
    const sync = layer("sync", () => { order.push("sync"); busy(40); return { findings: [] }; }, { budgetMs: 1_000 });
    // Its answer is ready at once but waits for the main thread, which is busy with "sync" for 40 ms.
    const offloading = layer("offloading", () => { order.push("offloading"); return Promise.resolve({ findings: [{ detector: "offloading", category: "prompt_injection", score: 0.95 }] }); }, { budgetMs: 20, offloads: true });
    const guard = guardWith([sync, offloading]);
    await guard.check("warm");
    order.length = 0;
    const decision = await guard.check("hello");
    expect(order).toEqual(["offloading", "sync"]);
    expect(decision.layers.map((l) => [l.name, l.status])).toEqual([["sync", "ok"], ["offloading", "ok"]]);
    expect(decision.layers[1]!.durationUs).toBeGreaterThanOrEqual(40_000);
    expect(decision.action).toBe("block");
    // An asynchronous layer that does not offload starts in its place and is held to its budget from its start.
    const plain = layer("plain", () => Promise.resolve({ findings: [] }), { budgetMs: 20 });
    const strict = guardWith([plain, layer("sync", () => { busy(40); return { findings: [] }; }, { budgetMs: 1_000 })]);
    await strict.check("warm");
    expect((await strict.check("hello")).layers[0]!.status).toBe("timeout");
  });

  it("times and budgets an offloading layer that answers synchronously (a short input scored in place) by its own work", async () => {
    const busy = (ms: number) => { const end = performance.now() + ms; while (performance.now() < end); };
    const slowSibling = layer("sync", () => { busy(40); return { findings: [] }; }, { budgetMs: 1_000 });
    const inPlace = layer("in-place", () => ({ findings: [] }), { budgetMs: 20, offloads: true });
    const guard = guardWith([slowSibling, inPlace]);
    await guard.check("warm");
    const decision = await guard.check("hello");
    expect(decision.layers.map((l) => [l.name, l.status])).toEqual([["sync", "ok"], ["in-place", "ok"]]);
    expect(decision.layers[0]!.durationUs).toBeGreaterThanOrEqual(40_000);
    expect(decision.layers[1]!.durationUs).toBeLessThan(40_000);
  });

  it("rejects an invalid policy object passed in code", () => {
    expect(() => createGuard({ policy: { version: 1, limits: { maxBytes: -1 } } })).toThrow(/limits\.maxBytes/);
  });
});
