import { describe, expect, it } from "vitest";
import { issuesOf, parse } from "../helpers/config.js";

const HEADER = `customer_identifier: demo
input:
  stream_name: standardized
`;

describe("endpoint_enrichment", () => {
  it("has documented defaults when a token is set", () => {
    const cfg = parse(`${HEADER}red_canary_authentication_token: key-1234567890
outputs: [{file: {directory: out, export_only_where: {endpoint_metadata.platform: [Windows]}}}]
`);
    expect(cfg.endpoint_enrichment).toEqual({
      match: "id",
      merge_key: "endpoint_metadata",
      on_api_failure: "wait",
      cache_ttl_seconds: 3600,
      negative_cache_ttl_seconds: 300,
      prefetch: true,
      per_page: 1000,
      requests_per_second: 10,
      requests_per_minute: 20,
      timeout_seconds: 10,
    });
  });

  it("takes every setting", () => {
    const cfg = parse(`${HEADER}red_canary_authentication_token: key-1234567890
endpoint_enrichment:
  api_url: http://127.0.0.1:8080/openapi/v3/
  join_field: device.id
  match: hostname
  merge_key: rc_endpoint
  on_api_failure: export_unenriched
  cache_ttl_seconds: 60
  negative_cache_ttl_seconds: 30
  prefetch: false
  per_page: 50
  requests_per_second: 5
  requests_per_minute: 10
  timeout_seconds: 3
outputs: [{file: {directory: out, export_only_where: {rc_endpoint.platform: [Linux]}}}]
`);
    expect(cfg.endpoint_enrichment).toMatchObject({
      api_url: "http://127.0.0.1:8080/openapi/v3/",
      join_field: "device.id",
      match: "hostname",
      merge_key: "rc_endpoint",
      on_api_failure: "export_unenriched",
      prefetch: false,
      requests_per_minute: 10,
    });
  });

  it("is refused without a token, as are filters on endpoint fields", () => {
    expect(
      issuesOf(`${HEADER}endpoint_enrichment: {on_api_failure: wait}
outputs:
  - file:
      directory: out
      export_only_where:
        endpoint_metadata.platform: [Windows]
        event_type_cd: [process_start]
`),
    ).toEqual([
      "config.yaml:4:1: endpoint_enrichment: has no effect without a Red Canary API key: set red_canary_authentication_token (top level or under input:) to enable endpoint enrichment",
      'config.yaml:9:9: outputs[0].file.export_only_where["endpoint_metadata.platform"]: filters on endpoint metadata, which is only there with enrichment: set red_canary_authentication_token (top level or under input:) to enable endpoint enrichment',
    ]);
  });

  it("checks its values", () => {
    expect(
      issuesOf(`${HEADER}red_canary_authentication_token: key-1234567890
endpoint_enrichment:
  on_api_failure: drop
  merge_key: "a.b"
  api_url: ftp://x
outputs: [{file: {directory: out}}]
`),
    ).toEqual([
      'config.yaml:6:19: endpoint_enrichment.on_api_failure: expected "wait" or "export_unenriched", got "drop"',
      'config.yaml:7:14: endpoint_enrichment.merge_key: expected a field name such as endpoint_metadata, got "a.b"',
      'config.yaml:8:12: endpoint_enrichment.api_url: expected an http(s) URL ending in /openapi/v3/, got "ftp://x"',
    ]);
  });
});

describe("input.s3_select_where", () => {
  it("accepts the guide's example and defaults to s3_select_mode auto", () => {
    const cfg =
      parse(`${HEADER}  s3_select_where: "S3Object.data.data.entries[0].event_type_full IN ('process_event', 'image_load_event')"
outputs: [{file: {directory: out}}]
`);
    expect(cfg.input.s3_select_where).toContain("IN ('process_event'");
    expect(cfg.input.s3_select_mode).toBe("auto");
  });

  it("refuses a clause the local evaluator cannot apply, at the character of the problem", () => {
    expect(
      issuesOf(`${HEADER}  s3_select_where: "s.event_type_cd = 'process_start' AND LOWER(s.hostname) = 'x'"
  s3_select_mode: sometimes
outputs: [{file: {directory: out}}]
`),
    ).toEqual([
      `config.yaml:4:20: input.s3_select_where: at character 39 (…'process_start' AND ⟨here⟩LOWER(s.hostname) = …): the function LOWER is not supported by canary-exporter's local evaluator; supported: paths (a.b, a[0], "Quoted"), literals ('text', 12, -1.5, TRUE, FALSE, NULL), =, <>, !=, <, <=, >, >=, [NOT] IN (literals), [NOT] BETWEEN, [NOT] LIKE [ESCAPE], IS [NOT] NULL, IS [NOT] MISSING, AND, OR, NOT and parentheses`,
      'config.yaml:5:19: input.s3_select_mode: expected "auto", "s3" or "local", got "sometimes"',
    ]);
  });
});

describe("the API host", () => {
  it("must be derivable from customer_identifier unless api_url is set", () => {
    expect(
      issuesOf(`customer_identifier: acme_corp
input: {stream_name: native}
red_canary_authentication_token: key-1234567890
outputs: [{file: {directory: out}}]
`),
    ).toEqual([
      "config.yaml:1:22: customer_identifier: cannot name the Red Canary API host (<customer_identifier>.my.redcanary.co needs letters, digits and inner hyphens); set endpoint_enrichment.api_url to your API's URL",
    ]);
    expect(
      parse(`customer_identifier: acme_corp
input: {stream_name: native}
red_canary_authentication_token: key-1234567890
endpoint_enrichment: {api_url: "https://acme.my.redcanary.co/openapi/v3/"}
outputs: [{file: {directory: out}}]
`).endpoint_enrichment.api_url,
    ).toBe("https://acme.my.redcanary.co/openapi/v3/");
  });
});
