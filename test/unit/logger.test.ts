import { Writable } from "node:stream";
import { describe, expect, it } from "vitest";
import { createLogger } from "../../src/telemetry/logger.js";

describe("logger", () => {
  it("redacts secret keys at the top level and one level down", () => {
    let text = "";
    const sink = new Writable({
      write(chunk, _enc, done) {
        text += chunk.toString();
        done();
      },
    });
    const logger = createLogger("info", sink);
    logger.info(
      {
        aws_secret_access_key: "TOPSECRET-1",
        input: { red_canary_authentication_token: "TOPSECRET-2" },
      },
      "hello",
    );
    expect(text).toContain('"msg":"hello"');
    expect(text).toContain('"aws_secret_access_key":"***"');
    expect(text).not.toContain("TOPSECRET");
  });
});
