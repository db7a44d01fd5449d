/**
 * From findings to actions. Each finding gets the action its score reaches under
 * the thresholds for its role and category; the decision takes the most severe.
 * The order of severity is allow < flag < redact < block.
 */
import type { Category } from "../policy/categories.js";
import type { Action, Policy, Role, ThresholdSet } from "../policy/schema.js";

const SEVERITY: Record<Action, number> = { allow: 0, flag: 1, redact: 2, block: 3 };

export function moreSevere(a: Action, b: Action): Action {
  return SEVERITY[a] >= SEVERITY[b] ? a : b;
}

/** Role-specific thresholds override category thresholds, which override the default, field by field. */
export function thresholdsFor(policy: Policy, role: Role, category: Category): ThresholdSet {
  const { actions } = policy;
  return { ...actions.default, ...actions.categories[category], ...actions.roles[role]?.[category] };
}

export function actionForScore(thresholds: ThresholdSet, score: number): Action {
  if (thresholds.block !== undefined && score >= thresholds.block) return "block";
  if (thresholds.redact !== undefined && score >= thresholds.redact) return "redact";
  if (thresholds.flag !== undefined && score >= thresholds.flag) return "flag";
  return "allow";
}
