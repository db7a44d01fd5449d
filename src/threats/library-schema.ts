/**
 * The threat library's format: rules (conditions over the system model that
 * produce threats) and the control catalogue (Bulwark policy features and
 * organisational controls that mitigate them). The built-in library lives in
 * data/threats/; users add or override rules with `--library FILE` or a
 * `library` section in their model, in this same format.
 *
 * Conditions are one object shape (not a union) so that a mistake in a user's
 * rule is reported as one precise message instead of every union branch.
 */
import { z } from "zod";

export const STRIDE = ["spoofing", "tampering", "repudiation", "information_disclosure", "denial_of_service", "elevation_of_privilege"] as const;
export const OWASP_LLM = ["LLM01", "LLM02", "LLM03", "LLM04", "LLM05", "LLM06", "LLM07", "LLM08", "LLM09", "LLM10"] as const;
export const OWASP_AGENTIC = ["ASI01", "ASI02", "ASI03", "ASI04", "ASI05", "ASI06", "ASI07", "ASI08", "ASI09", "ASI10"] as const;
export const VECTORS = ["direct", "content", "any", "supply_chain", "insider"] as const;
export const CIA = ["confidentiality", "integrity", "availability"] as const;

export const RuleId = z.string().regex(/^[a-z0-9][a-z0-9-]*(\.[a-z0-9][a-z0-9-]*)*$/, "dotted lower-case words, e.g. prompt-injection.direct");
export const ControlId = z.string().regex(/^(guard|access|limits|monitor|org)\.[a-z0-9][a-z0-9.-]*$/, "a control id such as guard.heuristics or org.human-review");
const AtlasId = z.string().regex(/^AML\.T\d{4}(\.\d{3})?$/, "an ATLAS technique id such as AML.T0051.001");
const scalar = z.union([z.string(), z.number(), z.boolean()]);

export interface ConditionInput {
  all?: ConditionInput[];
  any?: ConditionInput[];
  not?: ConditionInput;
  fact?: string;
  equals?: string | number | boolean;
  in?: Array<string | number | boolean>;
  atLeast?: string | number;
  includes?: string;
  includesAny?: string[];
}

/**
 * A condition is either a combination (`all`, `any`, `not`) or a test of one
 * fact with one operator. Which facts exist, and which operators suit them, is
 * checked against the fact catalogue (facts.ts) when the library loads.
 */
export const ConditionSchema: z.ZodType<ConditionInput> = z.lazy(() =>
  z
    .strictObject({
      all: z.array(ConditionSchema).min(1).optional(),
      any: z.array(ConditionSchema).min(1).optional(),
      not: ConditionSchema.optional(),
      fact: z.string().min(1).optional(),
      equals: scalar.optional(),
      in: z.array(scalar).min(1).optional(),
      atLeast: z.union([z.string(), z.number()]).optional(),
      includes: z.string().optional(),
      includesAny: z.array(z.string()).min(1).optional(),
    })
    .superRefine((value, context) => {
      const combinators = (["all", "any", "not"] as const).filter((k) => value[k] !== undefined);
      const operators = (["equals", "in", "atLeast", "includes", "includesAny"] as const).filter((k) => value[k] !== undefined);
      const isTest = value.fact !== undefined;
      if (combinators.length + (isTest ? 1 : 0) !== 1) {
        context.addIssue({ code: "custom", message: "exactly one of all, any, not, or fact with one operator", input: Object.keys(value) });
      } else if (isTest && operators.length !== 1) {
        context.addIssue({ code: "custom", message: "exactly one operator (equals, in, atLeast, includes, includesAny) with fact", path: ["fact"], input: operators });
      } else if (!isTest && operators.length > 0) {
        context.addIssue({ code: "custom", message: "operators only next to fact", input: operators });
      }
    }),
);

