import { Router, Request } from "express";
import { z } from "zod";
import { Principal, ROLES } from "../auth";
import { defineRoute } from "../http";
import { Services } from "../../services/context";

type Auth = (req: Request) => Promise<Principal | null>;

/**
 * Names for people: the console shows merchants by name (and number) and banks by their bank name. What it returns is
 * public anyway (the public look-up shows it to anyone), so any signed-in party may read it.
 */
export function directoryRoutes(router: Router, s: Services, auth: Auth) {
  defineRoute(router, {
    method: "get", path: "/v1/directory/merchants", tag: "system", summary: "Read merchants' names, districts and registration numbers",
    roles: [...ROLES],
    query: z.object({
      ids: z.string().regex(/^\d{1,10}(,\d{1,10}){0,499}$/, "up to 500 merchant ids, comma-separated"),
    }).strict(),
    responds: "{ items: [{ merchantId, name, district, registrationNumber }] } for the ids that have a profile",
    handler: async ({ query }) => {
      const ids = [...new Set(query.ids.split(",").map(Number))];
      const rows = await s.db.query("SELECT merchant_id, name, district, registration_number FROM merchant_profiles WHERE merchant_id = ANY($1::bigint[]) ORDER BY merchant_id", [ids]);
      return { items: rows.map((r) => ({ merchantId: Number(r.merchant_id), name: r.name, district: r.district ?? null, registrationNumber: r.registration_number })) };
    },
  }, auth);

  defineRoute(router, {
    method: "get", path: "/v1/directory/banks", tag: "system", summary: "Read the custodian banks' names",
    roles: [...ROLES],
    responds: "{ items: [{ bankId, name }] }",
    handler: async () => ({ items: s.deployment.banks.map((b) => ({ bankId: b.bankId, name: b.name })) }),
  }, auth);
}
