/**
 * report/: the posture report (`bulwark report`): threat-model coverage, the
 * latest scan results, the guard policy and monitoring statistics for a period,
 * mapped to OWASP LLM and Agentic Top 10, MITRE ATLAS, NIST AI RMF functions and
 * EU AI Act article 15 (posture.ts builds it, render.ts writes Markdown and HTML,
 * frameworks.ts names the framework entries).
 * May import policy, store, threats, redteam (results only) and monitor.
 */
export { buildPostureReport, alignPeriod, type PostureInput, type PostureReport, type FrameworkRow, type Monitoring } from "./posture.js";
export { renderPostureHtml, renderPostureMarkdown } from "./render.js";
export { EU_AI_ACT_15, NIST_FUNCTIONS, OWASP_AGENTIC_NAMES, OWASP_LLM_NAMES } from "./frameworks.js";
