/** The policy schema as JSON Schema (draft 2020-12), for editors and other tools. */
import { z } from "zod";
import { PolicySchema } from "./schema.js";

export function policyJsonSchema(): Record<string, unknown> {
  // "input" describes what may be written in a file: fields with defaults are optional.
  const schema = z.toJSONSchema(PolicySchema, { io: "input", target: "draft-2020-12" }) as Record<string, unknown>;
  return { title: "Bulwark guard policy", ...schema };
}
