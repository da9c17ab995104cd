import { z } from "zod";
import { usccProblem } from "../web-public/shared/uscc";

const REASONS = {
  length: "a 统一社会信用代码 has 18 characters",
  characters: "a 统一社会信用代码 uses 0-9 and capitals without I, O, Z, S, V",
  check: "the 统一社会信用代码's last character is not its check character (GB 32100-2015)",
} as const;

/**
 * A merchant's registration number: a 统一社会信用代码 whose 18th character is its check character. The check is the
 * one the console's form runs (src/web-public/shared/uscc.js), so the page and the API refuse the same codes.
 */
export const usccSchema = z.string().superRefine((v, ctx) => {
  const problem = usccProblem(v);
  if (problem) ctx.addIssue({ code: "custom", message: REASONS[problem] });
});
