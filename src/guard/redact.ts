/** Applying redactions: replace spans right to left so earlier offsets stay valid. */
import type { Redaction } from "./types.js";

/** Keeps the first of overlapping redactions (sorted by start, longest first) so no text is rewritten twice. */
export function applyRedactions(text: string, redactions: readonly Redaction[]): { text: string; applied: Redaction[] } {
  const sorted = [...redactions].sort((a, b) => a.span.start - b.span.start || b.span.end - a.span.end);
  const applied: Redaction[] = [];
  let coveredTo = -1;
  for (const redaction of sorted) {
    if (redaction.span.start < coveredTo) {
      if (redaction.span.end > coveredTo) {
        // Overlap that reaches further: widen the previous redaction rather than leak the tail.
        const previous = applied.pop()!;
        applied.push({ ...previous, span: { start: previous.span.start, end: redaction.span.end } });
        coveredTo = redaction.span.end;
      }
      continue;
    }
    applied.push(redaction);
    coveredTo = redaction.span.end;
  }
  let result = text;
  for (let i = applied.length - 1; i >= 0; i--) {
    const { span, replacement } = applied[i]!;
    result = result.slice(0, span.start) + replacement + result.slice(span.end);
  }
  return { text: result, applied };
}
