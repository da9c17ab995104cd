import { Request } from "express";
import { z } from "zod";
import { ApiError } from "./errors";
import { Db } from "../store/db";
import { Principal, Role, ROLES } from "./auth";
import { MerchantFacts, merchantFactsById, merchantFactsByIds } from "../store/merchants";
import { cardById, industryById, ledgerRowById, ticketById } from "../store/records";

/**
 * Who may call an operation and on whose data, declared once next to the route (src/api/http.ts defineRoute) and
 * enforced by the gateway before the handler runs and before the query and body are validated. The same declaration
 * is shown in /openapi.json (each operation's security, a line per role in its description, and `x-access`) and in
 * docs/access.md.
 *
 * A role missing from `roles` is refused (403). Its scope says on whose data it may act:
 * - `any`: every tenant (the bureau, auditors);
 * - `own`: only the tenants the request names that are the caller's (its own merchant id, bank, industries, card,
 *   address or ticket), read from `tenant`'s locators and checked by the gateway;
 * - `scoped`: the request names no tenant; the answer holds only the caller's own (the handler filters a list by the
 *   principal, as said in the role's note).
 */
export type Scope = "any" | "own" | "scoped";

/** What a tenant is: whose data an id names. */
export const TENANT_KINDS = ["merchant", "bank", "industry", "card", "holder", "ticket", "ledger"] as const;
export type TenantKind = (typeof TENANT_KINDS)[number];

/** Where the gateway reads a tenant's id: a path parameter, a query parameter or a top-level body field. */
export type Locator = `params.${string}` | `query.${string}` | `body.${string}`;

export interface Access {
  roles: Partial<Record<Role, Scope>>;
  /** The tenants a request names, by kind, and where each id is read. */
  tenant?: Partial<Record<TenantKind, Locator>>;
  /**
   * Merchants named inside a file body (a bulk import's rows), read before the file is validated; each is checked
   * like a `merchant` tenant for the roles whose scope is `own`. `where` names the line for the refusal.
   */
  merchantsIn?: (req: Request) => Promise<{ merchantId: number; where: string }[]>;
  /** A sentence per role where its scope needs saying more exactly (what a `scoped` list holds). */
  notes?: Partial<Record<Role, string>>;
}

/** Public operations need no key. */
export const PUBLIC = "public" as const;
export type AccessDecl = Access | typeof PUBLIC;

/** Which tenant kinds a role can own at all: the relations the gateway knows how to check. */
const OWNS: Record<Role, readonly TenantKind[]> = {
  platform_regulator: [],
  auditor: [],
  industry_regulator: ["merchant", "industry", "card", "ticket", "ledger"],
  bank: ["merchant", "bank", "card", "ledger"],
  merchant: ["merchant", "card", "ledger"],
  consumer: ["card", "holder"],
};

/** Throws when a declaration cannot be enforced as written: a route with it must not register. */
export function checkDeclaration(method: string, path: string, access: AccessDecl | undefined) {
  const where = `${method.toUpperCase()} ${path}`;
  if (access === PUBLIC) return;
  if (!access || typeof access !== "object" || !access.roles) throw new Error(`${where} has no access declaration`);
  const roles = Object.entries(access.roles) as [Role, Scope][];
  if (!roles.length) throw new Error(`${where}: an access declaration allows at least one role (or is "public")`);
  const kinds = Object.keys(access.tenant ?? {}) as TenantKind[];
  for (const k of kinds) if (!TENANT_KINDS.includes(k)) throw new Error(`${where}: unknown tenant kind ${k}`);
  for (const [k, loc] of Object.entries(access.tenant ?? {})) {
    const [part, name] = String(loc).split(".");
    if (part === undefined || !["params", "query", "body"].includes(part) || !name) throw new Error(`${where}: tenant ${k} is read from ${loc}, not params.x, query.x or body.x`);
    if (part === "params" && !path.includes(`:${name}`)) throw new Error(`${where}: tenant ${k} is read from ${loc}, which the path does not have`);
  }
  for (const [role, scope] of roles) {
    if (!ROLES.includes(role)) throw new Error(`${where}: unknown role ${role}`);
    if (!["any", "own", "scoped"].includes(scope)) throw new Error(`${where}: ${role}'s scope ${scope} is not any, own or scoped`);
    if (scope === "own" && !kinds.some((k) => OWNS[role].includes(k)) && !(access.merchantsIn && OWNS[role].includes("merchant"))) {
      throw new Error(`${where}: ${role} is "own" but the request names no tenant a ${role} can own (${OWNS[role].join(", ") || "none"})`);
    }
    if (scope === "scoped" && !access.notes?.[role]) throw new Error(`${where}: ${role} is "scoped": its note must say what the answer holds`);
  }
}

