/**
 * policy/: what a policy may say (schema.ts, the single source of truth), the
 * finding categories and their OWASP/ATLAS mapping (categories.ts), loading,
 * validation and hashing (load.ts), the ReDoS check for user patterns
 * (pattern-safety.ts) and the JSON Schema export (json-schema.ts). Imports
 * nothing from the rest of Bulwark.
 */
export * from "./categories.js";
export * from "./schema.js";
export * from "./abuse.js";
export * from "./load.js";
export { policyJsonSchema } from "./json-schema.js";
export * from "./monitor.js";
export { AccessConfig, TOOL_EFFECTS, type AccessOptions, type ArgumentRuleOptions, type ToolEffect, type ToolSpecOptions } from "./access.js";
