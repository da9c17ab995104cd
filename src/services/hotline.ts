import { Db, DbTx, queryOne } from "../store/db";
import { Refusal } from "../errors";
import { recordHotlineTicketSignal } from "../risk/ingest";

/**
 * 12345 hotline ticket routing, "1+N": a ticket about a merchant goes to its industry's responsible regulator;
 * where the industry has none, to the market regulation bureau's queue, where the district designates one
 * (recorded, and used for every later ticket of that industry). Every move is kept in a dispatch record.
 */

export const BUREAU = "bureau";

export interface TicketInput {
  ticketId: string;
  merchantId: number;
  category: string;
  summary: string;
  receivedAt: number;
}

async function assigneeFor(db: Pick<Db, "query">, industryId: number): Promise<string> {
  const [ind] = await db.query<{ regulator: string | null }>("SELECT regulator FROM industries WHERE industry_id = $1", [industryId]);
  return ind?.regulator ?? BUREAU;
}

function ticketView(r: Record<string, unknown>) {
  return {
    ticketId: r.ticket_id, merchantId: Number(r.merchant_id), industryId: Number(r.industry_id), category: r.category, summary: r.summary,
    receivedAt: Number(r.received_at), status: r.status, assignee: r.assignee, queue: r.assignee === BUREAU ? "bureau" : "industry",
    routedAt: r.routed_at, closedAt: r.closed_at, resolution: r.resolution,
  };
}

/** Routes a new ticket; the same ticket id again changes nothing (idempotent) and returns the stored one. */
export async function routeTicket(db: Db, t: TicketInput, by: string) {
  return db.transaction(async (tx) => {
    const [m] = await tx.query<{ industry_id: number }>("SELECT industry_id FROM merchants WHERE merchant_id = $1", [t.merchantId]);
    if (!m) throw new Refusal("not_found", "UnknownMerchant", `no merchant ${t.merchantId} in the index`, { merchantId: t.merchantId });
    const assignee = await assigneeFor(tx, Number(m.industry_id));
    const inserted = await tx.query(
      `INSERT INTO hotline_tickets (ticket_id, merchant_id, industry_id, category, summary, received_at, status, assignee)
       VALUES ($1, $2, $3, $4, $5, $6, 'routed', $7) ON CONFLICT (ticket_id) DO NOTHING RETURNING ticket_id`,
      [t.ticketId, t.merchantId, m.industry_id, t.category, t.summary, t.receivedAt, assignee],
    );
    if (inserted.length) {
      await dispatch(tx, t.ticketId, null, assignee, "route", false, by, null);
      await recordHotlineTicketSignal(tx, t); // the ticket feeds the merchant's risk rating
    }
    const row = await queryOne(tx, "SELECT * FROM hotline_tickets WHERE ticket_id = $1", [t.ticketId]);
    return { ticket: ticketView(row), created: inserted.length > 0 };
  });
}

async function dispatch(tx: DbTx, ticketId: string, from: string | null, to: string | null, action: string, wrong: boolean, by: string, note: string | null) {
  await tx.query(
    `INSERT INTO hotline_dispatches (ticket_id, from_assignee, to_assignee, action, wrong_dispatch, actor, note) VALUES ($1, $2, $3, $4, $5, $6, $7)`,
    [ticketId, from, to, action, wrong, by, note],
  );
}

/** Who is acting: a regulator's account address, or the bureau (platform regulators). */
export function actorOf(role: string, subject: string | null): string {
  return role === "platform_regulator" ? BUREAU : (subject ?? "").toLowerCase();
}

/**
 * The ticket, locked, if `actor` still holds it. The API's access rule refused other regulators before this runs; a
 * transfer between that check and this lock is refused here.
 */
async function ownTicket(tx: DbTx, ticketId: string, actor: string) {
  const [t] = await tx.query<Record<string, unknown>>("SELECT * FROM hotline_tickets WHERE ticket_id = $1 FOR UPDATE", [ticketId]);
  if (!t) throw new Refusal("not_found", "UnknownTicket", `no hotline ticket ${ticketId}`);
  if (actor !== BUREAU && t.assignee !== actor) throw new Refusal("forbidden", "Forbidden", `ticket ${ticketId} is assigned to ${t.assignee === BUREAU ? "the bureau" : t.assignee}`);
  if (t.status === "closed") throw new Refusal("conflict", "TicketClosed", `ticket ${ticketId} is closed`);
  return t;
}

export async function acceptTicket(db: Db, ticketId: string, actor: string) {
  return db.transaction(async (tx) => {
    const t = await ownTicket(tx, ticketId, actor);
    await tx.query("UPDATE hotline_tickets SET status = 'accepted' WHERE ticket_id = $1", [ticketId]);
    await dispatch(tx, ticketId, String(t.assignee), String(t.assignee), "accept", false, actor, null);
    return ticketView({ ...t, status: "accepted" });
  });
}