// ---------------------------------------------------------------- the tenants a request names

export type { MerchantFacts };

/** What the gateway found for the tenants a request names; the handler gets it and need not read them again. */
export interface Tenants {
  merchantId?: number;
  merchant?: MerchantFacts;
  bankId?: number;
  industryId?: number;
  industryRegulator?: string | null;
  card?: Record<string, unknown>;
  holder?: string;
  ticket?: { ticket_id: string; assignee: string };
  ledger?: Record<string, unknown>;
  /** Tenant ids that are there but are no ids: the request is a 400 naming them, whatever its schema says. */
  unreadable?: { field: string; reason: string }[];
}

const ids = {
  merchant: z.coerce.number().int().min(1).max(2 ** 32 - 1),
  bank: z.coerce.number().int().min(1).max(65535),
  industry: z.coerce.number().int().min(0).max(65535),
  card: z.string().regex(/^\d{1,20}$/).transform((s) => BigInt(s)).refine((c) => c < 2n ** 64n && c >> 32n > 0n),
  holder: z.string().regex(/^0x[0-9a-fA-F]{40}$/).transform((s) => s.toLowerCase()),
  ticket: z.string().regex(/^[A-Za-z0-9-]{1,40}$/),
  ledger: z.string().regex(/^\d{1,18}$/),
};

/** Cards by id (src/store/records.ts): the card routes' handlers get the row from here. */
export { cardById };

/** One indexed read: the merchant, its bank and industry, and that industry's regulator. */
export async function merchantFacts(db: Db, merchantId: number): Promise<MerchantFacts | undefined> {
  return merchantFactsById(db, merchantId);
}

const forbidden = (message: string, details?: unknown) => new ApiError(403, "Forbidden", message, details);

function read(loc: Locator, input: { params: unknown; query: unknown; body: unknown }): unknown {
  const [part, name] = loc.split(".") as ["params" | "query" | "body", string];
  const from = input[part];
  return from && typeof from === "object" ? (from as Record<string, unknown>)[name] : undefined;
}

/**
 * Enforces `access` for `p` on a request whose path parameters are valid: finds the tenants the request names
 * (reading the store only where the rule needs it: one indexed read per tenant, none when the key's subject is the
 * path's id), answers 404 for an unknown tenant in the path or query and 403 for one that is not the caller's.
 * Tenants in a body that are not valid ids or unknown are left to the body's validation (a 400 naming the field).
 */
