/**
 * gateway/: the OpenAI-compatible guarded proxy. The HTTP server and its routes
 * (server.ts), chat request/response handling and aggregation (chat.ts),
 * streamed output (sse.ts, stream-guard.ts), the upstream client (upstream.ts),
 * identities (identity.ts), the admin API (admin.ts), tool-call enforcement
 * and the approval API for agents (agency.ts), configuration (config.ts)
 * and its swappable runtime (runtime.ts), metrics (metrics.ts, with the
 * allocation-free histogram of the per-layer timings in histogram.ts), audit
 * events, and the offline demo upstream (demo-upstream.ts).
 * The dashboard's server side (dashboard.ts: /ui and /admin/dashboard/...)
 * also reads threats/ for the policy's coverage, and demo-traffic.ts feeds
 * the offline demo with sample requests.
 * May import guard/, access/, policy/, store/, threats/ (dashboard) and util/; never the CLI.
 */
export { createGateway, parseJsonBody, type Gateway, type GatewayOptions, type ShutdownReport } from "./server.js";
export { ConfigError, GatewayConfigSchema, loadConfigFile, parseConfig, resolveConfig, type GatewayConfig, type GatewayConfigInput, type LoadedConfig } from "./config.js";
export { GatewayError, type OpenAIErrorBody } from "./errors.js";
export { generateKey, hashKey, hashSecretScrypt, verifySecret, Identities, AdminCredentials, type Principal } from "./identity.js";
export { CheckerStreamGuard, StreamBlockedError, type OutputStreamGuard } from "./stream-guard.js";
export { SseParser, relayStream } from "./sse.js";
export { UpstreamClient, type UpstreamOptions } from "./upstream.js";
