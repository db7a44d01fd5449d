/**
 * detectors/exfiltration: output that would send data to a third party when it
 * is rendered or followed (OWASP LLM05/LLM02; ATLAS AML.T0077, AML.T0086).
 *
 * - Anything a renderer loads by itself (markdown images, img/iframe/script/
 *   stylesheet tags, CSS url(), meta refresh) must point to an allowlisted host:
 *   the request alone leaks, and its URL can carry anything.
 * - Links outside the allowlist pass unless they carry data (or the policy
 *   treats links like images): a secret, personal data or a canary anywhere in
 *   the URL, or a long random-looking run in its path or query.
 *
 * May import: src/policy (types), src/guard/types, ./, the scanners of the
 * sibling secrets, pii and canary detectors (to recognise data in URLs), and
 * pii's anchored search (../pii/anchored, to find URLs).
 */
import type { Finding, GuardSession, Layer, LayerInput, LayerOutput } from "../../guard/types.js";
import type { ExfiltrationOptions, Policy } from "../../policy/schema.js";
import { containsCanary } from "../canary/index.js";
import { PiiScanner } from "../pii/scan.js";
import { looksRandom } from "../secrets/entropy.js";
import { SecretScanner } from "../secrets/scan.js";
import { findUrls, type FoundUrl } from "./urls.js";

export { findUrls, type FoundUrl, type UrlKind } from "./urls.js";

export const EXFILTRATION_VERSION = "1.0.0";

export interface ExfiltrationBinding {
  readonly session?: GuardSession;
  readonly canaries?: readonly string[];
}

/** Where a relative URL resolves: the application's own origin, which is always allowed. */
const SAME_ORIGIN = "same-origin.invalid";

export function createExfiltrationLayer(options: ExfiltrationOptions, binding: ExfiltrationBinding = {}): Layer {
  const allowAll = options.allowedHosts.includes("*");
  const allowed = options.allowedHosts.filter((host) => host !== "*").map((host) => host.toLowerCase().replace(/^\*\./, "").replace(/\.$/, ""));
  const secrets = new SecretScanner();
  const pii = new PiiScanner({ entities: ["email", "phone", "card", "iban", "ssn"] });
  const hostAllowed = (host: string): boolean => allowAll || host === SAME_ORIGIN || allowed.some((entry) => host === entry || host.endsWith("." + entry));

  return {
    name: "exfiltration",
    version: EXFILTRATION_VERSION,
    stage: "output",
    phase: "detect",
    budgetMs: options.budgetMs,
    ...(options.failureMode ? { failureMode: options.failureMode } : {}),
    check(input: LayerInput): LayerOutput {
      const text = input.text;
      if (!text.includes("//") && !text.includes("](") && !text.includes("]:") && !text.includes("<") && !/url\(|@import/i.test(text)) return { findings: [] };
      const canaries = [...(input.session ?? binding.session)?.canaries ?? [], ...(binding.canaries ?? [])];
      const findings: Finding[] = [];
      for (const url of findUrls(text)) {
        const parsed = parseUrl(url.raw);
        if (!parsed) continue;
        if (parsed.protocol !== "http:" && parsed.protocol !== "https:" && parsed.protocol !== "ftp:" && parsed.protocol !== "ws:" && parsed.protocol !== "wss:") continue;
        const host = parsed.hostname;
        const onAllowlist = hostAllowed(host);
        const data = carriedData(parsed, secrets, pii, canaries, options.minDataEntropyLength);
        const finding = judge(url, host, onAllowlist, data, options.links);
        if (finding) findings.push(finding);
      }
      return { findings };
    },
  };
}

export function exfiltrationLayerFromPolicy(policy: Policy): Layer | null {
  return policy.layers.exfiltration.enabled ? createExfiltrationLayer(policy.layers.exfiltration) : null;
}

type CarriedData = "secret" | "personal data" | "canary" | "random-looking data" | null;

function judge(url: FoundUrl, host: string, onAllowlist: boolean, data: CarriedData, links: ExfiltrationOptions["links"]): Finding | null {
  const where = `${url.via} to ${onAllowlist ? "allowlisted host" : "host outside the allowlist"} ${host}`;
  const base = { detector: "exfiltration", category: "exfiltration" as const, span: url.span, replacement: url.kind === "autoload" ? "[external content removed]" : "[link removed]" };
  // Secrets and canaries leave through any URL, allowlisted or not; personal data in links to the
  // application's own hosts is normal (an invitation link with an e-mail address).
  if (data === "secret" || data === "canary" || (data === "personal data" && !onAllowlist)) {
    return { ...base, score: 0.95, ruleId: `exfiltration.url-carries-${data === "personal data" ? "pii" : data}`, evidence: `${where} carries ${data}` };
  }
  if (onAllowlist) return null;
  if (url.kind === "autoload") {
    return { ...base, score: 0.9, ruleId: "exfiltration.autoload-external", evidence: data ? `${where}, carrying ${data}` : where };
  }
  if (links === "allowlist") return { ...base, score: 0.85, ruleId: "exfiltration.link-external", evidence: where };
  if (data) return { ...base, score: 0.6, ruleId: "exfiltration.link-carries-data", evidence: `${where} carries ${data}` };
  return null;
}

function parseUrl(raw: string): URL | null {
  try {
    return new URL(raw.startsWith("//") ? "https:" + raw : raw, `https://${SAME_ORIGIN}/`);
  } catch {
    return null;
  }
}

function carriedData(url: URL, secrets: SecretScanner, pii: PiiScanner, canaries: readonly string[], minRandomLength: number): CarriedData {
  const payload = url.pathname + url.search + url.hash + (url.username ? ` ${url.username}:${url.password}` : "");
  if (payload.length <= 1) return null;
  let decoded = payload;
  try {
    decoded = decodeURIComponent(payload.replace(/\+/g, " "));
  } catch {
    // Malformed escapes: judge the text as it is.
  }
  // Query parameters and path segments as separate lines, so that `key=value` assignments read as such.
  const readable = decoded.replace(/[?&#/]/g, "\n");
  if (secrets.scan(readable).length > 0) return "secret";
  if (canaries.length > 0 && containsCanary(decoded, canaries)) return "canary";
  if (pii.scan(readable).length > 0) return "personal data";
  for (const piece of decoded.split(/[/?&=#;,\s]+/)) {
    if (piece.length >= minRandomLength && looksRandom(piece, minRandomLength, 3.5)) return "random-looking data";
  }
  // The host name itself can carry data (a subdomain per leaked value).
  const labels = url.hostname.split(".");
  if (labels.some((label) => label.length >= minRandomLength && looksRandom(label, minRandomLength, 3.5))) return "random-looking data";
  return null;
}