export async function enforce(db: Db, access: Access, p: Principal, scope: Scope, input: { params: unknown; query: unknown; body: unknown }, req: Request): Promise<Tenants> {
  const t: Tenants = {};
  const own = scope === "own";
  const role = p.role;
  const sub = (p.subject ?? "").toLowerCase();
  const fromBody = (loc: Locator) => loc.startsWith("body.");
  // In the body, tenants are looked at only to refuse: other roles' bodies are the handler's to validate.
  const wanted = (k: TenantKind) => {
    const loc = access.tenant?.[k];
    return loc && (!fromBody(loc) || own) ? loc : undefined;
  };
  // An id that is there but is no id of its kind makes the request invalid, whatever the route's own schema would say:
  // the rule never passes a request because it could not read whose data it names.
  const parsed = <K extends keyof typeof ids>(k: K, loc: Locator): z.infer<(typeof ids)[K]> | undefined => {
    const raw = read(loc, input);
    if (raw === undefined || raw === null || raw === "") return undefined;
    const r = ids[k].safeParse(typeof raw === "bigint" ? raw.toString() : raw);
    if (!r.success) {
      // The request is refused as invalid (400) with the rest of its bad fields, never answered.
      t.unreadable = [...(t.unreadable ?? []), { field: loc, reason: `not a ${k} id` }];
      return undefined;
    }
    return r.data as z.infer<(typeof ids)[K]>;
  };
  const needFacts = own && (role === "bank" || role === "industry_regulator");

  const bankLoc = wanted("bank");
  if (bankLoc) t.bankId = parsed("bank", bankLoc);
  const holderLoc = wanted("holder");
  if (holderLoc) t.holder = parsed("holder", holderLoc);
  // What the key's subject answers alone is refused before anything is read from the store.
  if (own && t.bankId !== undefined && role === "bank" && sub !== String(t.bankId)) throw forbidden(`bank ${t.bankId} is not yours`, { bankId: t.bankId });
  if (own && t.holder !== undefined && role === "consumer" && t.holder !== sub) throw forbidden("these are not your cards");

  const cardLoc = wanted("card");
  if (cardLoc) {
    const id = parsed("card", cardLoc);
    if (id !== undefined) {
      t.card = await cardById(db, id.toString());
      if (!t.card && !fromBody(cardLoc)) throw new ApiError(404, "UnknownCard", `no card ${id} in the index`, { cardId: id.toString() });
      t.merchantId = Number(id >> 32n);
    }
  }
  const ledgerLoc = wanted("ledger");
  if (ledgerLoc) {
    const id = parsed("ledger", ledgerLoc);
    if (id !== undefined) {
      t.ledger = await ledgerRowById(db, id);
      if (!t.ledger) throw new ApiError(404, "UnknownLedgerRow", `no ledger row ${id}`);
      t.merchantId = t.ledger.merchant_id == null ? undefined : Number(t.ledger.merchant_id);
    }
  }
  const merchantLoc = wanted("merchant");
  let merchantFromBody = false;
  if (merchantLoc) {
    const id = parsed("merchant", merchantLoc);
    if (id !== undefined) {
      t.merchantId = id;
      merchantFromBody = fromBody(merchantLoc);
    }
  }
  // The merchant's record: for the rule (a bank's or a regulator's own), for a path naming a bank too, and to
  // answer 404 for an unknown merchant in the path or query. A merchant acting on itself needs none of it.
  if (t.merchantId !== undefined && !t.card && !t.ledger && !(role === "merchant" && sub === String(t.merchantId) && t.bankId === undefined)) {
    t.merchant = await merchantFacts(db, t.merchantId);
    if (!t.merchant && !merchantFromBody) throw new ApiError(404, "UnknownMerchant", `no merchant ${t.merchantId} in the index`, { merchantId: t.merchantId });
  } else if (t.merchantId !== undefined && (t.card || t.ledger) && (needFacts || t.bankId !== undefined)) {
    t.merchant = await merchantFacts(db, t.merchantId);
  }
  if (t.bankId !== undefined && t.merchant && Number(t.merchant.bank_id) !== t.bankId) {
    throw forbidden(`merchant ${t.merchantId} is not in custody with bank ${t.bankId}`, { merchantId: t.merchantId, bankId: t.bankId });
  }
  const industryLoc = wanted("industry");
  if (industryLoc) {
    t.industryId = parsed("industry", industryLoc);
    if (t.industryId !== undefined && own && role === "industry_regulator") {
      const row = await industryById(db, t.industryId);
      t.industryRegulator = row?.regulator ?? null;
    }
  }
  const ticketLoc = wanted("ticket");
  if (ticketLoc) {
    const id = parsed("ticket", ticketLoc);
    if (id !== undefined) {
      t.ticket = await ticketById(db, String(id));
      if (!t.ticket) throw new ApiError(404, "UnknownTicket", `no hotline ticket ${id}`);
    }
  }

  if (own) {
    const merchantIsMine = (m: MerchantFacts | undefined, id: number) =>
      role === "merchant" ? sub === String(id)
        : role === "bank" ? !!m && String(m.bank_id) === sub
          : role === "industry_regulator" ? !!m && (m.industry_regulator ?? "").toLowerCase() === sub
            : false;
    if (t.card) {
      if (role === "consumer" ? String(t.card.holder).toLowerCase() !== sub : !merchantIsMine(t.merchant, t.merchantId!)) {
        throw forbidden(`card ${t.card.card_id} is not yours`, { cardId: String(t.card.card_id) });
      }
    } else if (t.ledger) {
      if (t.merchantId === undefined || !merchantIsMine(t.merchant, t.merchantId)) throw forbidden(`ledger row ${t.ledger.id} is not yours`);
    } else if (t.merchantId !== undefined && OWNS[role].includes("merchant") && (t.merchant || !merchantFromBody) && !merchantIsMine(t.merchant, t.merchantId)) {
      throw forbidden(`merchant ${t.merchantId} is not yours to see or act on`, { merchantId: t.merchantId });
    }
    if (t.industryId !== undefined && role === "industry_regulator" && (t.industryRegulator ?? "").toLowerCase() !== sub) {
      throw forbidden(`industry ${t.industryId} is not yours`, { industryId: t.industryId });
    }
    if (t.ticket && role === "industry_regulator" && t.ticket.assignee.toLowerCase() !== sub) {
      throw forbidden(`ticket ${t.ticket.ticket_id} is assigned to ${t.ticket.assignee === "bureau" ? "the bureau" : "another regulator"}`, { ticketId: t.ticket.ticket_id });
    }
    if (access.merchantsIn && OWNS[role].includes("merchant")) {
      const named = await access.merchantsIn(req);
      const facts = new Map<number, MerchantFacts>();
      const distinct = [...new Set(named.map((n) => n.merchantId))];
      if (distinct.length && role !== "merchant") {
        const rows = await merchantFactsByIds(db, distinct);
        for (const r of rows) facts.set(Number(r.merchant_id), r);
      }
      // Unknown merchants are the file's validation's to report (a 400 on their lines).
      const refused = named.filter((n) => (role === "merchant" || facts.has(n.merchantId)) && !merchantIsMine(facts.get(n.merchantId), n.merchantId));
      if (refused.length) {
        throw forbidden(`${refused.length} row(s) name merchants that are not yours: nothing was imported`,
          refused.map((r) => ({ field: `${r.where}.merchantId`, reason: `merchant ${r.merchantId} is not yours` })));
      }
    }
  }
  return t;
}

