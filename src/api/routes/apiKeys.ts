import { Router } from "express";
import { z } from "zod";
import { list } from "../answers";
import { ROLES, Role, issueApiKey, revokeApiKey } from "../auth";
import { Access } from "../access";
import { Gate, defineRoute, withStatus } from "../http";
import { Services } from "../../services/context";
import { Db } from "../../store/db";
import { apiKeyById, listApiKeys, merchantKey, merchantKeys } from "../../store/apiKeys";
import { bankExists } from "../../store/banks";
import { merchantExists } from "../../store/merchants";
import { ApiError } from "../errors";

type Auth = Gate;

/**
 * What a key's subject must be for its role, checked against the index: a bank id or merchant id the index knows,
 * an account address for regulators and consumers, nothing for auditors. Returns the subject as stored, or a
 * reason it is refused. Shared by the API and the operator CLI.
 */
export async function checkKeySubject(db: Pick<Db, "query">, role: Role, subject: string | null | undefined): Promise<{ subject: string | null } | { problem: string }> {
  const s = subject === undefined || subject === null || subject === "" ? null : String(subject).trim();
  switch (role) {
    case "auditor":
      return s === null ? { subject: null } : { problem: "an auditor's key has no subject" };
    case "bank":
    case "merchant": {
      if (s === null || !/^\d{1,10}$/.test(s)) return { problem: `a ${role}'s key needs the ${role} id (a whole number)` };
      const known = role === "bank" ? await bankExists(db, Number(s)) : await merchantExists(db, Number(s));
      if (!known) return { problem: `no ${role} ${s} in the index` };
      return { subject: String(Number(s)) };
    }
    case "platform_regulator":
    case "industry_regulator":
    case "consumer":
      if (s === null || !/^0x[0-9a-fA-F]{40}$/.test(s)) return { problem: `a ${role}'s key needs its chain account (0x and 40 hex digits)` };
      return { subject: s.toLowerCase() };
    default:
      return { problem: `unknown role ${role as string}` };
  }
}

