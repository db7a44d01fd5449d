/**
 * redteam/: the offline scanner (`bulwark scan`, `bulwark demo`). The attack
 * catalogue is data (data/attacks/); here are the engine that reads it
 * (catalogue.ts), seeded mutators and strategies, targets (in-process
 * function, the demo application, OpenAI-compatible and generic HTTP
 * endpoints, record/replay, the in-process guard wrapper), mock tools for
 * agents (environment.ts), deterministic and LLM judges, the runner, reports,
 * baseline comparison and the Redis-backed worker queue.
 *
 * May import: policy/, guard/ (the guard wrapper target), util/, version; gateway/
 * and store/ only lazily, in targets/demo.ts (the demo targets).
 * Never imported by the guard or detectors.
 */
export * from "./results.js";
export { loadCatalogue, DEFAULT_CATALOGUE, CatalogueError, type AttackCase, type Catalogue } from "./catalogue.js";
export { MUTATORS, MUTATOR_NAMES, applyChain, type Mutator } from "./mutators.js";
export { planAttempts, STRATEGIES, type Attempt, type PlanOptions, type StrategyName } from "./strategies.js";
export { runScan, type ScanOptions, type ScanRun } from "./runner.js";
export { createFunctionTarget, createDemoTarget, type TargetFunction } from "./targets/function.js";
export { createOpenAiTarget, createHttpTarget } from "./targets/http.js";
export { createGuardedTarget } from "./targets/guarded.js";
export { createRecordingTarget, createReplayTarget } from "./targets/replay.js";
export type { Target, TargetReply, TargetRequest, ChatMessage, ToolCall, ToolSpec } from "./targets/types.js";
export { wilson, rateIncreasePValue } from "./stats.js";
