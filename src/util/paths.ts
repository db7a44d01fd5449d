/** Files that ship with the package (data/, schema/), found the same way from src/ (tsx) and dist/ (built). */
import { fileURLToPath } from "node:url";

// This module sits two folders below the package root in both src/util and dist/util.
const ROOT = new URL("../../", import.meta.url);

export function packagePath(...segments: string[]): string {
  return fileURLToPath(new URL(segments.join("/"), ROOT));
}
