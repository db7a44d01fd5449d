/**
 * guard/: the engine. The pipeline and decisions (engine.ts), containment of
 * failing layers (contain.ts), intake of raw input (intake.ts), actions from
 * findings (actions.ts), redaction (redact.ts), per-conversation state such as
 * pseudonyms and canaries (session.ts), the streaming output checker with its
 * holdback window (stream.ts), the input a layer is given (layer-input.ts,
 * also for calling a layer outside a guard), and the contracts every layer implements
 * (types.ts). May import policy/ and detectors/; never the CLI, the gateway or
 * the store.
 */
export { createGuard, type Guard, type GuardOptions } from "./engine.js";
export { layerInputFor, type LayerInputOptions } from "./layer-input.js";
export { GuardSession, type GuardSessionOptions } from "./session.js";
export { StreamChecker, StreamBlockedError, guardStream, guardTextStream, type StreamCheckOptions, type StreamEvent, type StreamGuard } from "./stream.js";
export * from "./types.js";
