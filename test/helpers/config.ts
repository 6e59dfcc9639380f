import { expect } from "vitest";
import { ConfigError, type ExporterConfig, parseConfig } from "../../src/config/index.js";

/** Parses config text as `config.yaml` with only the given environment. */
export function parse(text: string, env: Record<string, string> = {}): ExporterConfig {
  return parseConfig(text, "config.yaml", { env });
}

/** The lines a ConfigError prints for `text`; fails the test when the config is accepted. */
export function issuesOf(
  text: string,
  env: Record<string, string> = {},
  implementedOutputs?: ReadonlySet<string>,
): string[] {
  try {
    parseConfig(text, "config.yaml", { env, implementedOutputs });
  } catch (err) {
    if (err instanceof ConfigError) {
      // format() and the issue list say the same thing.
      expect(err.message).toBe(err.format());
      return err.format().split("\n");
    }
    throw err;
  }
  throw new Error("expected a ConfigError");
}
