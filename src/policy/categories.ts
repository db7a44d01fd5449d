/**
 * The finding categories every layer reports in, and what each maps to in the
 * OWASP Top 10 for LLM Applications (2025), the OWASP Top 10 for Agentic
 * Applications, and MITRE ATLAS (IDs checked against ATLAS 5.6.0).
 *
 * One table, so that the policy schema, decisions, reports and threat models all
 * speak the same vocabulary. Later layers add their categories here.
 */
export interface CategoryInfo {
  /** One line for humans: what a finding in this category means. */
  readonly description: string;
  readonly owasp: readonly string[];
  readonly agentic: readonly string[];
  readonly atlas: readonly string[];
}

export const CATEGORIES = {
  prompt_injection: {
    description: "Direct prompt injection: text that tries to override the application's instructions.",
    owasp: ["LLM01"],
    agentic: ["ASI01"],
    atlas: ["AML.T0051.000"],
  },
  indirect_injection: {
    description: "Instructions hidden in untrusted content (documents, web pages, tool output) aimed at the model.",
    owasp: ["LLM01"],
    agentic: ["ASI01", "ASI06"],
    atlas: ["AML.T0051.001"],
  },
  jailbreak: {
    description: "Role-play, persona or framing that tries to switch off the model's safety behaviour.",
    owasp: ["LLM01"],
    agentic: ["ASI01"],
    atlas: ["AML.T0054"],
  },
  system_prompt_extraction: {
    description: "A request to reveal the system prompt, hidden instructions or configuration.",
    owasp: ["LLM07", "LLM01"],
    agentic: [],
    atlas: ["AML.T0056"],
  },
  obfuscation: {
    description: "An encoded or disguised payload (base64, hex, rot13, leetspeak, spacing, reversal) carrying instructions.",
    owasp: ["LLM01"],
    agentic: ["ASI01"],
    atlas: ["AML.T0068"],
  },
  invisible_text: {
    description: "Invisible or direction-changing characters (zero-width, bidi overrides, Unicode tags, variation selectors) that can hide text from people.",
    owasp: ["LLM01"],
    agentic: ["ASI01"],
    atlas: ["AML.T0068"],
  },
  malformed_input: {
    description: "Input that is not well-formed text: invalid UTF-8, lone surrogates, control characters.",
    owasp: ["LLM01", "LLM05"],
    agentic: [],
    atlas: ["AML.T0043"],
  },
  oversize: {
    description: "Input over the policy's size limit in bytes, characters or tokens.",
    owasp: ["LLM10"],
    agentic: ["ASI08"],
    atlas: ["AML.T0029", "AML.T0034"],
  },
  repetition: {
    description: "Runaway repetition of a character or phrase, used to flood context or run up cost.",
    owasp: ["LLM10"],
    agentic: ["ASI08"],
    atlas: ["AML.T0034"],
  },
  secret: {
    description: "A credential in the text: cloud or SaaS API key, token, private key, password-bearing connection string, JWT, or a high-entropy string in a credential context.",
    owasp: ["LLM02"],
    agentic: ["ASI03"],
    atlas: ["AML.T0057", "AML.T0055"],
  },
  pii: {
    description: "Personal data: e-mail address, phone number, payment card, IBAN, US SSN, IP address, or a policy-defined entity.",
    owasp: ["LLM02"],
    agentic: [],
    atlas: ["AML.T0057"],
  },
  canary_leak: {
    description: "A canary token planted in the system prompt appears in output or tool-call arguments, plainly, encoded or in part: the system prompt is leaking.",
    owasp: ["LLM07", "LLM02"],
    agentic: [],
    atlas: ["AML.T0056"],
  },
  system_prompt_leak: {
    description: "Output repeats a substantial part of the system prompt's own text, verbatim or lightly reformatted.",
    owasp: ["LLM07"],
    agentic: [],
    atlas: ["AML.T0056", "AML.T0057"],
  },
  exfiltration: {
    description: "Output that would send data to a third party when rendered or followed: markdown images, links or auto-loading HTML to hosts outside the allowlist, or URLs carrying secrets, personal data, canaries or encoded payloads.",
    owasp: ["LLM05", "LLM02"],
    agentic: ["ASI02"],
    atlas: ["AML.T0077", "AML.T0086", "AML.T0057"],
  },
  unsafe_output: {
    description: "Output containing HTML/JavaScript, SQL or shell fragments when the policy says it goes to a renderer or interpreter.",
    owasp: ["LLM05"],
    agentic: ["ASI05"],
    atlas: ["AML.T0077", "AML.T0050"],
  },
  schema_violation: {
    description: "Structured output that is not valid JSON or does not match the policy's JSON Schema.",
    owasp: ["LLM05"],
    agentic: [],
    atlas: [],
  },
  excessive_agency: {
    description: "An agent calls tools beyond its caller's role or task, or with tampered arguments that reach other users' objects (privilege escalation, broken object-level authorisation).",
    owasp: ["LLM06"],
    agentic: ["ASI02", "ASI03"],
    atlas: ["AML.T0053"],
  },
  unbounded_consumption: {
    description: "A request that makes the target consume resources without bound: huge inputs or outputs, token floods, runaway repetition or tool loops, inputs over a limit accepted.",
    owasp: ["LLM10"],
    agentic: ["ASI08"],
    atlas: ["AML.T0034", "AML.T0029"],
  },
  failure_response: {
    description: "The target failed unsafely: a 5xx answer, a timeout, a stack trace or internal detail in an error body, or a status code that contradicts the body.",
    owasp: ["LLM02"],
    agentic: ["ASI08"],
    atlas: ["AML.T0029"],
  },
  guard_failure: {
    description: "A guard layer failed (threw, timed out or returned malformed output) and the policy failed closed.",
    owasp: [],
    agentic: [],
    atlas: [],
  },
} as const satisfies Record<string, CategoryInfo>;

export type Category = keyof typeof CATEGORIES;
export const CATEGORY_NAMES = Object.keys(CATEGORIES) as [Category, ...Category[]];

export function isCategory(value: unknown): value is Category {
  return typeof value === "string" && Object.hasOwn(CATEGORIES, value);
}

/** OWASP LLM Top 10 (2025) IDs for a set of categories, deduplicated and sorted. */
export function owaspFor(categories: Iterable<Category>): string[] {
  const ids = new Set<string>();
  for (const category of categories) for (const id of CATEGORIES[category].owasp) ids.add(id);
  return [...ids].sort();
}
