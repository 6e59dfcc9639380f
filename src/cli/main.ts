#!/usr/bin/env node
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";

const HELP = `canary-exporter: moves Red Canary telemetry (SQS + S3) to files, S3, Kinesis, Azure Blob,
Google Cloud Storage and Pub/Sub.

Usage:
  canary-exporter [run] [-c config.yaml]     run the exporter until SIGTERM/SIGINT
  canary-exporter validate -c config.yaml    check a config, print the effective one (secrets ***)
  canary-exporter demo [--files N] [--records N] [--dir DIR]
                                             local end-to-end demo: no cloud account needed
  canary-exporter local-stack [--port 4566] [--api-port 4567]
                                             start a local SQS/SNS/S3 with Red Canary's queues,
                                             and a local Red Canary API for enrichment
  canary-exporter simulate [--format F] [--files N] [--records N] [--seed N]
                                             upload simulated telemetry to the local stack
  canary-exporter --version | --help

The config file is -c, else $CANARY_EXPORTER_CONFIG, else ./config.yaml, else /config.yaml.
AWS endpoints follow the SDK's variables (AWS_ENDPOINT_URL, AWS_ENDPOINT_URL_SQS, _S3).
`;

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as {
    version: string;
  };
  return pkg.version;
}

async function main(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    strict: true,
    options: {
      config: { type: "string", short: "c" },
      help: { type: "boolean", short: "h" },
      version: { type: "boolean", short: "v" },
      port: { type: "string" },
      "api-port": { type: "string" },
      customer: { type: "string" },
      namespace: { type: "string" },
      "raw-delivery": { type: "boolean" },
      endpoint: { type: "string" },
      format: { type: "string" },
      files: { type: "string" },
      records: { type: "string" },
      seed: { type: "string" },
      dir: { type: "string" },
    },
  });
  if (values.help) {
    process.stdout.write(HELP);
    return 0;
  }
  if (values.version) {
    process.stdout.write(`${version()}\n`);
    return 0;
  }
  const command = positionals[0] ?? "run";
  const num = (s: string | undefined) => (s === undefined ? undefined : Number(s));
  switch (command) {
    case "run": {
      const { runCommand, resolveConfigPath } = await import("./run.js");
      return runCommand({ configPath: resolveConfigPath(values.config), err: process.stderr });
    }
    case "validate": {
      const { validateCommand } = await import("./validate.js");
      const { resolveConfigPath } = await import("./run.js");
      return validateCommand({
        configPath: resolveConfigPath(values.config),
        out: process.stdout,
        err: process.stderr,
      });
    }
    case "demo": {
      const { demoCommand } = await import("./demo.js");
      return demoCommand({
        files: num(values.files),
        records: num(values.records),
        dir: values.dir,
        out: process.stdout,
      });
    }
    case "local-stack": {
      const { localStackCommand } = await import("./local-stack.js");
      return localStackCommand({
        port: num(values.port) ?? 4566,
        apiPort: num(values["api-port"]),
        customer: values.customer ?? "demo",
        namespace: values.namespace ?? "demo-ns",
        rawDelivery: values["raw-delivery"] ?? false,
        out: process.stdout,
      });
    }
    case "simulate": {
      const { simulateCommand } = await import("./simulate.js");
      return simulateCommand({
        endpoint: values.endpoint,
        format: values.format,
        files: num(values.files),
        records: num(values.records),
        seed: num(values.seed),
        ...(values.namespace ? { namespace: values.namespace } : {}),
        out: process.stdout,
      });
    }
    default:
      process.stderr.write(`unknown command "${command}"\n\n${HELP}`);
      return 2;
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
    // Everything is closed by now; an idle keep-alive socket of an SDK client must not keep
    // the process up. The timer lets piped stdout drain first.
    setTimeout(() => process.exit(code), 1000).unref();
  },
  (err: unknown) => {
    const missingDevDependency =
      (err as { code?: string }).code === "ERR_MODULE_NOT_FOUND" && String(err).includes("fauxqs");
    const message = missingDevDependency
      ? "this command needs the development dependencies (the local SQS/SNS/S3 server): run it from a clone of the repository after `npm ci`"
      : err instanceof Error
        ? err.message
        : String(err);
    process.stderr.write(`canary-exporter: ${message}\n`);
    process.exitCode = 1;
  },
);
