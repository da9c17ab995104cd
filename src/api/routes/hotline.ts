import { Router } from "express";
import { z } from "zod";
import { txResult, ticket, page, list, hexAddress } from "../answers";
import { Access } from "../access";
import { Gate, defineRoute, address, pageQuery, withStatus, decodeTextCursor } from "../http";
import { Services } from "../../services/context";
import { executeAs } from "../../services/transactions";
import { BUREAU, acceptTicket, actorOf, applyDesignation, closeTicket, dispatchStats, listTickets, routeTicket, ticketHistory, transferTicket } from "../../services/hotline";
import { ApiError } from "../errors";
import { industryById } from "../../store/records";

type Auth = Gate;
/** A ticket is the bureau's and its assignee's to act on. */
const assignee: Access = { roles: { platform_regulator: "any", industry_regulator: "own" }, tenant: { ticket: "params.ticketId" } };
const ticketId = z.object({ ticketId: z.string().regex(/^[A-Za-z0-9-]{1,40}$/, "a 12345 ticket number") }).strict();

export function hotlineRoutes(router: Router, s: Services, auth: Auth) {
  defineRoute(router, {
    method: "post", path: "/v1/hotline/tickets", tag: "hotline",
    summary: "Receive a 12345 hotline ticket and route it", response: ticket, statuses: [201, 200], responds: "201 with where it went (its industry's regulator, or the bureau's queue); the same ticket id again is 200 and changes nothing",
    access: { roles: { platform_regulator: "any" } },
    body: z.object({
      ticketId: z.string().regex(/^[A-Za-z0-9-]{1,40}$/, "a 12345 ticket number"),
      merchantId: z.number().int().min(1),
      category: z.enum(["refund", "service", "closure", "fraud", "other"]),
      summary: z.string().min(1).max(2000),
      receivedAt: z.number().int().min(0).max(2 ** 40),
    }).strict(),
    handler: async ({ body, principal }) => {
      const out = await routeTicket(s.db, body, actorOf(principal!.role, principal!.subject));
      return withStatus(out.created ? 201 : 200, out.ticket);
    },
  }, auth);

  defineRoute(router, {
    method: "get", path: "/v1/hotline/tickets", tag: "hotline", summary: "List the caller's hotline tickets (the bureau sees all)", response: page(ticket),
    access: { roles: { platform_regulator: "any", industry_regulator: "scoped" }, notes: { industry_regulator: "the tickets assigned to it" } },
    query: z.object({ ...pageQuery, status: z.enum(["routed", "accepted", "closed"]).optional() }).strict(),
    handler: async ({ query, principal }) => {
      const after = decodeTextCursor(query.cursor);
      const page = await listTickets(s.db, actorOf(principal!.role, principal!.subject), { status: query.status, after, limit: query.limit });
      return { items: page.items, nextCursor: page.next ? Buffer.from(page.next).toString("base64url") : null };
    },
  }, auth);

  defineRoute(router, {
    method: "get", path: "/v1/hotline/tickets/:ticketId/history", tag: "hotline", summary: "Read a ticket's dispatch record", response: list(z.object({ action: z.string(), from: z.string().nullable(), to: z.string().nullable(), wrongDispatch: z.boolean(), actor: z.string(), note: z.string().nullable(), at: z.unknown().optional() })),
    access: { ...assignee, roles: { ...assignee.roles, auditor: "any" } }, params: ticketId,
    handler: async ({ params }) => ({ items: await ticketHistory(s.db, params.ticketId) }),
  }, auth);

  defineRoute(router, {
    method: "post", path: "/v1/hotline/tickets/:ticketId/accept", tag: "hotline", summary: "Accept a ticket", response: ticket,
    access: assignee, params: ticketId,
    handler: async ({ params, principal }) => acceptTicket(s.db, params.ticketId, actorOf(principal!.role, principal!.subject)),
  }, auth);

  defineRoute(router, {
    method: "post", path: "/v1/hotline/tickets/:ticketId/transfer", tag: "hotline", summary: "Transfer a ticket to another regulator", response: ticket,
    access: assignee, params: ticketId,
    body: z.object({ to: z.union([z.literal(BUREAU), address]), wrongDispatch: z.boolean().default(false), note: z.string().min(1).max(1000) }).strict(),
    handler: async ({ params, body, principal }) => transferTicket(s.db, params.ticketId, actorOf(principal!.role, principal!.subject), body.to, body.wrongDispatch, body.note),
  }, auth);

  defineRoute(router, {
    method: "post", path: "/v1/hotline/tickets/:ticketId/close", tag: "hotline", summary: "Close a ticket with its resolution", response: ticket,
    access: assignee, params: ticketId, body: z.object({ resolution: z.string().min(1).max(2000) }).strict(),
    handler: async ({ params, body, principal }) => closeTicket(s.db, params.ticketId, actorOf(principal!.role, principal!.subject), body.resolution),
  }, auth);

  defineRoute(router, {
    method: "get", path: "/v1/hotline/dispatch-stats", tag: "hotline", summary: "Read tickets, transfers and wrong dispatches per industry", response: list(z.object({ industryId: z.number(), tickets: z.number(), routedToBureau: z.number(), transfers: z.number(), wrongDispatches: z.number(), closed: z.number() })),
    access: { roles: { platform_regulator: "any", industry_regulator: "any", auditor: "any" } },
    handler: async () => ({ items: await dispatchStats(s.db) }),
  }, auth);

  defineRoute(router, {
    method: "post", path: "/v1/industries/:industryId/designation", tag: "hotline",
    summary: "Designate an industry's responsible regulator", response: txResult.extend({ industryId: z.number(), regulator: hexAddress, ticketsMoved: z.number() }), responds: "recorded on chain; the bureau's waiting tickets of that industry move to it",
    access: { roles: { platform_regulator: "any" }, tenant: { industry: "params.industryId" } },
    params: z.object({ industryId: z.coerce.number().int().min(1).max(65535) }).strict(),
    body: z.object({ regulator: address }).strict(),
    handler: async ({ params, body, principal }) => {
      const ind = await industryById(s.db, params.industryId);
      if (!ind) throw new ApiError(404, "UnknownIndustry", `no industry ${params.industryId}`);
      const tx = await executeAs(s, principal!, s.registry.interface.encodeFunctionData("defineIndustry", [params.industryId, body.regulator]), "registry");
      const moved = await applyDesignation(s.db, params.industryId, body.regulator, actorOf(principal!.role, principal!.subject));
      return { ...tx, ...moved };
    },
  }, auth);
}