/** Hands a ticket to another regulator (or the bureau); `wrongDispatch` marks that it never belonged to the sender. */
export async function transferTicket(db: Db, ticketId: string, actor: string, to: string, wrongDispatch: boolean, note: string) {
  return db.transaction(async (tx) => {
    const t = await ownTicket(tx, ticketId, actor);
    const target = to.toLowerCase();
    if (target === t.assignee) throw new Refusal("conflict", "SameAssignee", `ticket ${ticketId} is already with ${to}`);
    if (target !== BUREAU) {
      const known = await tx.query("SELECT 1 FROM industries WHERE regulator = $1", [target]);
      if (!known.length) throw new Refusal("unprocessable", "UnknownRegulator", `${to} is not a designated industry regulator`, { to });
    }
    await tx.query("UPDATE hotline_tickets SET status = 'routed', assignee = $2 WHERE ticket_id = $1", [ticketId, target]);
    await dispatch(tx, ticketId, String(t.assignee), target, "transfer", wrongDispatch, actor, note);
    return ticketView({ ...t, status: "routed", assignee: target });
  });
}

export async function closeTicket(db: Db, ticketId: string, actor: string, resolution: string) {
  return db.transaction(async (tx) => {
    const t = await ownTicket(tx, ticketId, actor);
    await tx.query("UPDATE hotline_tickets SET status = 'closed', closed_at = now(), resolution = $2 WHERE ticket_id = $1", [ticketId, resolution]);
    await dispatch(tx, ticketId, String(t.assignee), null, "close", false, actor, resolution);
    return ticketView({ ...t, status: "closed", resolution });
  });
}

/** After the district designated `regulator` for an industry (on chain, now indexed): its waiting tickets move there. */
export async function applyDesignation(db: Db, industryId: number, regulator: string, by: string) {
  return db.transaction(async (tx) => {
    await tx.query("INSERT INTO industry_designations (industry_id, regulator, designated_by) VALUES ($1, $2, $3)", [industryId, regulator.toLowerCase(), by]);
    const moved = await tx.query<{ ticket_id: string }>(
      "UPDATE hotline_tickets SET assignee = $2 WHERE industry_id = $1 AND assignee = $3 AND status <> 'closed' RETURNING ticket_id",
      [industryId, regulator.toLowerCase(), BUREAU],
    );
    for (const m of moved) await dispatch(tx, m.ticket_id, BUREAU, regulator.toLowerCase(), "designate", false, by, null);
    return { industryId, regulator: regulator.toLowerCase(), ticketsMoved: moved.length };
  });
}

export async function listTickets(db: Db, actor: string, opts: { status?: string; after: string | null; limit: number }) {
  const args: unknown[] = [opts.after ?? ""];
  const where = ["ticket_id > $1"];
  if (actor !== BUREAU) {
    args.push(actor);
    where.push(`assignee = $${args.length}`);
  }
  if (opts.status) {
    args.push(opts.status);
    where.push(`status = $${args.length}`);
  }
  const rows = await db.query(`SELECT * FROM hotline_tickets WHERE ${where.join(" AND ")} ORDER BY ticket_id LIMIT ${opts.limit + 1}`, args);
  const page = rows.slice(0, opts.limit);
  const last = page.at(-1);
  return { items: page.map(ticketView), next: rows.length > opts.limit && last ? String(last.ticket_id) : null };
}

export async function ticketHistory(db: Db, ticketId: string) {
  const rows = await db.query("SELECT * FROM hotline_dispatches WHERE ticket_id = $1 ORDER BY id", [ticketId]);
  return rows.map((r) => ({ action: r.action, from: r.from_assignee, to: r.to_assignee, wrongDispatch: r.wrong_dispatch, actor: r.actor, note: r.note, at: r.at }));
}

/** Per industry: tickets, how many went to the bureau for lack of a regulator, transfers and wrong dispatches. */
export async function dispatchStats(db: Db) {
  const rows = await db.query<Record<string, string>>(`
    SELECT t.industry_id,
      count(DISTINCT t.ticket_id) AS tickets,
      count(DISTINCT t.ticket_id) FILTER (WHERE d.action = 'route' AND d.to_assignee = '${BUREAU}') AS to_bureau,
      count(*) FILTER (WHERE d.action = 'transfer') AS transfers,
      count(*) FILTER (WHERE d.action = 'transfer' AND d.wrong_dispatch) AS wrong_dispatches,
      count(DISTINCT t.ticket_id) FILTER (WHERE t.status = 'closed') AS closed
    FROM hotline_tickets t LEFT JOIN hotline_dispatches d ON d.ticket_id = t.ticket_id
    GROUP BY t.industry_id ORDER BY t.industry_id`);
  return rows.map((r) => ({
    industryId: Number(r.industry_id), tickets: Number(r.tickets), routedToBureau: Number(r.to_bureau), transfers: Number(r.transfers),
    wrongDispatches: Number(r.wrong_dispatches), closed: Number(r.closed),
  }));
}
