/**
 * cli/: the `bulwark` command. main.ts builds the program; each command lives in
 * its own file, exports `register(program)`, and stays thin: parse arguments,
 * call the library, print. Human messages go to stderr, data to stdout.
 *
 * Command modules are imported only when their command runs (the guard's rule
 * sets, the scanner's catalogue and the gateway take a while to load), so
 * `bulwark check` does not pay for `bulwark serve`. Help without a command loads
 * them all to list them.
 */
import { Command, CommanderError } from "commander";
import { VERSION } from "../version.js";

interface CommandModule {
  register(program: Command): void;
}

/** Command name (first argument) -> the module that registers it. */
const COMMANDS: Record<string, () => Promise<CommandModule>> = {
  check: () => import("./check.js"),
  init: () => import("./init.js"),
  policy: () => import("./policy.js"),
  serve: () => import("./serve.js"),
  audit: () => import("./audit.js"),
  keys: () => import("./keys.js"),
  threats: () => import("./threats.js"),
  report: () => import("./report.js"),
  train: () => import("./train.js"),
  eval: () => import("./eval.js"),
  scan: () => import("./scan.js"),
  "scan-worker": () => import("./scan.js"),
  demo: () => import("./demo.js"),
};

/** Runs the CLI and resolves to the process exit code. */
export async function main(argv: readonly string[]): Promise<number> {
  const program = new Command("bulwark")
    .description("Guard LLM applications and agents against hostile input.")
    .version(VERSION)
    .showHelpAfterError("(run with --help for usage)")
    // Descriptions are written as lines in the source; Commander wraps each line on its own, which leaves
    // ragged breaks. Joined into paragraphs first, they wrap to the terminal's width.
    .configureHelp({ commandDescription: (command) => reflow(command.description()) })
    .exitOverride();
  const first = argv[2];
  const requested = first !== undefined ? COMMANDS[first] : undefined;
  const versionOnly = first === "-V" || first === "--version";
  const loaders = requested ? [requested] : versionOnly ? [] : [...new Set(Object.values(COMMANDS))];
  const modules = await Promise.all(loaders.map((load) => load()));
  for (const module of new Set(modules)) module.register(program);
  try {
    await program.parseAsync(argv);
    return typeof process.exitCode === "number" ? process.exitCode : 0;
  } catch (error) {
    if (error instanceof CommanderError) return error.exitCode === 0 ? 0 : 2;
    throw error;
  }
}

/**
 * Joins the lines of each paragraph of `text` into one line; a blank line separates paragraphs, and a line
 * that starts with a space or a list mark (- * •) keeps its own line.
 */
export function reflow(text: string): string {
  const out: string[] = [];
  for (const line of text.split("\n")) {
    const previous = out.length > 0 ? out[out.length - 1]! : "";
    if (line !== "" && previous !== "" && !/^[\s*•-]/.test(line)) out[out.length - 1] = `${previous} ${line}`;
    else out.push(line);
  }
  return out.join("\n");
}
