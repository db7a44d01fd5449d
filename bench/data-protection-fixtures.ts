/** Shared inputs for the data-protection benchmarks: output layers built from the default policy, and output texts. */
import { createCanaryLayer } from "../src/detectors/canary/index.js";
import { createExfiltrationLayer } from "../src/detectors/exfiltration/index.js";
import { createOutputSafetyLayer } from "../src/detectors/output-safety/index.js";
import { createPiiLayer } from "../src/detectors/pii/index.js";
import { createPromptLeakLayer } from "../src/detectors/prompt-leak/index.js";
import { createSecretsLayer } from "../src/detectors/secrets/index.js";
import { GuardSession } from "../src/guard/session.js";
import type { Layer, LayerInput } from "../src/guard/types.js";
import { resolvePolicy } from "../src/policy/load.js";
import { proseOfSize, seededRandom } from "./lib.js";
import { layerInputFor } from "../src/guard/layer-input.js";

export const SYSTEM_PROMPT = proseOfSize(1500, 99);

export function outputLayers(): { layers: Layer[]; session: GuardSession; policy: ReturnType<typeof resolvePolicy> } {
  const loaded = resolvePolicy({ version: 1, layers: { exfiltration: { allowedHosts: ["docs.acme.com", "cdn.example.org"] }, outputSafety: { sinks: ["html", "sql", "shell"] }, pii: { mode: "pseudonymize" } } });
  const { policy } = loaded;
  const session = new GuardSession();
  session.protectSystemPrompt(SYSTEM_PROMPT);
  const layers = [
    createSecretsLayer(policy.layers.secrets),
    createPiiLayer(policy.layers.pii, { session }),
    createCanaryLayer(policy.layers.canary, { session }),
    createPromptLeakLayer(policy.layers.promptLeak, { session }),
    createExfiltrationLayer(policy.layers.exfiltration, { session }),
    createOutputSafetyLayer(policy.layers.outputSafety)!,
  ];
  return { layers, session, policy: loaded };
}

const SPICE = [
  "Contact jane.roe@acme-mail.io or +44 20 7946 0958 for details.",
  "Use token ghp_R4nd0mT0k3nV4lu3Xy7Zq2Wk9Lm3Np5Bc8Df to deploy.",
  "See [the guide](https://docs.acme.com/setup) and https://en.wikipedia.org/wiki/Data.",
  "![chart](https://cdn.example.org/q3.png?id=Zk3Lq9Vx2Rm7Tb4Np8Wc1Yd6Hf)",
  "Run SELECT name FROM users WHERE id = 42; then ls -la && cd src.",
  "Card 4111 1111 1111 1111 expires 12/27, IBAN DE89 3704 0044 0532 0130 00.",
  "password: Tr0ub4dor&3x and api_key = 'Zk3Lq9Vx2Rm7Tb4Np8Wc1Yd6Hf'",
];

/** Prose of about `bytes` characters; `rich` mixes in secrets, personal data, URLs and code every ~400 characters. */
export function outputText(bytes: number, rich: boolean, seed = 1): string {
  if (!rich) return proseOfSize(bytes, seed).slice(0, bytes);
  const random = seededRandom(seed);
  let text = "";
  while (text.length < bytes) text += proseOfSize(350, Math.floor(random() * 1e6)) + " " + SPICE[Math.floor(random() * SPICE.length)] + " ";
  return text.slice(0, bytes);
}

export function layerInput(text: string, session: GuardSession): LayerInput {
  return layerInputFor(text, { stage: "output", session });
}