export const RuleSchema = z
  .strictObject({
    id: RuleId.describe("Stable rule id; with the element id it makes the threat id (`rule@element`)."),
    title: z.string().min(1).max(200).describe("Short title; `{element}` is replaced by the element's name."),
    scope: z.enum(["component", "flow"]).describe("What the rule is evaluated on: every component, or every data flow."),
    when: ConditionSchema.describe("Condition over the element's facts (see docs/threat-modeling.md)."),
    stride: z.enum(STRIDE),
    owasp: z.array(z.enum(OWASP_LLM)).default([]).describe("OWASP Top 10 for LLM Applications (2025) ids."),
    agentic: z.array(z.enum(OWASP_AGENTIC)).default([]).describe("OWASP Top 10 for Agentic Applications ids."),
    atlas: z.array(AtlasId).default([]).describe("MITRE ATLAS technique ids (ATLAS 5.6.0)."),
    categories: z.array(z.string().regex(/^[a-z][a-z0-9_]*$/)).default([]).describe("Bulwark finding and scanner categories that test this threat (evidence matching)."),
    description: z.string().min(1).max(4000),
    attack: z
      .strictObject({
        vector: z.enum(VECTORS).describe("How hostile input reaches the element: `direct` interaction, planted `content`, `any` of those two, the `supply_chain`, or an `insider`. Chooses the exposure factor in scoring."),
        access: z.array(z.enum(["query_only", "plant_documents", "insider", "supply_chain"])).min(1).describe("NIST AI 100-2 access an attacker needs (any one suffices)."),
        knowledge: z.enum(["black_box", "gray_box", "white_box"]).describe("Least knowledge the attack needs."),
        goals: z.array(z.enum(["availability", "integrity", "privacy", "misuse"])).min(1).describe("Attacker objectives the threat serves."),
      })
      .describe("What an attacker needs."),
    impact: z
      .strictObject({
        affects: z.array(z.enum(CIA)).min(1).describe("Which ratings of the exposed assets count."),
        kinds: z
          .array(z.enum(["personal_data", "credentials", "business_data", "source_code", "model_weights", "system_instructions", "training_data", "messages", "public_content"]))
          .optional()
          .describe("Only assets of these kinds count (all kinds when absent; none when empty, so the base alone sets the impact)."),
        base: z.number().int().min(1).max(5).describe("Least impact (1-5) whatever the assets at stake, e.g. cost for denial of wallet or reputational harm for a jailbreak."),
        spreads: z.boolean().default(false).describe("The harm travels downstream with the element's output (tool calls, executed output, poisoned content), so the blast radius across trust boundaries adds to the impact."),
      })
      .describe("How the impact is judged."),
    mitigations: z.array(ControlId).min(1).describe("Control ids from the control catalogue."),
    references: z.array(z.string().min(1)).default([]),
  })
  .describe("A threat rule.");

export const LibraryFileSchema = z
  .strictObject({
    version: z.literal(1).default(1),
    name: z.string().min(1).max(200).optional(),
    libraryVersion: z.string().regex(/^\d+\.\d+\.\d+$/, "a semantic version such as 1.2.0").optional(),
    rules: z.array(RuleSchema).default([]).describe("Rules to add; a rule whose id is already in the library replaces it."),
    disable: z.array(RuleId).default([]).describe("Ids of library rules to switch off."),
  })
  .describe("A threat library, or additions and overrides to one.");

export const PolicyCheckSchema = z
  .strictObject({
    path: z.string().regex(/^[A-Za-z0-9_]+(\.[A-Za-z0-9_]+)*$/, "a dotted path into the resolved policy"),
    equals: scalar.optional(),
    includes: scalar.optional(),
    atMost: z.number().optional(),
    nonEmpty: z.literal(true).optional(),
  })
  .refine((c) => [c.equals, c.includes, c.atMost, c.nonEmpty].filter((v) => v !== undefined).length === 1, "exactly one of equals, includes, atMost, nonEmpty");

export const ControlSchema = z
  .strictObject({
    id: ControlId,
    name: z.string().min(1).max(200),
    kind: z.enum(["policy", "organisational"]),
    description: z.string().min(1).max(2000),
    enforcedWhen: z.array(PolicyCheckSchema).optional().describe("policy controls: every check must hold in the resolved policy."),
  })
  .refine((c) => (c.kind === "policy") === (c.enforcedWhen !== undefined && c.enforcedWhen.length > 0), "policy controls need enforcedWhen; organisational controls have none");

export const ControlCatalogueSchema = z.strictObject({
  version: z.literal(1),
  controls: z.array(ControlSchema).min(1),
});

export type Condition = z.output<typeof ConditionSchema>;
export type Rule = z.output<typeof RuleSchema>;
export type LibraryFile = z.output<typeof LibraryFileSchema>;
export type Control = z.output<typeof ControlSchema>;
export type PolicyCheck = z.output<typeof PolicyCheckSchema>;
export type Stride = (typeof STRIDE)[number];
