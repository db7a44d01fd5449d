/** The threat model and threat report schemas as JSON Schema (draft 2020-12), generated from zod (`npm run threats:schema`). */
import { z } from "zod";
import { ThreatModelSchema } from "./model-schema.js";
import { ThreatReportSchema } from "./report.js";

export function threatModelJsonSchema(): Record<string, unknown> {
  // "input": what may be written in a file, so fields with defaults are optional.
  const schema = z.toJSONSchema(ThreatModelSchema, { io: "input", target: "draft-2020-12" }) as Record<string, unknown>;
  return { title: "Bulwark threat model", ...schema };
}

export function threatReportJsonSchema(): Record<string, unknown> {
  const schema = z.toJSONSchema(ThreatReportSchema, { io: "output", target: "draft-2020-12" }) as Record<string, unknown>;
  return { title: "Bulwark threat report (bulwark threats --format json)", ...schema };
}
