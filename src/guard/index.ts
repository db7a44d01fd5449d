/**
 * guard/: the engine. The pipeline and decisions (engine.ts), containment of
 * failing layers (contain.ts), intake of raw input (intake.ts), actions from
 * findings (actions.ts), redaction (redact.ts), and the contracts every layer
 * implements (types.ts). May import policy/ and detectors/; never the CLI, the
 * gateway or the store.
 */
export { createGuard, type Guard, type GuardOptions } from "./engine.js";
export * from "./types.js";
