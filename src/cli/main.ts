/**
 * cli/: the `bulwark` command. main.ts builds the program; each command lives in
 * its own file, exports `register(program)`, and stays thin: parse arguments,
 * call the library, print. Human messages go to stderr, data to stdout.
 */
import { Command, CommanderError } from "commander";
import { VERSION } from "../version.js";
import { register as registerCheck } from "./check.js";
import { register as registerInit } from "./init.js";
import { register as registerPolicy } from "./policy.js";
import { register as registerTrain } from "./train.js";
import { register as registerEval } from "./eval.js";
import { register as registerServe } from "./serve.js";
import { register as registerAudit } from "./audit.js";
import { register as registerKeys } from "./keys.js";
import { register as registerThreats } from "./threats.js";
import { register as registerScan } from "./scan.js";
import { register as registerDemo } from "./demo.js";

/** Runs the CLI and resolves to the process exit code. */
export async function main(argv: readonly string[]): Promise<number> {
  const program = new Command("bulwark")
    .description("Guard LLM applications and agents against hostile input.")
    .version(VERSION)
    .showHelpAfterError("(run with --help for usage)")
    .exitOverride();
  const commands: Array<(program: Command) => void> = [registerCheck, registerInit, registerPolicy, registerServe, registerAudit, registerKeys, registerThreats, registerTrain, registerEval, registerScan, registerDemo];
  for (const register of commands) register(program);
  try {
    await program.parseAsync(argv);
    return typeof process.exitCode === "number" ? process.exitCode : 0;
  } catch (error) {
    if (error instanceof CommanderError) return error.exitCode === 0 ? 0 : 2;
    throw error;
  }
}
