/**
 * Prove every built-in heuristics pattern free of catastrophic backtracking
 * with recheck and record the verdicts in data/rules/heuristics/recheck-verdicts.json,
 * keyed by a hash of the pattern, its flags and the recheck version.
 *
 *   node --import tsx scripts/recheck-heuristics.ts [--missing]
 *
 * With --missing, verdicts already recorded for unchanged patterns are kept
 * and only new or edited patterns are checked.
 *
 * recheck needs from a tenth of a second to several seconds per pattern of
 * this size, too slow to redo all ~140 on every test run on a shared machine.
 * The test suite checks any pattern missing from this file live and re-checks
 * a random sample of recorded ones every run, so the file cannot go stale
 * unnoticed. Exits non-zero if any pattern is not proven safe.
 */
import { writeFileSync } from "node:fs";
import { availableParallelism } from "node:os";
import { BUILTIN_RULES } from "../src/detectors/heuristics/index.js";
import { RECHECK_FLAGS, VERDICTS_FILE, mapLimited, patternKey, provePattern, readVerdicts, recheckVersion, type VerdictsFile } from "../test/detectors/heuristics/recheck-verdicts.js";

const started = performance.now();
const recorded = process.argv.includes("--missing") ? readVerdicts() : {};
const results = await mapLimited(BUILTIN_RULES, Math.max(1, availableParallelism()), async (rule) => {
  const known = recorded[patternKey(rule.source)];
  if (known?.status === "safe") return { rule, verdict: { status: "safe" as const, checker: known.checker, detail: "" } };
  const t = performance.now();
  const verdict = await provePattern(rule.source);
  console.log(`${verdict.status.padEnd(11)} ${rule.id} (${verdict.checker}, ${Math.round(performance.now() - t)} ms)${verdict.detail ? ": " + verdict.detail : ""}`);
  return { rule, verdict };
});
const verdicts: VerdictsFile["verdicts"] = {};
for (const { rule, verdict } of results) if (verdict.status === "safe") verdicts[patternKey(rule.source)] = { id: rule.id, status: "safe", checker: verdict.checker };
const file: VerdictsFile = { recheck: recheckVersion(), flags: RECHECK_FLAGS, verdicts };
writeFileSync(VERDICTS_FILE, JSON.stringify(file, null, 1) + "\n");
const safe = Object.keys(verdicts).length;
console.log(`${safe}/${BUILTIN_RULES.length} patterns proven safe in ${Math.round((performance.now() - started) / 1000)} s; wrote ${VERDICTS_FILE.pathname}`);
process.exit(safe === BUILTIN_RULES.length ? 0 : 1);
