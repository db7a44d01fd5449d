/** The frameworks the posture report maps to: names of the OWASP LLM Top 10 (2025) and Agentic Top 10 entries, NIST AI RMF functions, EU AI Act article 15. */

export const OWASP_LLM_NAMES: Readonly<Record<string, string>> = {
  LLM01: "Prompt Injection",
  LLM02: "Sensitive Information Disclosure",
  LLM03: "Supply Chain",
  LLM04: "Data and Model Poisoning",
  LLM05: "Improper Output Handling",
  LLM06: "Excessive Agency",
  LLM07: "System Prompt Leakage",
  LLM08: "Vector and Embedding Weaknesses",
  LLM09: "Misinformation",
  LLM10: "Unbounded Consumption",
};

export const OWASP_AGENTIC_NAMES: Readonly<Record<string, string>> = {
  ASI01: "Agent Goal Hijack",
  ASI02: "Tool Misuse and Exploitation",
  ASI03: "Identity and Privilege Abuse",
  ASI04: "Agentic Supply Chain Vulnerabilities",
  ASI05: "Unexpected Code Execution",
  ASI06: "Memory and Context Poisoning",
  ASI07: "Insecure Inter-Agent Communication",
  ASI08: "Cascading Failures",
  ASI09: "Human-Agent Trust Exploitation",
  ASI10: "Rogue Agents",
};

export const NIST_FUNCTIONS = {
  govern: "Govern: policies, accountability and risk tolerance are set and in force",
  map: "Map: the context, components and risks of the AI system are identified",
  measure: "Measure: risks are analysed, tested and tracked with metrics",
  manage: "Manage: risks are prioritised and acted on; incidents are handled",
} as const;

export const EU_AI_ACT_15 = {
  accuracy: "Accuracy (Art. 15(1) and (3)): an appropriate level of accuracy, declared with its metrics",
  robustness: "Robustness (Art. 15(1) and (4)): resilience to errors, faults and inconsistencies, with technical redundancy and fail-safe plans",
  cybersecurity: "Cybersecurity (Art. 15(1) and (5)): resilience against attempts to alter use, outputs or performance by exploiting vulnerabilities, including AI-specific attacks (data or model poisoning, adversarial examples and model evasion, confidentiality attacks, model flaws)",
} as const;
