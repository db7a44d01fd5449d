/**
 * threats/: threat modeling for AI systems as code. The system-model schema
 * (model-schema.ts) and its loader (load-model.ts), the threat library format
 * and loader (library-schema.ts, library.ts; the rules themselves are data in
 * data/threats/), the facts rules speak about (facts.ts), the rule engine
 * (engine.ts), scoring (scoring.ts), coverage against a guard policy
 * (coverage.ts), evidence from scan results (evidence.ts), the analysis that
 * ties them together (analyse.ts), the report contract (report.ts), renderers
 * (render/) and the baseline diff (diff.ts).
 *
 * May import: policy/ (to read a resolved policy), util/, and redteam/ for the
 * scan results contract. Nothing here does I/O except the *File loaders.
 */
export * from "./model-schema.js";
export * from "./load-model.js";
export * from "./problems.js";
export * from "./library-schema.js";
export * from "./library.js";
export * from "./facts.js";
export * from "./engine.js";
export * from "./scoring.js";
export * from "./report.js";
export * from "./coverage.js";
export * from "./evidence.js";
export * from "./diff.js";
export * from "./analyse.js";
export * from "./render/index.js";
export * from "./json-schema.js";
