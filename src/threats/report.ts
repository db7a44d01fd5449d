/**
 * The threat report: what `bulwark threats --format json` prints, and what
 * every other renderer reads. This zod schema is the contract; the published
 * JSON Schema (schema/threats-output.schema.json) is generated from it and a
 * test keeps the two in step. Extend compatibly: add optional fields, never
 * change the meaning of existing ones; bump schemaVersion otherwise.
 *
 * Reports are deterministic: no timestamps, every list in a stated order.
 */
import { z } from "zod";
import { OWASP_AGENTIC, OWASP_LLM, STRIDE, VECTORS } from "./library-schema.js";
import { SEVERITIES } from "./scoring.js";

const severity = z.enum(SEVERITIES);
const factor = z.strictObject({ value: z.number().int().min(0).max(5), basis: z.string() });

export const CONTROL_STATUSES = ["enforced", "missing", "unassessed", "declared", "not_declared"] as const;
export const EVIDENCE_STATUSES = ["tested_held", "tested_failed", "untested"] as const;
export const RISK_STATUSES = ["open", "accepted", "mitigated", "false_positive"] as const;

export const MitigationStatusSchema = z
  .strictObject({
    id: z.string(),
    name: z.string(),
    kind: z.enum(["policy", "organisational"]),
    status: z
      .enum(CONTROL_STATUSES)
      .describe("policy controls: `enforced` or `missing` given a policy, `unassessed` without one; organisational controls: `declared` in the model or `not_declared`."),
    reason: z.string().describe("Why: the policy values checked, or where the declaration is."),
  })
  .describe("One mitigating control and whether it is in place.");

export const ThreatSchema = z.strictObject({
  rank: z.number().int().min(1).describe("Position in the prioritised list (1 = address first)."),
  id: z.string().describe("Stable threat id: RULE@ELEMENT."),
  rule: z.string(),
  origin: z.enum(["built-in", "model", "library-file"]).describe("Where the rule came from."),
  title: z.string(),
  description: z.string(),
  stride: z.enum(STRIDE),
  owasp: z.array(z.enum(OWASP_LLM)),
  agentic: z.array(z.enum(OWASP_AGENTIC)),
  atlas: z.array(z.strictObject({ id: z.string(), name: z.string() })),
  categories: z.array(z.string()),
  element: z.strictObject({
    kind: z.enum(["component", "flow"]),
    id: z.string(),
    name: z.string(),
    type: z.string(),
    path: z.string().describe("Path of the element in the model file."),
    line: z.number().int().min(1).optional(),
    column: z.number().int().min(1).optional(),
  }),
  attack: z.strictObject({ vector: z.enum(VECTORS), access: z.array(z.string()), knowledge: z.string(), goals: z.array(z.string()) }),
  inherent: z
    .strictObject({
      likelihood: z.number().int().min(1).max(5),
      impact: z.number().int().min(1).max(5),
      score: z.number().int().min(1).max(25),
      severity,
      factors: z.strictObject({ exposure: factor, ease: factor, attacker: factor, sensitivity: factor, blastRadius: factor }),
    })
    .describe("Risk before any control: likelihood × impact."),
  mitigations: z.array(MitigationStatusSchema),
  coverage: z.strictObject({ inPlace: z.number().int().min(0), total: z.number().int().min(1), credit: z.number().int().min(0).max(2) }).describe("Controls in place (enforced or declared) of all listed, and the likelihood credit they earn."),
  evidence: z
    .strictObject({
      status: z.enum(EVIDENCE_STATUSES),
      held: z.number().int().min(0),
      failed: z.number().int().min(0),
      errors: z.number().int().min(0),
      cases: z.array(z.string()).describe("Ids of matching cases, failed ones first, at most 20."),
    })
    .describe("What scan results say about this threat."),
  residual: z
    .strictObject({
      likelihood: z.number().int().min(1).max(5),
      impact: z.number().int().min(1).max(5),
      score: z.number().int().min(1).max(25),
      severity,
      basis: z.string(),
    })
    .describe("Risk left once enforced controls and test evidence are counted."),
  risk: z
    .strictObject({
      status: z.enum(RISK_STATUSES),
      justification: z.string().optional(),
      date: z.string().optional(),
      owner: z.string().optional(),
      review: z.string().optional(),
    })
    .describe("The recorded risk decision, or `open`."),
  baseline: z.enum(["new", "unchanged", "updated"]).optional().describe("With --diff: compared with the baseline report."),
});

