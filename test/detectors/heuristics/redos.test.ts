/**
 * Every built-in pattern runs on attacker-controlled text, so each one must be
 * proven free of catastrophic backtracking by recheck (the checker the policy
 * loader applies to user patterns).
 *
 * recheck needs up to seconds per pattern of this size, so verdicts are
 * recorded by scripts/recheck-heuristics.ts, keyed by a hash of pattern, flags
 * and recheck version. Here: any pattern without a recorded verdict (new or
 * edited) is checked live, and a random sample of recorded ones is re-checked
 * live on every run, so a stale or hand-edited verdict file gets caught.
 * BULWARK_REDOS_FULL=1 re-checks everything.
 */
import { describe, expect, it } from "vitest";
import { availableParallelism } from "node:os";
import { BUILTIN_RULES, type CompiledRule } from "../../../src/detectors/heuristics/index.js";
import { mapLimited, patternKey, provePattern, readVerdicts } from "./recheck-verdicts.js";

const SAMPLE = 4;

async function verdict(rule: CompiledRule): Promise<{ id: string; status: string; detail: string }> {
  const { status, detail } = await provePattern(rule.source);
  return { id: rule.id, status, detail };
}

const parallel = Math.max(1, availableParallelism());

describe("heuristics rules: ReDoS", () => {
  const recorded = readVerdicts();
  const full = process.env.BULWARK_REDOS_FULL === "1";
  const unrecorded = BUILTIN_RULES.filter((rule) => full || recorded[patternKey(rule.source)]?.status !== "safe");
  const recordedRules = BUILTIN_RULES.filter((rule) => !unrecorded.includes(rule));
  const sample = [...recordedRules].sort(() => Math.random() - 0.5).slice(0, SAMPLE);

  it(`proves new or changed patterns safe (${unrecorded.length} to check live)`, async () => {
    const verdicts = await mapLimited(unrecorded, parallel, verdict);
    expect(verdicts.filter((v) => v.status !== "safe")).toEqual([]);
  }, 600_000);

  it(`re-checks a random sample of recorded verdicts (${sample.map((rule) => rule.id).join(", ")})`, async () => {
    const verdicts = await mapLimited(sample, parallel, verdict);
    expect(verdicts.filter((v) => v.status !== "safe")).toEqual([]);
  }, 120_000);
});
