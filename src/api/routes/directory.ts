import { Router } from "express";
import { z } from "zod";
import { ROLES } from "../auth";
import { list } from "../answers";
import { Gate, defineRoute } from "../http";
import { Services } from "../../services/context";
import { profilesOf } from "../../store/merchants";

/**
 * Names for people: the console shows merchants by name (and number) and banks by their bank name. What it returns is
 * public anyway (the public look-up shows it to anyone), so any signed-in party may read it.
 */
export function directoryRoutes(router: Router, s: Services, gate: Gate) {
  const everyone = {
    roles: Object.fromEntries(ROLES.map((r) => [r, "any"])),
    notes: Object.fromEntries(ROLES.map((r) => [r, "names, districts and registration numbers: what the public look-up shows anyone"])),
  };
  defineRoute(router, {
    method: "get", path: "/v1/directory/merchants", tag: "system", summary: "Read merchants' names, districts and registration numbers",
    access: everyone,
    query: z.object({
      ids: z.string().regex(/^\d{1,10}(,\d{1,10}){0,499}$/, "up to 500 merchant ids, comma-separated"),
    }).strict(),
    responds: "{ items: [{ merchantId, name, district, registrationNumber }] } for the ids that have a profile",
    response: list(z.object({ merchantId: z.number(), name: z.string().nullable(), district: z.string().nullable(), registrationNumber: z.string().nullable() })),
    handler: async ({ query }) => {
      const ids = [...new Set(query.ids.split(",").map(Number))];
      const rows = await profilesOf(s.db, ids);
      return { items: rows.map((r) => ({ merchantId: Number(r.merchant_id), name: r.name, district: r.district ?? null, registrationNumber: r.registration_number })) };
    },
  }, gate);

  defineRoute(router, {
    method: "get", path: "/v1/directory/banks", tag: "system", summary: "Read the custodian banks' names",
    access: everyone,
    responds: "{ items: [{ bankId, name }] }",
    response: list(z.object({ bankId: z.number(), name: z.string() })),
    handler: async () => ({ items: s.deployment.banks.map((b) => ({ bankId: b.bankId, name: b.name })) }),
  }, gate);
}
