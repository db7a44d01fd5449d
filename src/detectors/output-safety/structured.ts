/**
 * Structured output validated against the policy's JSON Schema (ajv). The
 * schema is compiled once when the layer is created; an invalid schema throws
 * there, so a guard with a broken schema never starts.
 */
import { Ajv2020 } from "ajv/dist/2020.js";
import { Ajv } from "ajv";
import type { ErrorObject, ValidateFunction } from "ajv";
import type { Finding, Layer, LayerInput, LayerOutput } from "../../guard/types.js";
import type { Policy, StructuredOutputOptions } from "../../policy/schema.js";

export const STRUCTURED_OUTPUT_VERSION = "1.0.0";

const FENCED = /^\s*```[a-zA-Z0-9_-]{0,20}[ \t]*\r?\n([\s\S]*?)\r?\n[ \t]*```\s*$/;
/** Errors described per finding; the rest are counted. */
const MAX_ERRORS_SHOWN = 3;

export function compileSchema(schema: Record<string, unknown>): ValidateFunction {
  const draft = typeof schema["$schema"] === "string" ? schema["$schema"] : "";
  // Formats are not checked (no format plug-in is loaded); strict mode off so that
  // unknown keywords and formats in third-party schemas are ignored rather than fatal.
  const options = { allErrors: true, strict: false, validateFormats: false } as const;
  const ajv = draft.includes("draft-07") || draft.includes("draft-06") ? new Ajv(options) : new Ajv2020(options);
  return ajv.compile(schema);
}

export function createStructuredOutputLayer(options: StructuredOutputOptions): Layer | null {
  if (!options.schema) return null;
  let validate: ValidateFunction;
  try {
    validate = compileSchema(options.schema);
  } catch (error) {
    throw new Error(`layers.structuredOutput.schema: not a valid JSON Schema (${(error as Error).message})`, { cause: error });
  }
  return {
    name: "structured-output",
    version: STRUCTURED_OUTPUT_VERSION,
    stage: "output",
    phase: "detect",
    budgetMs: options.budgetMs,
    ...(options.failureMode ? { failureMode: options.failureMode } : {}),
    check(input: LayerInput): LayerOutput {
      const body = options.extractFromFence ? (FENCED.exec(input.text)?.[1] ?? input.text) : input.text;
      let value: unknown;
      try {
        value = JSON.parse(body);
      } catch (error) {
        return { findings: [finding("structured-output.not-json", `output is not valid JSON (${(error as Error).message.slice(0, 120)})`)] };
      }
      if (validate(value)) return { findings: [] };
      const errors = validate.errors ?? [];
      const shown = errors.slice(0, MAX_ERRORS_SHOWN).map(describeError).join("; ");
      const more = errors.length > MAX_ERRORS_SHOWN ? ` (+${errors.length - MAX_ERRORS_SHOWN} more)` : "";
      return { findings: [finding("structured-output.schema", `output does not match the schema: ${shown}${more}`)] };
    },
  };
}

export function structuredOutputLayerFromPolicy(policy: Policy): Layer | null {
  return policy.layers.structuredOutput.enabled ? createStructuredOutputLayer(policy.layers.structuredOutput) : null;
}

function finding(ruleId: string, evidence: string): Finding {
  // No span: a malformed structure cannot be repaired by cutting text out, so "redact" becomes "block".
  return { detector: "structured-output", category: "schema_violation", score: 0.9, ruleId, evidence };
}

/** Path and rule only: the offending value might be sensitive. */
function describeError(error: ErrorObject): string {
  return `${error.instancePath || "/"} ${error.message ?? error.keyword}`;
}
