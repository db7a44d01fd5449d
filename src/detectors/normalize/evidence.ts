/** Short, safe renderings of user text for finding evidence: quoted, escaped, truncated. */

const EVIDENCE_LIMIT = 80;

/** JSON-quoted (so invisible and control characters show as escapes) and cut to a readable length. */
export function quote(text: string, limit = EVIDENCE_LIMIT): string {
  const cut = [...text.slice(0, limit * 2)].slice(0, limit).join("");
  const quoted = JSON.stringify(cut).replace(/[\u0080-\u009f\u00ad\u061c\u200b-\u200f\u202a-\u202e\u2060-\u206f\ufeff]/g, (char) => `\\u${char.charCodeAt(0).toString(16).padStart(4, "0")}`);
  return cut.length < text.length ? `${quoted}...` : quoted;
}

export function describeHidden(hidden: readonly string[]): string {
  if (hidden.length === 0) return "nothing printable";
  const joined = hidden.join(" | ");
  return quote(joined);
}
