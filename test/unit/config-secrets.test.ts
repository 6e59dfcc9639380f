import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { validateCommand } from "../../src/cli/validate.js";
import { issuesOf } from "../helpers/config.js";

const HEADER = `customer_identifier: demo
input:
  stream_name: native
`;
const FILE_OUTPUT = "outputs:\n  - file:\n      directory: out\n";

describe("secrets", () => {
  const SECRET = "Zq9SECRETvalue/ShouldNeverShow+42";

  const leaks: Array<[string, string, Record<string, string>?]> = [
    ["a secret of the wrong type", `${HEADER}  aws_secret_access_key: [${SECRET}]\n${FILE_OUTPUT}`],
    [
      "a secret pasted into a plain field",
      `${HEADER}  aws_region: ${SECRET}\n  aws_access_key_id: a\n  aws_secret_access_key: b\n${FILE_OUTPUT}`,
    ],
    [
      "a secret as a stream name",
      `customer_identifier: demo\ninput: {stream_name: ${SECRET}}\n${FILE_OUTPUT}`,
    ],
    ["a secret under an unknown key", `${HEADER}  aws_secret_acess_key: ${SECRET}\n${FILE_OUTPUT}`],
    [
      "a syntax error on the secret's line",
      `${HEADER}  aws_secret_access_key: "${SECRET}\n${FILE_OUTPUT}`,
    ],
    [
      "a stray token holding the secret",
      `${HEADER}  aws_secret_access_key: 'x'${SECRET}'\n${FILE_OUTPUT}`,
    ],
    ["a secret in a bad tag", `${HEADER}  aws_secret_access_key: !<${SECRET}> x\n${FILE_OUTPUT}`],
    [
      "two different tokens",
      `${HEADER}  red_canary_authentication_token: ${SECRET}\nred_canary_authentication_token: other\n${FILE_OUTPUT}`,
    ],
    [
      "a secret from the environment that is half a pair",
      `${HEADER}  aws_secret_access_key: \${AWS_SECRET}\n${FILE_OUTPUT}`,
      { AWS_SECRET: SECRET },
    ],
    [
      "a secret with a bad variable reference in it",
      `${HEADER}  aws_secret_access_key: "${SECRET}\${"\n${FILE_OUTPUT}`,
    ],
    [
      "a secret around a placeholder",
      `${HEADER}  aws_secret_access_key: "${SECRET}<<<<>>>>"\n${FILE_OUTPUT}`,
    ],
    [
      "credentials_json that does not parse",
      `${HEADER}outputs:\n  - google_cloud_pubsub: {topic_name: t, credentials_json: '{${SECRET}'}\n`,
    ],
    [
      "an Azure key with a bad account name",
      `${HEADER}outputs:\n  - azure_blob: {storage_account_name: ${SECRET}, container_name: c, storage_access_key: ${SECRET}}\n`,
    ],
  ];

  it.each(leaks)("never appear in an error message: %s", (_name, text, env = {}) => {
    const issues = issuesOf(text, env);

    expect(issues.length).toBeGreaterThan(0);
    expect(issues.join("\n")).not.toContain(SECRET);
    expect(issues.join("\n")).not.toContain("ShouldNeverShow");
  });

  it("never appear in validate's output", async () => {
    const dir = await mkdtemp(join(tmpdir(), "config-secrets-"));
    try {
      const good = join(dir, "good.yaml");
      await writeFile(
        good,
        `${HEADER}  aws_access_key_id: ${SECRET}1\n  aws_secret_access_key: ${SECRET}2\nred_canary_authentication_token: ${SECRET}3\n${FILE_OUTPUT}`,
      );
      const bad = join(dir, "bad.yaml");
      await writeFile(
        bad,
        `${HEADER}  aws_secret_access_key: ${SECRET}\n  wait_time_seconds: 99\n${FILE_OUTPUT}`,
      );
      for (const configPath of [good, bad]) {
        const chunks: string[] = [];
        const stream = {
          write: (c: string) => chunks.push(c) > 0,
        } as unknown as NodeJS.WritableStream;

        await validateCommand({ configPath, out: stream, err: stream });

        expect(chunks.join("")).not.toContain("ShouldNeverShow");
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
