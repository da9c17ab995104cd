// ESLint (flat config): the recommended rules of ESLint and typescript-eslint, for the gateway, tests, benches and
// scripts (TypeScript) and the browser pages (plain ES modules). `npm run lint`; part of `npm test`.
// Solidity has its own linter (solhint, `npm run lint:sol`).
import js from "@eslint/js";
import globals from "globals";
import tseslint from "typescript-eslint";

export default tseslint.config(
  { ignores: ["artifacts/", "cache/", "typechain-types/", "node_modules/", "dist/", "test-results/", "bench/_*", "bench/results/"] },
  { linterOptions: { reportUnusedDisableDirectives: "error" } },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      // A leading underscore marks a value left unused on purpose (a parameter a signature needs, a field dropped
      // from a rest copy).
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_", destructuredArrayIgnorePattern: "^_", ignoreRestSiblings: true }],
    },
  },
  {
    files: ["test/**/*.ts"],
    rules: {
      // chai's property assertions (`expect(x).to.exist`, `.to.be.true`) are expressions by design.
      "@typescript-eslint/no-unused-expressions": "off",
    },
  },
  {
    // The console, the public look-up and the consumer's page: ES modules that run in the browser.
    files: ["src/console/public/**/*.js", "src/web-public/**/*.js"],
    languageOptions: { sourceType: "module", globals: globals.browser },
  },
  {
    files: ["**/*.js", "**/*.cjs", "**/*.mjs"],
    ignores: ["src/console/public/**", "src/web-public/**"],
    languageOptions: { globals: globals.node },
  },
);
