/** Shared CLI output helpers: tables for people, JSON lines for machines. */
import Table from "cli-table3";

export type OutputFormat = "json" | "table";

/** Table when stdout is a terminal, JSON lines otherwise, unless the user chose. */
export function resolveFormat(requested: string | undefined): OutputFormat {
  if (requested === "json" || requested === "table") return requested;
  return process.stdout.isTTY ? "table" : "json";
}

export function renderTable(head: readonly string[], rows: ReadonlyArray<readonly (string | number)[]>): string {
  const table = new Table({ head: [...head], style: { head: process.stdout.isTTY ? ["cyan"] : [], border: [] }, wordWrap: true });
  for (const row of rows) table.push(row.map(String));
  return table.toString();
}

/** Writes to stdout and waits for the pipe, so large outputs are not cut off at exit. */
export function writeOut(text: string): Promise<void> {
  return new Promise((resolve, reject) => {
    process.stdout.write(text, (error) => (error ? reject(error) : resolve()));
  });
}

export function stderr(line: string): void {
  process.stderr.write(line + "\n");
}
