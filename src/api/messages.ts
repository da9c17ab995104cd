import type { Request } from "express";

/**
 * The human-readable `message` of an error answer, in the caller's language (Accept-Language: zh-CN or en). The
 * machine `code` and `details` never change: clients and scripts match on them. A contract's refusal is worded
 * from its custom error's arguments (超出课时上限：61 > 60); other codes get a Chinese sentence, and keep the
 * route's own English message, which often names the very value that was wrong.
 */

export type Lang = "zh-CN" | "en";

/** The first language the caller lists that we speak; null without the header (curl, scripts: the route's own English). */
export function langOf(acceptLanguage: string | undefined): Lang | null {
  if (!acceptLanguage) return null;
  const ranked = acceptLanguage.split(",").map((part, i) => {
    const [tag = "", ...params] = part.trim().split(";");
    const q = params.map((p) => /^\s*q=([\d.]+)/.exec(p)).find(Boolean);
    return { tag: tag.trim().toLowerCase(), q: q ? Number(q[1]) : 1, i };
  }).filter((x) => x.tag && x.q > 0).sort((a, b) => b.q - a.q || a.i - b.i);
  for (const { tag } of ranked) {
    if (tag.startsWith("zh")) return "zh-CN";
    if (tag.startsWith("en")) return "en";
  }
  return "en";
}

type Args = Record<string, unknown>;

const MERCHANT_STATUS = ["none", "active", "restricted", "frozen", "winding_down", "exited"];
const CARD_STATUS = ["none", "active", "refund_requested", "disputed", "refunded", "consumed", "expired", "claimable"];
const PLAN_KIND = ["none", "lesson", "periodic"];

const WORDS: Record<Lang, Record<string, string>> = {
  "zh-CN": {
    none: "无", active: "正常经营", restricted: "限制经营（停售新卡）", frozen: "已冻结", winding_down: "退出中", exited: "已退出",
    refund_requested: "已申请退款", disputed: "退款争议中", refunded: "已退款", consumed: "已用完", expired: "已过期", claimable: "可取回余额",
    lesson: "按课时", periodic: "按周期",
  },
  en: {
    none: "none", active: "active", restricted: "restricted (no new cards)", frozen: "frozen", winding_down: "winding down", exited: "exited",
    refund_requested: "refund requested", disputed: "in dispute", refunded: "refunded", consumed: "all used", expired: "expired", claimable: "claimable",
    lesson: "per lesson", periodic: "periodic",
  },
};

const group = (digits: string) => digits.replace(/\B(?=(\d{3})+(?!\d))/g, ",");

/** Fen (number, bigint or digit string) → ¥1,234.56, with integers only. */
export function yuan(fen: unknown): string {
  let v: bigint;
  try { v = BigInt(String(fen)); } catch { return String(fen); }
  const neg = v < 0n;
  if (neg) v = -v;
  return `${neg ? "-" : ""}¥${group((v / 100n).toString())}.${(v % 100n).toString().padStart(2, "0")}`;
}