// ---------------------------------------------------------------- how a declaration reads

const ROLE_NAMES: Record<Role, string> = {
  platform_regulator: "platform regulator", industry_regulator: "industry regulator", bank: "bank", merchant: "merchant", auditor: "auditor", consumer: "consumer",
};

const OWN_WORDS: Record<Role, Partial<Record<TenantKind, string>>> = {
  platform_regulator: {},
  auditor: {},
  industry_regulator: { merchant: "merchants of its industries", industry: "its industries", card: "cards of its industries' merchants", ticket: "tickets assigned to it", ledger: "ledger rows of its industries' merchants" },
  bank: { merchant: "merchants in custody with it", bank: "itself", card: "cards of merchants in custody with it", ledger: "ledger rows of merchants in custody with it" },
  merchant: { merchant: "itself", card: "its own cards", ledger: "its own ledger rows" },
  consumer: { card: "cards it holds", holder: "its own address" },
};

/** One line per allowed role, as /openapi.json and docs/access.md show it. */
export function roleLines(access: AccessDecl): { role: Role | "anyone"; name: string; rule: string }[] {
  if (access === PUBLIC) return [{ role: "anyone", name: "anyone", rule: "no key needed" }];
  const kinds = Object.keys(access.tenant ?? {}) as TenantKind[];
  return (Object.entries(access.roles) as [Role, Scope][]).map(([role, scope]) => {
    let rule: string;
    if (scope === "any") rule = kinds.length ? "any" : "all";
    else if (scope === "scoped") rule = access.notes![role]!;
    else {
      const words = kinds.filter((k) => OWN_WORDS[role][k]).map((k) => OWN_WORDS[role][k]!);
      if (access.merchantsIn && OWN_WORDS[role].merchant) words.push(`rows about ${OWN_WORDS[role].merchant}`);
      rule = `only ${words.join(" and ")}`;
      if (access.notes?.[role]) rule += `; ${access.notes[role]}`;
    }
    return { role, name: ROLE_NAMES[role], rule };
  });
}

/** The declaration as plain data, for `x-access` in /openapi.json. */
export function accessDoc(access: AccessDecl) {
  if (access === PUBLIC) return { public: true };
  return { roles: access.roles, tenant: access.tenant ?? {}, ...(access.merchantsIn ? { fileMerchants: true } : {}) };
}
