import { HardhatUserConfig, subtask } from "hardhat/config";
import { TASK_COMPILE_SOLIDITY_GET_SOLC_BUILD } from "hardhat/builtin-tasks/task-names";
import "@nomicfoundation/hardhat-ethers";
import "@nomicfoundation/hardhat-chai-matchers";
import "@typechain/hardhat";

const SOLC_VERSION = "0.8.28";

// No machine this runs on can reach binaries.soliditylang.org (CI, air-gapped consortium servers):
// compile with the solc-js build from the pinned npm package instead of downloading a compiler.
subtask(TASK_COMPILE_SOLIDITY_GET_SOLC_BUILD, async (args: { solcVersion: string }, _hre, runSuper) => {
  if (args.solcVersion !== SOLC_VERSION) return runSuper();
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const solc = require("solc");
  const longVersion: string = solc.version();
  if (!longVersion.startsWith(SOLC_VERSION + "+")) {
    throw new Error(`npm package solc is ${longVersion}, but hardhat.config.ts compiles with ${SOLC_VERSION}: pin solc@${SOLC_VERSION}`);
  }
  return { compilerPath: require.resolve("solc/soljson.js"), isSolcJs: true, version: SOLC_VERSION, longVersion };
});

const config: HardhatUserConfig = {
  solidity: {
    version: SOLC_VERSION,
    settings: {
      // cancun: OpenZeppelin >= 5.5 emits mcopy. Besu runs it with shanghaiTime/cancunTime 0 in genesis.
      evmVersion: "cancun",
      viaIR: true,
      // runs: 1 keeps the code small (EIP-170's 24 KiB limit, which Besu enforces too; see layout.test.ts).
      optimizer: { enabled: true, runs: 1 },
      // test/contracts/layout.test.ts checks the packed card slot and the escrow/module layouts against this.
      outputSelection: { "*": { "*": ["storageLayout"] } },
    },
  },
  networks: {
    hardhat: { hardfork: "cancun", initialBaseFeePerGas: 0 },
    localhost: { url: process.env.CHAIN_RPC_URL?.split(",")[0] ?? "http://127.0.0.1:8545" },
  },
  typechain: { outDir: "typechain-types", target: "ethers-v6" },
  mocha: { timeout: 120_000 },
};

export default config;