/** Issuing and revoking API keys: the platform regulator's (the market regulation bureau's) job. */
export function apiKeyRoutes(router: Router, s: Services, auth: Auth) {
  defineRoute(router, {
    method: "post", path: "/v1/api-keys", tag: "system", summary: "Issue an API key", response: z.object({ id: z.string(), key: z.string(), role: z.string(), subject: z.string().nullable(), label: z.string() }), statuses: [201],
    responds: "201 with the key, shown this once (only its hash is stored)",
    access: { roles: { platform_regulator: "any" } },
    body: z.object({
      role: z.enum(ROLES),
      subject: z.union([z.string().max(64), z.number().int().min(1)]).nullable().optional(),
      label: z.string().min(1).max(200),
    }).strict(),
    handler: async ({ body }) => {
      const checked = await checkKeySubject(s.db, body.role, body.subject === undefined || body.subject === null ? null : String(body.subject));
      if ("problem" in checked) throw new ApiError(400, "InvalidRequest", "the request has invalid fields", [{ field: "body.subject", reason: checked.problem }]);
      const { id, key } = await issueApiKey(s.db, { role: body.role, subject: checked.subject, label: body.label });
      return withStatus(201, { id, key, role: body.role, subject: checked.subject, label: body.label });
    },
  }, auth);

  defineRoute(router, {
    method: "get", path: "/v1/api-keys", tag: "system", summary: "List API keys (never the secrets)", response: list(z.object({ id: z.string(), role: z.string(), subject: z.string().nullable(), label: z.string(), createdAt: z.string().nullable(), revokedAt: z.string().nullable() })),
    access: { roles: { platform_regulator: "any" } },
    query: z.object({ role: z.enum(ROLES).optional(), includeRevoked: z.enum(["true", "false"]).default("false") }).strict(),
    handler: async ({ query }) => {
      const rows = await listApiKeys(s.db, { role: query.role ?? null, includeRevoked: query.includeRevoked === "true" });
      const iso = (v: unknown) => (v === null || v === undefined ? null : new Date(v as string).toISOString());
      return { items: rows.map((r) => ({ id: r.id, role: r.role, subject: r.subject, label: r.label, createdAt: iso(r.created_at), revokedAt: iso(r.revoked_at) })) };
    },
  }, auth);

  defineRoute(router, {
    method: "post", path: "/v1/api-keys/:keyId/revoke", tag: "system", summary: "Revoke an API key", response: z.object({ id: z.string(), revoked: z.literal(true) }),
    responds: "the key stops working within the authenticator's cache time (5 s)",
    access: { roles: { platform_regulator: "any" } }, params: z.object({ keyId: z.string().regex(/^[0-9a-f]{12}$/, "a key id is 12 hex digits (ck_<id>_…)") }).strict(),
    handler: async ({ params, principal }) => {
      if (params.keyId === principal!.keyId) throw new ApiError(409, "OwnKey", "a key cannot revoke itself; use another platform regulator key");
      const done = await revokeApiKey(s.db, params.keyId);
      if (!done) {
        if (!(await apiKeyById(s.db, params.keyId))) throw new ApiError(404, "UnknownApiKey", `no API key ${params.keyId}`);
        throw new ApiError(409, "AlreadyRevoked", `API key ${params.keyId} is already revoked`);
      }
      return { id: params.keyId, revoked: true };
    },
  }, auth);

  // A merchant's own staff keys: the front desk and the coaches each sign in with a key of their own, which the
  // merchant issues and revokes itself (always a merchant key for that merchant: nobody else's data is reachable).
  const staff: Access = { roles: { merchant: "own", platform_regulator: "any" }, tenant: { merchant: "params.merchantId" } };
  const mid = z.object({ merchantId: z.coerce.number({ message: "merchantId is a whole number" }).int().min(1).max(2 ** 32 - 1) }).strict();
  const staffKey = z.object({ id: z.string(), label: z.string(), createdAt: z.string().nullable(), revokedAt: z.string().nullable() });
  const iso = (v: unknown) => (v === null || v === undefined ? null : new Date(v as string).toISOString());

  defineRoute(router, {
    method: "get", path: "/v1/merchants/:merchantId/staff-keys", tag: "merchants", summary: "List a merchant's staff keys (never the secrets)",
    response: list(staffKey), access: staff, params: mid,
    handler: async ({ params }) => {
      const rows = await merchantKeys(s.db, params.merchantId);
      return { items: rows.map((r) => ({ id: r.id, label: r.label, createdAt: iso(r.created_at), revokedAt: iso(r.revoked_at) })) };
    },
  }, auth);

  defineRoute(router, {
    method: "post", path: "/v1/merchants/:merchantId/staff-keys", tag: "merchants", summary: "Issue a staff key for the merchant",
    responds: "201 with the key, shown this once: a merchant key for this merchant, labelled with who holds it",
    response: z.object({ id: z.string(), key: z.string(), label: z.string() }), statuses: [201], access: staff, params: mid,
    body: z.object({ label: z.string().trim().min(1, "who holds the key, e.g. 前台 王芳").max(200) }).strict(),
    handler: async ({ params, body }) => {
      const { id, key } = await issueApiKey(s.db, { role: "merchant", subject: String(params.merchantId), label: body.label });
      return withStatus(201, { id, key, label: body.label });
    },
  }, auth);

  defineRoute(router, {
    method: "post", path: "/v1/merchants/:merchantId/staff-keys/:keyId/revoke", tag: "merchants", summary: "Revoke one of the merchant's staff keys",
    responds: "the key stops working within the authenticator's cache time (5 s)",
    response: z.object({ id: z.string(), revoked: z.literal(true) }), access: staff,
    params: z.object({ merchantId: mid.shape.merchantId, keyId: z.string().regex(/^[0-9a-f]{12}$/, "a key id is 12 hex digits (ck_<id>_…)") }).strict(),
    handler: async ({ params, principal }) => {
      if (params.keyId === principal!.keyId) throw new ApiError(409, "OwnKey", "a key cannot revoke itself; use another key of the merchant's");
      const k = await merchantKey(s.db, params.merchantId, params.keyId);
      if (!k) throw new ApiError(404, "UnknownApiKey", `merchant ${params.merchantId} has no key ${params.keyId}`);
      if (k.revoked_at) throw new ApiError(409, "AlreadyRevoked", `API key ${params.keyId} is already revoked`);
      await revokeApiKey(s.db, params.keyId);
      return { id: params.keyId, revoked: true };
    },
  }, auth);
}
