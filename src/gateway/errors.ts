/**
 * Errors in OpenAI's format, `{"error": {"message", "type", "code", "param"}}`,
 * so that existing clients (the openai SDKs, LangChain, curl users) show a
 * sensible message. Guard refusals use type `guardrail_violation` and carry the
 * decision id in the `x-bulwark-decision-id` header.
 */

export type ErrorType =
  | "invalid_request_error"
  | "authentication_error"
  | "permission_error"
  | "not_found_error"
  | "guardrail_violation"
  | "rate_limit_error"
  | "upstream_error"
  | "timeout_error"
  | "service_unavailable"
  | "server_error";

export interface OpenAIErrorBody {
  error: { message: string; type: ErrorType; code: string | null; param: string | null; decision_id?: string };
}

export class GatewayError extends Error {
  constructor(
    readonly status: number,
    readonly type: ErrorType,
    readonly code: string,
    message: string,
    readonly param: string | null = null,
    readonly decisionId?: string,
  ) {
    super(message);
    this.name = "GatewayError";
  }

  body(): OpenAIErrorBody {
    return { error: { message: this.message, type: this.type, code: this.code, param: this.param, ...(this.decisionId ? { decision_id: this.decisionId } : {}) } };
  }
}

export const badRequest = (code: string, message: string, param: string | null = null): GatewayError => new GatewayError(400, "invalid_request_error", code, message, param);

/** What HTTP status and error a failure inside the HTTP framework becomes. */
export function fromFrameworkError(error: { code?: string; statusCode?: number; message: string }): GatewayError {
  switch (error.code) {
    case "FST_ERR_CTP_BODY_TOO_LARGE":
      return new GatewayError(413, "invalid_request_error", "request_too_large", "The request body is larger than this gateway accepts.");
    case "FST_ERR_CTP_INVALID_MEDIA_TYPE":
      return new GatewayError(415, "invalid_request_error", "unsupported_media_type", "Send the request body as JSON (Content-Type: application/json).");
    case "FST_ERR_CTP_EMPTY_JSON_BODY":
      return badRequest("invalid_json", "The request body is empty; expected a JSON object.");
    case "FST_ERR_CTP_INVALID_CONTENT_LENGTH":
      return badRequest("invalid_content_length", "The Content-Length header does not match the body.");
    case "FST_ERR_BAD_URL":
      return badRequest("invalid_url", "The request URL is malformed.");
    case "ECONNRESET":
    case "ERR_STREAM_PREMATURE_CLOSE":
      return badRequest("client_closed", "The request body ended early.");
  }
  const status = error.statusCode ?? 500;
  if (status === 408) return new GatewayError(408, "timeout_error", "request_timeout", "The request was not received in time.");
  if (status >= 400 && status < 500) return badRequest("invalid_request", error.message.slice(0, 200));
  return new GatewayError(500, "server_error", "internal_error", "The gateway failed to handle this request; it has been logged.");
}
