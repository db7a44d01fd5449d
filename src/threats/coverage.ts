/**
 * Coverage: is each mitigating control in place? Policy controls are checked
 * against a resolved guard policy (defaults filled in) by the paths and
 * expectations in data/threats/controls.yaml; a path the policy does not have
 * means the control is missing. Organisational controls are in place when the
 * model declares them.
 */
import type { Policy } from "../policy/schema.js";
import type { Control, PolicyCheck } from "./library-schema.js";
import type { MitigationStatus } from "./report.js";

export function controlStatus(control: Control, policy: Policy | null, declared: ReadonlySet<string>): MitigationStatus {
  const base = { id: control.id, name: control.name, kind: control.kind };
  if (control.kind === "organisational") {
    return declared.has(control.id)
      ? { ...base, status: "declared", reason: "declared in the model's controls.organisational" }
      : { ...base, status: "not_declared", reason: "not declared in the model's controls.organisational" };
  }
  const checks = control.enforcedWhen ?? [];
  if (!policy) return { ...base, status: "unassessed", reason: `no policy given; needs ${checks.map(describeCheck).join(" and ")}` };
  const failures = checks.map((check) => checkPolicy(policy, check)).filter((r): r is string => r !== null);
  return failures.length === 0
    ? { ...base, status: "enforced", reason: checks.map(describeCheck).join(" and ") }
    : { ...base, status: "missing", reason: failures.join("; ") };
}

export function isInPlace(status: MitigationStatus["status"]): boolean {
  return status === "enforced" || status === "declared";
}

function describeCheck(check: PolicyCheck): string {
  if (check.equals !== undefined) return `${check.path} = ${JSON.stringify(check.equals)}`;
  if (check.includes !== undefined) return `${check.path} includes ${JSON.stringify(check.includes)}`;
  if (check.atMost !== undefined) return `${check.path} ≤ ${check.atMost}`;
  return `${check.path} set`;
}

/** Null when the check holds, otherwise what was found instead. */
function checkPolicy(policy: Policy, check: PolicyCheck): string | null {
  let value: unknown = policy;
  for (const key of check.path.split(".")) {
    if (value === null || typeof value !== "object" || !Object.hasOwn(value, key)) return `the policy has no ${check.path} (needs ${describeCheck(check)})`;
    value = (value as Record<string, unknown>)[key];
  }
  const found = JSON.stringify(value) ?? "undefined";
  if (check.equals !== undefined) return value === check.equals ? null : `${check.path} is ${found}, needs ${JSON.stringify(check.equals)}`;
  if (check.includes !== undefined) return Array.isArray(value) && value.includes(check.includes) ? null : `${check.path} is ${found}, needs to include ${JSON.stringify(check.includes)}`;
  if (check.atMost !== undefined) return typeof value === "number" && value <= check.atMost ? null : `${check.path} is ${found}, needs ≤ ${check.atMost}`;
  const nonEmpty = Array.isArray(value) ? value.length > 0 : value !== null && typeof value === "object" ? Object.keys(value).length > 0 : value !== undefined && value !== "" && value !== false;
  return nonEmpty ? null : `${check.path} is empty`;
}
