// 统一社会信用代码 (unified social credit code, GB 32100-2015): 18 characters from 0-9 and A-Z without I, O, Z, S, V;
// the 18th is a check character computed from the first 17. One implementation for the console's form and the API's
// schema (src/api/uscc.ts), so both refuse the same codes. Written without import/export so that it is at once a
// CommonJS module for the gateway (any Node version) and a browser module: `import "/web-public/shared/uscc.js"`
// then `globalThis.uscc`.
(function (root) {
  const ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY";
  const WEIGHTS = [1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28];

  /** The check character the first 17 characters call for, or null if one of them is not in the alphabet. */
  function usccCheckCharacter(first17) {
    let sum = 0;
    for (let i = 0; i < 17; i++) {
      const v = ALPHABET.indexOf(first17[i]);
      if (v < 0) return null;
      sum += v * WEIGHTS[i];
    }
    return ALPHABET[(31 - (sum % 31)) % 31];
  }

  /**
   * Why `code` is not a valid 统一社会信用代码, or null when it is: "length" (not 18 characters), "characters" (a
   * character outside the code's alphabet), or "check" (the 18th character is not the one the first 17 call for).
   * Lower-case letters are refused: the code is printed in capitals on the business licence.
   */
  function usccProblem(code) {
    if (typeof code !== "string" || code.length !== 18) return "length";
    for (const c of code) if (!ALPHABET.includes(c)) return "characters";
    return usccCheckCharacter(code.slice(0, 17)) === code[17] ? null : "check";
  }

  const api = { usccCheckCharacter, usccProblem, isUscc: (code) => usccProblem(code) === null };
  // CommonJS for the gateway, a global for the browser pages (one file serves both).
  // eslint-disable-next-line no-undef
  if (typeof module === "object" && module && module.exports) module.exports = api;
  else root.uscc = api;
})(globalThis);
