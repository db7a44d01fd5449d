/**
 * The client for the OpenAI-compatible upstream: one undici keep-alive pool,
 * time limits for connecting, for the first byte and for silences in the body,
 * and retries with backoff for failures that happen before any answer arrives.
 *
 * The upstream's API key is held here and sent only upstream.
 */
import { Pool, errors as undiciErrors, type Dispatcher } from "undici";
import { GatewayError } from "./errors.js";

export interface UpstreamOptions {
  /** Base URL including the API prefix, e.g. http://127.0.0.1:11434/v1 */
  readonly url: string;
  readonly apiKey?: string;
  readonly connections: number;
  readonly connectTimeoutMs: number;
  readonly headersTimeoutMs: number;
  readonly bodyTimeoutMs: number;
  readonly retries: number;
  readonly retryBackoffMs: number;
}

export interface UpstreamRequest {
  readonly method: "GET" | "POST";
  /** Path below the base URL, e.g. `/chat/completions`. */
  readonly path: string;
  readonly body?: string;
  readonly signal?: AbortSignal;
  readonly requestId?: string;
}

export interface UpstreamResponse {
  readonly status: number;
  readonly headers: Dispatcher.ResponseData["headers"];
  readonly body: Dispatcher.ResponseData["body"];
  /** Attempts made (1 = no retry). */
  readonly attempts: number;
}

const RETRY_STATUSES = new Set([429, 502, 503, 504]);
const RETRY_ERROR_CODES = new Set(["ECONNREFUSED", "ECONNRESET", "EPIPE", "UND_ERR_SOCKET", "UND_ERR_CONNECT_TIMEOUT", "UND_ERR_CLOSED"]);
const MAX_RETRY_AFTER_MS = 5_000;

export class UpstreamClient {
  private readonly pool: Pool;
  private readonly basePath: string;
  readonly origin: string;

  constructor(private readonly options: UpstreamOptions) {
    const url = new URL(options.url);
    this.origin = url.origin;
    this.basePath = url.pathname.replace(/\/+$/, "");
    this.pool = new Pool(url.origin, {
      connections: options.connections,
      pipelining: 1,
      keepAliveTimeout: 30_000,
      connect: { timeout: options.connectTimeoutMs },
      headersTimeout: options.headersTimeoutMs,
      bodyTimeout: options.bodyTimeoutMs,
    });
  }

  /** Where requests go, without credentials (for logs and /readyz). */
  get description(): string {
    return this.origin + this.basePath;
  }

  async request(request: UpstreamRequest): Promise<UpstreamResponse> {
    const headers: Record<string, string> = { accept: "application/json, text/event-stream", "user-agent": "bulwark-gateway" };
    if (request.body !== undefined) headers["content-type"] = "application/json";
    if (this.options.apiKey) headers.authorization = `Bearer ${this.options.apiKey}`;
    if (request.requestId) headers["x-request-id"] = request.requestId;
    let attempt = 0;
    for (;;) {
      attempt++;
      const retriesLeft = attempt <= this.options.retries;
      let response: Dispatcher.ResponseData;
      try {
        response = await this.pool.request({
          method: request.method,
          path: this.basePath + request.path,
          headers,
          ...(request.body !== undefined ? { body: request.body } : {}),
          ...(request.signal ? { signal: request.signal } : {}),
        });
      } catch (error) {
        if (request.signal?.aborted) throw error;
        const code = (error as { code?: string }).code ?? "";
        if (retriesLeft && RETRY_ERROR_CODES.has(code)) {
          await sleep(this.backoff(attempt), request.signal);
          continue;
        }
        throw upstreamFailure(error);
      }
      if (retriesLeft && RETRY_STATUSES.has(response.statusCode)) {
        const retryAfter = retryAfterMs(response.headers["retry-after"]);
        await response.body.dump().catch(() => undefined);
        await sleep(Math.min(retryAfter ?? this.backoff(attempt), MAX_RETRY_AFTER_MS), request.signal);
        continue;
      }
      return { status: response.statusCode, headers: response.headers, body: response.body, attempts: attempt };
    }
  }

  private backoff(attempt: number): number {
    const base = this.options.retryBackoffMs * 2 ** (attempt - 1);
    return base / 2 + Math.random() * (base / 2);
  }

  async close(): Promise<void> {
    await this.pool.close();
  }

  destroy(): Promise<void> {
    return this.pool.destroy();
  }
}

/** What a transport failure means for the client: 504 when the upstream took too long, 502 otherwise. */
export function upstreamFailure(error: unknown): GatewayError {
  if (error instanceof GatewayError) return error;
  if (error instanceof undiciErrors.HeadersTimeoutError || error instanceof undiciErrors.BodyTimeoutError || error instanceof undiciErrors.ConnectTimeoutError) {
    return new GatewayError(504, "timeout_error", "upstream_timeout", "The model server did not answer in time.");
  }
  const code = (error as { code?: string }).code;
  return new GatewayError(502, "upstream_error", "upstream_unreachable", `The model server could not be reached${code ? ` (${code})` : ""}.`);
}

function retryAfterMs(header: string | string[] | undefined): number | undefined {
  const value = Array.isArray(header) ? header[0] : header;
  if (!value) return undefined;
  const seconds = Number(value);
  if (Number.isFinite(seconds)) return Math.max(0, seconds * 1000);
  const date = Date.parse(value);
  return Number.isFinite(date) ? Math.max(0, date - Date.now()) : undefined;
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason as Error);
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(signal!.reason as Error);
    };
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}