const countsBy = <T extends readonly [string, ...string[]]>(values: T) => z.strictObject(Object.fromEntries(values.map((v) => [v, z.number().int().min(0)])) as Record<T[number], z.ZodNumber>);

export const ThreatReportSchema = z
  .strictObject({
    schemaVersion: z.literal(1),
    tool: z.strictObject({ name: z.literal("bulwark"), version: z.string() }),
    generatedAt: z.string().optional().describe("Only when passed in (--timestamp): reports are otherwise byte-for-byte reproducible."),
    model: z.strictObject({ name: z.string(), description: z.string().optional(), source: z.string(), sha256: z.string() }),
    library: z.strictObject({
      name: z.string(),
      version: z.string(),
      atlasVersion: z.string(),
      rules: z.number().int().min(0),
      userRules: z.array(z.strictObject({ id: z.string(), origin: z.enum(["model", "library-file"]) })),
    }),
    policy: z.strictObject({ source: z.string(), hash: z.string() }).nullable().describe("The guard policy coverage was assessed against, or null."),
    evidence: z
      .strictObject({ source: z.string(), sha256: z.string(), cases: z.number().int().min(0), matchedCases: z.number().int().min(0) })
      .nullable()
      .describe("The scan results evidence came from, or null."),
    summary: z.strictObject({
      threats: z.number().int().min(0),
      open: z.number().int().min(0),
      inherent: countsBy(SEVERITIES),
      residual: countsBy(SEVERITIES).describe("Residual severity of threats that are not false positives."),
      risk: countsBy(RISK_STATUSES),
      evidence: countsBy(EVIDENCE_STATUSES),
    }),
    elements: z.strictObject({
      boundaries: z.array(z.strictObject({ id: z.string(), name: z.string(), trust: z.string(), parent: z.string().optional() })),
      components: z.array(z.strictObject({ id: z.string(), name: z.string(), type: z.string(), boundary: z.string(), threats: z.number().int().min(0) })),
      flows: z.array(z.strictObject({ id: z.string(), from: z.string(), to: z.string(), label: z.string().optional(), crossesBoundary: z.boolean(), authenticated: z.boolean() })),
      entryPoints: z.array(z.strictObject({ id: z.string(), name: z.string(), component: z.string(), kind: z.string(), exposure: z.string() })),
    }),
    threats: z.array(ThreatSchema).describe("Every threat, in priority order: open before decided, then residual score, inherent score, impact (highest first), id."),
    controls: z
      .array(MitigationStatusSchema.extend({ threats: z.array(z.string()) }))
      .describe("Every control any threat lists, with the threats it mitigates, sorted by id."),
    diff: z
      .strictObject({
        baseline: z.string(),
        libraryChanged: z.boolean().describe("The baseline was made with another library version: some changes may come from rules, not the model."),
        added: z.array(z.string()),
        removed: z.array(z.strictObject({ id: z.string(), title: z.string(), severity })),
        changed: z.array(z.strictObject({ id: z.string(), from: severity, to: severity })),
      })
      .nullable()
      .describe("With --diff: threats new since the baseline, gone, or with another residual severity."),
  })
  .describe("A Bulwark threat report.");

export type ThreatReport = z.output<typeof ThreatReportSchema>;
export type ReportedThreat = z.output<typeof ThreatSchema>;
export type MitigationStatus = z.output<typeof MitigationStatusSchema>;
export type ControlStatus = (typeof CONTROL_STATUSES)[number];
export type EvidenceStatus = (typeof EVIDENCE_STATUSES)[number];
