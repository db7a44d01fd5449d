/**
 * The parts of SARIF 2.1.0 (OASIS Standard, sarif-v2.1.0-os) that Bulwark
 * writes, as a zod schema written from the specification's normative text:
 * required properties, enumerations and value constraints of sarifLog (§3.13),
 * run (§3.14), toolComponent (§3.19), reportingDescriptor (§3.49), result
 * (§3.27), location (§3.28), physicalLocation (§3.29), artifactLocation
 * (§3.4), region (§3.30), message (§3.11) and suppression (§3.35). Objects are
 * open (SARIF allows property bags and more properties than are listed here),
 * so this checks what a consumer relies on, not the whole standard.
 */
import { z } from "zod";

const message = z.looseObject({ text: z.string().optional(), markdown: z.string().optional(), id: z.string().optional() }).refine((m) => m.text !== undefined || m.id !== undefined, "a message needs text or id (§3.11.3)");
const multiformatMessage = z.looseObject({ text: z.string(), markdown: z.string().optional() });
const propertyBag = z.looseObject({ tags: z.array(z.string()).optional() });

const artifactLocation = z.looseObject({ uri: z.string().min(1).optional(), uriBaseId: z.string().optional(), index: z.number().int().min(-1).optional() });
const region = z
  .looseObject({
    startLine: z.number().int().min(1).optional(),
    startColumn: z.number().int().min(1).optional(),
    endLine: z.number().int().min(1).optional(),
    endColumn: z.number().int().min(1).optional(),
    charOffset: z.number().int().min(-1).optional(),
  })
  .refine((r) => r.startLine !== undefined || r.charOffset !== undefined, "a region needs startLine or charOffset (§3.30.2)");
const physicalLocation = z.looseObject({ artifactLocation: artifactLocation.optional(), region: region.optional() });
const logicalLocation = z.looseObject({ name: z.string().optional(), fullyQualifiedName: z.string().optional(), kind: z.string().optional() });
const location = z.looseObject({ physicalLocation: physicalLocation.optional(), logicalLocations: z.array(logicalLocation).optional(), message: message.optional() });

const reportingDescriptor = z.looseObject({
  id: z.string().min(1),
  name: z.string().optional(),
  shortDescription: multiformatMessage.optional(),
  fullDescription: multiformatMessage.optional(),
  help: multiformatMessage.optional(),
  helpUri: z.string().optional(),
  defaultConfiguration: z.looseObject({ level: z.enum(["none", "note", "warning", "error"]).optional(), enabled: z.boolean().optional() }).optional(),
  properties: propertyBag.optional(),
});

const suppression = z.looseObject({
  kind: z.enum(["inSource", "external"]),
  status: z.enum(["accepted", "underReview", "rejected"]).optional(),
  justification: z.string().optional(),
});

const result = z.looseObject({
  ruleId: z.string().optional(),
  ruleIndex: z.number().int().min(-1).optional(),
  kind: z.enum(["notApplicable", "pass", "fail", "review", "open", "informational"]).optional(),
  level: z.enum(["none", "note", "warning", "error"]).optional(),
  message,
  locations: z.array(location).optional(),
  partialFingerprints: z.record(z.string(), z.string()).optional(),
  fingerprints: z.record(z.string(), z.string()).optional(),
  baselineState: z.enum(["new", "unchanged", "updated", "absent"]).optional(),
  suppressions: z.array(suppression).optional(),
  properties: propertyBag.optional(),
});

const toolComponent = z.looseObject({
  name: z.string().min(1),
  version: z.string().optional(),
  semanticVersion: z.string().optional(),
  informationUri: z.string().optional(),
  rules: z.array(reportingDescriptor).optional(),
});

const run = z.looseObject({
  tool: z.looseObject({ driver: toolComponent, extensions: z.array(toolComponent).optional() }),
  results: z.array(result).optional(),
  artifacts: z.array(z.looseObject({ location: artifactLocation.optional() })).optional(),
  columnKind: z.enum(["utf16CodeUnits", "unicodeCodePoints"]).optional(),
});

export const SarifLogSchema = z
  .looseObject({
    $schema: z.string().optional(),
    version: z.literal("2.1.0"),
    runs: z.array(run),
  })
  .superRefine((log, context) => {
    // §3.27.6: ruleIndex, when present, points into the driver's rules and agrees with ruleId.
    log.runs.forEach((r, i) => {
      const rules = r.tool.driver.rules ?? [];
      (r.results ?? []).forEach((res, j) => {
        if (res.ruleIndex === undefined || res.ruleIndex === -1) return;
        const rule = rules[res.ruleIndex];
        if (!rule) context.addIssue({ code: "custom", message: "ruleIndex points past the driver's rules", path: ["runs", i, "results", j, "ruleIndex"] });
        else if (res.ruleId !== undefined && res.ruleId !== rule.id) context.addIssue({ code: "custom", message: "ruleId differs from the id of the rule at ruleIndex", path: ["runs", i, "results", j, "ruleId"] });
      });
    });
  });
