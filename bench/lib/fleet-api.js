/**
 * An in-process RedCanaryApi (src/enrich/types.ts) over a fleet, for micro-benchmarks that must
 * not start servers. Its resources have the shape the API stand-in serves
 * (src/local/redcanary-standin.ts), so the merged metadata has the same size; a last check-in
 * time is fixed instead of derived from the server's start.
 */
export function fleetApi(fleet) {
  const resources = fleet.map(resourceOf);
  const byId = new Map(resources.map((r) => [r.id, r]));
  return {
    requests: 0,
    async getEndpoint(id) {
      this.requests++;
      return byId.get(id) ?? null;
    },
    async listEndpoints(page, perPage) {
      this.requests++;
      const endpoints = resources.slice((page - 1) * perPage, page * perPage);
      return { endpoints, totalItems: resources.length };
    },
  };
}

function resourceOf(s) {
  const octets = s.ip_address.split(".");
  return {
    id: String(s.sensor_id),
    attributes: {
      hostname: s.hostname,
      platform: s.platform,
      operating_system: s.operating_system,
      is_isolated: false,
      is_decommissioned: false,
      monitoring_status: "online",
      endpoint_status: "active",
      last_checkin_time: new Date(
        Date.UTC(2024, 7, 22) - (s.sensor_id % 3600) * 1000,
      ).toISOString(),
      endpoint_network_addresses: [
        {
          attributes: {
            ip_address: {
              type: "primitives.IpAddress",
              attributes: {
                ip_address: s.ip_address,
                ip_address_defanged: `${octets.slice(0, -1).join(".")}[.]${octets.at(-1)}`,
                "ip_address_matches_rfc_1918?": true,
                "ip_address_matches_rfc_4193?": false,
                "ip_address_is_link_local?": false,
                ip_address_reverse_dns: null,
              },
            },
            mac_address: { type: "primitives.MacAddress", attributes: { address: s.mac_address } },
          },
        },
      ],
    },
  };
}