const beijing = new Intl.DateTimeFormat("sv-SE", { timeZone: "Asia/Shanghai", year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit" });
/** Unix seconds → 2026-12-07 22:05 in Beijing time. */
export const beijingTime = (sec: unknown) => (Number(sec) > 0 ? beijing.format(new Date(Number(sec) * 1000)) : String(sec));

type Template = (a: Args, w: (enumNames: string[], v: unknown) => string) => string;

/** Contract refusals (custom errors) and the gateway's own codes, per language. */
const CATALOGUE: Record<Lang, Record<string, Template>> = {
  "zh-CN": {
    Custody_ZeroAddress: () => "地址不能为零地址",
    Custody_UnknownIndustry: (a) => `行业不存在：${a.industryId}`,
    Custody_UnknownBank: (a) => `存管银行不存在：${a.bankId}`,
    Custody_BankTokenMismatch: () => "存管代币与银行或存管合约不符",
    Custody_UnknownMerchant: (a) => `商户不存在：${a.merchantId}`,
    Custody_UnknownPlan: (a) => `商户 ${a.merchantId} 没有套餐 ${a.planIndex}`,
    Custody_UnknownCard: (a) => `预付卡不存在：${a.cardId}`,
    Custody_AccountInUse: (a) => `该账户已被使用：${a.account}`,
    Custody_NotPlatformRegulator: () => "只有市场监管局可以执行此操作",
    Custody_NotRegulatorOf: (a) => `您不是行业 ${a.industryId} 的主管部门`,
    Custody_NotCustodianOf: (a) => `您不是商户 ${a.merchantId} 的存管银行`,
    Custody_NotMerchant: (a) => `您不是商户 ${a.merchantId}`,
    Custody_NotHolder: (a) => `您不是预付卡 ${a.cardId} 的持卡人`,
    Custody_NotRiskOracle: () => "只有风险评级服务可以设置风险等级",
    Custody_InvalidPlan: (a, w) => `套餐无效：${w(PLAN_KIND, a.kind)}，${a.units} 次/期，价格 ${yuan(a.price)}`,
    Custody_PlanInactive: (a) => `商户 ${a.merchantId} 的套餐 ${a.planIndex} 已下架`,
    Custody_PlanKindMismatch: (a, w) => `预付卡 ${a.cardId} 是${w(PLAN_KIND, a.cardKind)}卡，套餐是${w(PLAN_KIND, a.planKind)}`,
    Custody_MerchantNotSelling: (a, w) => `商户 ${a.merchantId} 当前不能售卡（${w(MERCHANT_STATUS, a.status)}）`,
    Custody_MerchantNotServing: (a, w) => `商户 ${a.merchantId} 当前不能提供服务（${w(MERCHANT_STATUS, a.status)}）`,
    Custody_HighRiskNoSales: (a) => `商户 ${a.merchantId} 为高风险，不得发售新卡或续卡`,
    Custody_MediumRiskCapExceeded: (a) => `中风险商户 30 日售卡额度超限：已售 ${yuan(a.soldInWindow)} + ${yuan(a.amount)} > ${yuan(a.cap)}`,
    Custody_CardValueCapExceeded: (a) => `超出单卡金额上限：${yuan(a.value)} > ${yuan(a.cap)}`,
    Custody_LessonCapExceeded: (a) => `超出课时上限：${a.lessons} > ${a.cap}`,
    Custody_ValidityCapExceeded: (a) => `超出有效期上限：${a.validityDays} 天 > ${a.cap} 天`,
    Custody_ZeroLessons: () => "课时数不能为 0",
    Custody_VoucherExpired: (a) => `消费凭证已过期：截止 ${beijingTime(a.deadline)}，现在 ${beijingTime(a.timestamp)}`,
    Custody_VoucherSequenceMismatch: (a) => `消费凭证序号不符：应为 ${a.expected}，实为 ${a.given}（可能已使用过）`,
    Custody_VoucherAmountMismatch: (a) => `消费凭证金额不符：持卡人签署 ${yuan(a.signed)}，所确认课时应释放 ${yuan(a.share)}（预付卡 ${a.cardId}）`,
    Custody_InvalidSigner: (a) => `签名不是持卡人的：预付卡 ${a.cardId}`,
    Custody_InsufficientLessons: (a) => `剩余课时不足：需要 ${a.requested}，剩余 ${a.left}`,
    Custody_CardNotActive: (a, w) => `预付卡 ${a.cardId} 当前不可用（${w(CARD_STATUS, a.status)}）`,
    Custody_CardExpired: (a) => `预付卡 ${a.cardId} 已于 ${beijingTime(a.expiresAt)} 过期`,
    Custody_NothingToRelease: (a) => `预付卡 ${a.cardId} 暂无可释放的资金`,
    Custody_NothingToPayOut: (a) => `商户 ${a.merchantId} 暂无可拨付的资金`,
    Custody_CoolingOffOver: (a) => `冷静期已于 ${beijingTime(a.endedAt)} 结束`,
    Custody_CardAlreadyUsed: (a) => `预付卡已使用 ${a.unitsUsed} 次，不能冷静期全额退款`,
    Custody_NoRefundRequest: (a, w) => `预付卡 ${a.cardId} 没有待处理的退款申请（${w(CARD_STATUS, a.status)}）`,
    Custody_NotInDispute: (a, w) => `预付卡 ${a.cardId} 不在争议中（${w(CARD_STATUS, a.status)}）`,
    Custody_RefundExceedsHeld: (a) => `退款金额超过存管余额：${yuan(a.amount)} > ${yuan(a.held)}`,
    Custody_ReleaseWhileFrozen: (a) => `商户 ${a.merchantId} 已冻结，不能向其释放资金（${yuan(a.released)}）`,
    Custody_NotClaimable: (a, w) => `商户未被冻结或退出，不能直接取回余额（${w(MERCHANT_STATUS, a.merchantStatus)}）`,
    Custody_ExitNoticeRunning: (a) => `退出公告期未满，${beijingTime(a.effectiveAt)} 生效`,
    Custody_MerchantStillHolds: (a) => `商户仍有资金未结清：存管 ${yuan(a.held)}，待拨付 ${yuan(a.payableAmount)}`,
    Custody_InvalidStatusChange: (a, w) => `商户状态不能从「${w(MERCHANT_STATUS, a.from)}」变为「${w(MERCHANT_STATUS, a.to)}」`,
    Custody_KeyRecoveryPending: (a) => `预付卡 ${a.cardId} 已有挂失补办在进行中，${beijingTime(a.effectiveAt)} 生效`,
    Custody_NoKeyRecovery: (a) => `预付卡 ${a.cardId} 没有进行中的挂失补办`,
    Custody_KeyRecoveryWaiting: (a) => `挂失补办等待期未满，${beijingTime(a.effectiveAt)} 后方可完成`,
    Custody_NotHolderOrCustodian: (a) => `只有持卡人或存管银行可以撤销预付卡 ${a.cardId} 的挂失补办`,
    Custody_NotFrozen: (a, w) => `商户 ${a.merchantId} 未被冻结（${w(MERCHANT_STATUS, a.status)}），不能决定其已结算资金的去向`,
    Custody_NoHoldersToShare: (a) => `商户 ${a.merchantId} 已没有持有余额的预付卡，资金不能退还持卡人`,
    Custody_PayoutAccountNotProposed: (a) => `商户 ${a.merchantId} 未提出该收款账户变更`,
    Custody_InvalidTransfer: (a) => `不能转让给零地址或持卡人本人：预付卡 ${a.cardId}`,
    Registry_PolicyAboveLaw: (a) => `政策超出法定上限：${yuan(a.value)} > ${yuan(a.maximum)}`,
    Registry_ZeroAddress: () => "地址不能为零地址",
    Registry_InvalidPolicy: (a) => `政策无效：存管比例 ${Number(a.custodyBps) / 100}% 低于法定下限或超过 100%`,
    Registry_UnknownIndustry: (a) => `行业不存在：${a.industryId}`,
    Registry_NotPlatformRegulator: () => "只有市场监管局可以执行此操作",
    Registry_NotRegulatorOf: (a) => `您不是行业 ${a.industryId} 的主管部门`,
    EnforcementAnchor_UnknownMerchant: (a) => `商户不存在：${a.merchantId}`,
    EnforcementAnchor_NotRegulatorOf: (a) => `您不是商户 ${a.merchantId} 所属行业 ${a.industryId} 的主管部门`,
    EnforcementAnchor_SequenceMismatch: (a) => `执法记录序号不符：${a.seq}，应为 ${a.expected}`,
    EnforcementAnchor_PrevHashMismatch: (a) => `执法记录 ${a.seq} 的前一哈希不符`,
    InvalidRequest: () => "请求中有无效字段",
    InvalidJson: () => "请求体不是有效的 JSON",
    BadRequest: () => "请求无效",
    PayloadTooLarge: () => "请求体过大",
    Unauthenticated: () => "请先登录：请求头 X-API-Key 中需要 API 密钥",
    InvalidApiKey: () => "API 密钥无效、已吊销或格式错误",
    Forbidden: () => "您的角色无权执行此操作",
    NotFound: () => "找不到该地址",
    UnknownMerchant: () => "商户不存在",
    UnknownBank: () => "存管银行不存在",
    UnknownCard: () => "预付卡不存在",
    UnknownIndustry: () => "行业不存在",
    UnknownTicket: () => "工单不存在",
    UnknownLedgerRow: () => "台账记录不存在",
    UnknownApiKey: () => "API 密钥不存在",
    UnknownRegulator: (a) => `${a.to ?? "该账户"} 不是已指定的行业主管部门`,
    InsufficientLessons: (a) => `剩余课时不足：只剩 ${a.left} 次`,
    NotALessonCard: () => "按周期的卡随时间释放，不用消费凭证",
    DuplicateVoucher: () => "该消费凭证已提交过",
    InvalidVouchers: () => "消费凭证无效",
    InvalidRows: () => "文件中有无效的行，整个文件未导入",
    TicketClosed: () => "工单已办结",
    SameAssignee: () => "工单已在该部门",
    RatingOutOfOrder: () => "评级早于商户当前评级",
    OwnKey: () => "不能吊销自己正在使用的密钥",
    AlreadyRevoked: () => "该密钥已吊销",
    NoKeystore: () => "网关没有该账户的密钥：请自行签名交易后提交",
    Reverted: () => "合约拒绝了该交易",
    Rejected: () => "链节点拒绝了该交易",
    Busy: () => "记录正被他人写入，请稍后再试",
    AnchorMismatch: () => "执法记录与链上锚定不一致",
    NoAnchor: () => "未部署执法记录锚定合约",
    RiskEngineOff: () => "风险评级服务未启用",
    InvalidSession: () => "登录已失效，请重新登录",
    SessionExpired: () => "登录已过期，请重新登录",
    InvalidChallenge: () => "登录挑战无效或已使用",
    InvalidSignature: () => "签名无效",
    Unavailable: () => "区块链或数据库暂时无响应，请稍后再试",
    Internal: () => "网关出错，错误已记录",
  },
  en: {
    Custody_UnknownIndustry: (a) => `no industry ${a.industryId}`,
    Custody_UnknownBank: (a) => `no custodian bank ${a.bankId}`,
    Custody_UnknownMerchant: (a) => `no merchant ${a.merchantId}`,
    Custody_UnknownPlan: (a) => `merchant ${a.merchantId} has no plan ${a.planIndex}`,
    Custody_UnknownCard: (a) => `no card ${a.cardId}`,
    Custody_AccountInUse: (a) => `the account is already in use: ${a.account}`,
    Custody_NotPlatformRegulator: () => "only the market regulation bureau may do this",
    Custody_NotRegulatorOf: (a) => `you are not the regulator of industry ${a.industryId}`,
    Custody_NotCustodianOf: (a) => `you are not merchant ${a.merchantId}'s custodian bank`,
    Custody_NotMerchant: (a) => `you are not merchant ${a.merchantId}`,
    Custody_NotHolder: (a) => `you do not hold card ${a.cardId}`,
    Custody_InvalidPlan: (a, w) => `invalid plan: ${w(PLAN_KIND, a.kind)}, ${a.units} units, price ${yuan(a.price)}`,
    Custody_PlanInactive: (a) => `merchant ${a.merchantId}'s plan ${a.planIndex} is withdrawn`,
    Custody_MerchantNotSelling: (a, w) => `merchant ${a.merchantId} may not sell cards now (${w(MERCHANT_STATUS, a.status)})`,
    Custody_MerchantNotServing: (a, w) => `merchant ${a.merchantId} may not serve now (${w(MERCHANT_STATUS, a.status)})`,
    Custody_HighRiskNoSales: (a) => `merchant ${a.merchantId} is high risk: no new cards or renewals`,
    Custody_MediumRiskCapExceeded: (a) => `medium-risk 30-day sales cap exceeded: ${yuan(a.soldInWindow)} sold + ${yuan(a.amount)} > ${yuan(a.cap)}`,
    Custody_CardValueCapExceeded: (a) => `card value cap exceeded: ${yuan(a.value)} > ${yuan(a.cap)}`,
    Custody_LessonCapExceeded: (a) => `lesson cap exceeded: ${a.lessons} > ${a.cap}`,
    Custody_ValidityCapExceeded: (a) => `validity cap exceeded: ${a.validityDays} days > ${a.cap} days`,
    Custody_VoucherExpired: (a) => `the voucher expired at ${beijingTime(a.deadline)} (now ${beijingTime(a.timestamp)})`,
    Custody_VoucherSequenceMismatch: (a) => `voucher sequence ${a.given}, expected ${a.expected} (already used?)`,
    Custody_VoucherAmountMismatch: (a) => `the voucher's amount is not what its lessons release: the holder signed ${yuan(a.signed)}, the lessons release ${yuan(a.share)} (card ${a.cardId})`,
    Custody_InvalidSigner: (a) => `the signature is not card ${a.cardId}'s holder's`,
    Custody_InsufficientLessons: (a) => `not enough lessons: ${a.requested} asked, ${a.left} left`,
    Custody_CardNotActive: (a, w) => `card ${a.cardId} is not active (${w(CARD_STATUS, a.status)})`,
    Custody_CardExpired: (a) => `card ${a.cardId} expired at ${beijingTime(a.expiresAt)}`,
    Custody_CoolingOffOver: (a) => `the cooling-off period ended at ${beijingTime(a.endedAt)}`,
    Custody_CardAlreadyUsed: (a) => `the card was used ${a.unitsUsed} times: no cooling-off refund`,
    Custody_NoRefundRequest: (a, w) => `card ${a.cardId} has no refund request (${w(CARD_STATUS, a.status)})`,
    Custody_NotInDispute: (a, w) => `card ${a.cardId} is not in dispute (${w(CARD_STATUS, a.status)})`,
    Custody_RefundExceedsHeld: (a) => `refund larger than the balance held: ${yuan(a.amount)} > ${yuan(a.held)}`,
    Custody_ReleaseWhileFrozen: (a) => `merchant ${a.merchantId} is frozen: nothing may be released to it (${yuan(a.released)})`,
    Custody_NotClaimable: (a, w) => `the merchant is not frozen or exited (${w(MERCHANT_STATUS, a.merchantStatus)})`,
    Custody_ExitNoticeRunning: (a) => `the exit notice runs until ${beijingTime(a.effectiveAt)}`,
    Custody_MerchantStillHolds: (a) => `the merchant still holds ${yuan(a.held)} in escrow and ${yuan(a.payableAmount)} payable`,
    Custody_InvalidStatusChange: (a, w) => `a merchant cannot go from ${w(MERCHANT_STATUS, a.from)} to ${w(MERCHANT_STATUS, a.to)}`,
    Custody_KeyRecoveryPending: (a) => `card ${a.cardId} has a key recovery under way, effective ${beijingTime(a.effectiveAt)}`,
    Custody_NoKeyRecovery: (a) => `card ${a.cardId} has no key recovery under way`,
    Custody_KeyRecoveryWaiting: (a) => `the key recovery's waiting period runs until ${beijingTime(a.effectiveAt)}`,
    Custody_NotHolderOrCustodian: (a) => `only the holder or the custodian bank may cancel the key recovery of card ${a.cardId}`,
    Custody_NotFrozen: (a, w) => `merchant ${a.merchantId} is not frozen (${w(MERCHANT_STATUS, a.status)}): nothing to decide on its released money`,
    Custody_NoHoldersToShare: (a) => `no card of merchant ${a.merchantId} holds money any more: nothing can go to holders`,
    Custody_PayoutAccountNotProposed: (a) => `merchant ${a.merchantId} did not propose this payout account`,
    Custody_InvalidTransfer: (a) => `card ${a.cardId} cannot go to the zero address or to its own holder`,
    Registry_PolicyAboveLaw: (a) => `the policy is above the law's maximum: ${yuan(a.value)} > ${yuan(a.maximum)}`,
    Registry_InvalidPolicy: (a) => `invalid policy: custody ratio ${Number(a.custodyBps) / 100}%`,
  },
};

/** The message to send for an error code, in `lang`; `fallback` (the route's own) when the catalogue has none. */
export function messageFor(lang: Lang, code: string, details: unknown, fallback: string): string {
  const tpl = CATALOGUE[lang][code];
  if (!tpl) return fallback;
  const args = details && typeof details === "object" && !Array.isArray(details) ? (details as Args) : {};
  const words = WORDS[lang];
  const w = (names: string[], v: unknown) => {
    const name = typeof v === "number" || /^\d+$/.test(String(v)) ? names[Number(v)] : String(v);
    return words[name ?? ""] ?? String(v);
  };
  try {
    return tpl(args, w);
  } catch {
    return fallback;
  }
}

/** The JSON body of an error answer, its message in the language the request asks for. */
export function errorBody(req: Request, code: string, message: string, details?: unknown) {
  const lang = langOf(req.headers["accept-language"]);
  return { error: { code, message: lang ? messageFor(lang, code, details, message) : message, details } };
}
