/**
 * The library entry: `import { createGuard } from "bulwark"`.
 *
 *   const guard = createGuard();                       // built-in policy: all layers on, fail-closed
 *   const decision = await guard.check({ text, role: "user" });
 *   if (decision.action === "block") ...
 */
export * from "./guard/index.js";
export * from "./policy/index.js";
export * from "./access/index.js";
export * from "./limits/index.js";
export * from "./monitor/index.js";
export * from "./report/index.js";
export { createGuardModelLayer, type GuardModelLayerOptions } from "./external/guard-model.js";
export { VERSION } from "./version.js";
