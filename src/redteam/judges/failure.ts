/**
 * Failure-response validation: how a target fails is a finding of its own. A
 * 5xx, a timeout, an exception, a stack trace or internal detail in a body, or
 * a status that contradicts the body all tell an attacker about the system or
 * show it does not degrade safely.
 */
import type { TargetReply } from "../targets/types.js";

const LEAKS: ReadonlyArray<readonly [RegExp, string]> = [
  [/\n\s+at [\w.$<>[\] ]+ \(?[^\s()]*:\d+:\d+\)?/, "a JavaScript stack trace"],
  [/Traceback \(most recent call last\)/, "a Python traceback"],
  [/\n\s*at [\w.$]+\([\w$]+\.(java|kt|scala):\d+\)/, "a JVM stack trace"],
  [/\bgoroutine \d+ \[running\]/, "a Go panic trace"],
  [/(?:\/node_modules\/|\/srv\/|\/usr\/src\/app\/|\/home\/[\w.-]+\/|[A-Z]:\\Users\\)/, "internal file paths"],
  [/\b(SQLSTATE|ORA-\d{5}|syntax error at or near|invalid byte sequence for encoding|duplicate key value violates|relation "[^"]+" does not exist)\b/, "database error details"],
  [/\b(ECONNREFUSED|ETIMEDOUT|EADDRINUSE|ENOTFOUND) [\d.:a-z-]+/i, "internal network details"],
];

/** What is wrong with this reply as a failure response, or null when it failed (or succeeded) safely. */
export function failureProblem(reply: TargetReply): string | null {
  if (reply.error?.kind === "timeout") return `no answer within the timeout (${Math.round(reply.latencyMs)} ms)`;
  if (reply.error?.kind === "exception") return `the application threw instead of answering: ${reply.error.message}`;
  if (reply.error?.kind === "network") return `the connection failed: ${reply.error.message}`;
  if (reply.error) return null;
  const body = reply.body ?? "";
  for (const [pattern, what] of LEAKS) if (pattern.test(body) || pattern.test(reply.text)) return `${reply.status >= 400 ? `error body (status ${reply.status})` : "answer"} exposes ${what}`;
  if (reply.status >= 500) return `server error (status ${reply.status})`;
  if (reply.body !== undefined && /json/i.test(reply.contentType ?? "")) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(reply.body);
    } catch {
      return `status ${reply.status} with a body declared as JSON that does not parse`;
    }
    const record = parsed !== null && typeof parsed === "object" ? (parsed as Record<string, unknown>) : {};
    if (reply.status < 400 && "error" in record) return `status ${reply.status} but the body is an error`;
    if (reply.status >= 400 && "choices" in record) return `status ${reply.status} but the body is a normal answer`;
  }
  return null;
}
