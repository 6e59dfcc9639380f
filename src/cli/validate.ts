/**
 * `canary-exporter validate -c config.yaml`: checks a config without touching the network and
 * shows what would run. Exit code 0 when the config can run in this build, 1 otherwise.
 */
import {
  ConfigError,
  describeQueue,
  effectiveConfigYaml,
  IMPLEMENTED_OUTPUTS,
  loadConfig,
} from "../config/index.js";

export async function validateCommand(opts: {
  configPath: string;
  out: NodeJS.WritableStream;
  err: NodeJS.WritableStream;
  /** The output types this build runs (tests pass a smaller set). */
  implementedOutputs?: ReadonlySet<string>;
}): Promise<number> {
  try {
    // Outputs this build cannot run are errors here, with their line, as `run` refuses them.
    const cfg = await loadConfig(opts.configPath, {
      implementedOutputs: opts.implementedOutputs ?? IMPLEMENTED_OUTPUTS,
    });
    opts.out.write(
      `${opts.configPath}: OK\n` +
        `queue: ${describeQueue(cfg)}\n` +
        "# effective configuration: defaults filled in, secrets shown as ***\n" +
        effectiveConfigYaml(cfg),
    );
    return 0;
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    opts.err.write(`${err.format()}\n`);
    return 1;
  }
}
