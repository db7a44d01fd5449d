/**
 * Rows in PostgreSQL's COPY text format, for loading events with COPY (cheaper than a
 * many-row INSERT: no statement of thousands of parameters to build, send and parse).
 * Each value is written as the INSERT path's driver would send it as a parameter,
 * so a row stores the same either way.
 */

/** One row: the values in column order, tab-separated, ending in a newline. */
export function copyRow(values: readonly unknown[]): string {
  let line = "";
  for (let i = 0; i < values.length; i++) line += (i === 0 ? "" : "\t") + copyValue(values[i]);
  return line + "\n";
}

/** null and undefined are NULL (\N); booleans t and f; arrays as array literals; anything else as its string. */
export function copyValue(value: unknown): string {
  if (value === null || value === undefined) return "\\N";
  if (typeof value === "boolean") return value ? "t" : "f";
  if (Array.isArray(value)) return escape(arrayLiteral(value));
  return escape(String(value));
}

/** An array literal with every element quoted (so commas, braces, quotes and spaces stay in the element). */
function arrayLiteral(values: readonly unknown[]): string {
  return `{${values.map((value) => (value === null || value === undefined ? "NULL" : `"${String(value).replace(/[\\"]/g, "\\$&")}"`)).join(",")}}`;
}

const SPECIAL = /[\\\n\r\t]/;
const SPECIALS = /[\\\n\r\t]/g;
const ESCAPES: Readonly<Record<string, string>> = { "\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t" };

/** Backslash, newline, carriage return and tab are the characters COPY's text format gives a meaning. */
function escape(text: string): string {
  return SPECIAL.test(text) ? text.replace(SPECIALS, (c) => ESCAPES[c]!) : text;
}
