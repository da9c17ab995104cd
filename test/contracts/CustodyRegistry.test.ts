import { expect } from "chai";
import { ethers } from "hardhat";
import { loadFixture } from "@nomicfoundation/hardhat-network-helpers";
import { CustodyRegistry__factory } from "../../typechain-types";
import { DEFAULT_POLICY, TRAINING_POLICY, PolicyInput, CNY } from "../../src/chain/policies";
import { deployFixture, EDUCATION, FITNESS, PET_CARE, RiskLevel } from "./fixture";

/** A policy as the contract returns it and as event arguments compare: a tuple of integers. */
function tuple(p: PolicyInput): bigint[] {
  return [
    BigInt(p.custodyBps),
    BigInt(p.coolingOffDays),
    BigInt(p.exitNoticeDays),
    BigInt(p.maxLessons),
    BigInt(p.maxValidityDays),
    p.maxCardValue,
    p.maxAnonymousValue,
    p.mediumRiskCap30d,
    p.filingThreshold,
  ];
}

/** Stricter than the district on custody and the named-card cap, as an industry may be. */
const BEAUTY_POLICY: PolicyInput = { ...DEFAULT_POLICY, custodyBps: 5_000, maxCardValue: 3_000n * CNY };
const UNDEFINED_INDUSTRY = 99;

describe("CustodyRegistry", () => {
  describe("constructor", () => {
    describe("when the admin is the zero address", () => {
      it("it reverts with Registry_ZeroAddress", async () => {
        const [deployer, regulator] = await ethers.getSigners();
        const factory = new CustodyRegistry__factory(deployer);
        await expect(factory.deploy(ethers.ZeroAddress, regulator.address, DEFAULT_POLICY)).to.be.revertedWithCustomError(
          factory,
          "Registry_ZeroAddress",
        );
      });
    });

    describe("when the platform regulator is the zero address", () => {
      it("it reverts with Registry_ZeroAddress", async () => {
        const [deployer] = await ethers.getSigners();
        const factory = new CustodyRegistry__factory(deployer);
        await expect(factory.deploy(deployer.address, ethers.ZeroAddress, DEFAULT_POLICY)).to.be.revertedWithCustomError(
          factory,
          "Registry_ZeroAddress",
        );
      });
    });

    describe("when the default policy custodies more than 100%", () => {
      it("it reverts with Registry_InvalidPolicy", async () => {
        const [deployer, regulator] = await ethers.getSigners();
        const factory = new CustodyRegistry__factory(deployer);
        await expect(factory.deploy(deployer.address, regulator.address, { ...DEFAULT_POLICY, custodyBps: 10_001 }))
          .to.be.revertedWithCustomError(factory, "Registry_InvalidPolicy")
          .withArgs(10_001);
      });
    });

    describe("when the arguments are valid", () => {
      it("it grants the roles and emits DefaultPolicySet", async () => {
        const [deployer, regulator] = await ethers.getSigners();
        const registry = await new CustodyRegistry__factory(deployer).deploy(deployer.address, regulator.address, DEFAULT_POLICY);
        await expect(registry.deploymentTransaction()).to.emit(registry, "DefaultPolicySet").withArgs(tuple(DEFAULT_POLICY));
        expect(await registry.hasRole(await registry.DEFAULT_ADMIN_ROLE(), deployer.address)).to.equal(true);
        expect(await registry.isPlatformRegulator(regulator.address)).to.equal(true);
        expect(await registry.isPlatformRegulator(deployer.address)).to.equal(false);
        expect([...(await registry.defaultPolicy())]).to.deep.equal(tuple(DEFAULT_POLICY));
      });
    });
  });

  describe("role constants", () => {
    it("are the keccak256 of their names", async () => {
      const { registry } = await loadFixture(deployFixture);
      expect(await registry.PLATFORM_REGULATOR_ROLE()).to.equal(ethers.id("PLATFORM_REGULATOR_ROLE"));
      expect(await registry.RISK_ORACLE_ROLE()).to.equal(ethers.id("RISK_ORACLE_ROLE"));
    });
  });

  describe("policyOf", () => {
    describe("when the industry has its own policy", () => {
      it("it returns the industry's policy", async () => {
        const { registry } = await loadFixture(deployFixture);
        expect([...(await registry.policyOf(EDUCATION))]).to.deep.equal(tuple(TRAINING_POLICY));
      });
    });

    describe("when the industry has no policy of its own", () => {
      it("it returns the default policy", async () => {
        const { registry } = await loadFixture(deployFixture);
        expect([...(await registry.policyOf(FITNESS))]).to.deep.equal(tuple(DEFAULT_POLICY));
        expect([...(await registry.policyOf(PET_CARE))]).to.deep.equal(tuple(DEFAULT_POLICY));
      });
    });

    describe("when the industry is not defined", () => {
      it("it returns the default policy", async () => {
        const { registry } = await loadFixture(deployFixture);
        expect([...(await registry.policyOf(UNDEFINED_INDUSTRY))]).to.deep.equal(tuple(DEFAULT_POLICY));
      });
    });
  });

  describe("industryOf", () => {
    it("returns the regulator, existence and policy of each industry", async () => {
      const { registry, eduRegulator, sportsRegulator } = await loadFixture(deployFixture);
      const edu = await registry.industryOf(EDUCATION);
      expect(edu.regulator).to.equal(eduRegulator.address);
      expect(edu.exists).to.equal(true);
      expect(edu.hasPolicy).to.equal(true);
      expect([...edu.policy]).to.deep.equal(tuple(TRAINING_POLICY));
      const fitness = await registry.industryOf(FITNESS);
      expect(fitness.regulator).to.equal(sportsRegulator.address);
      expect(fitness.hasPolicy).to.equal(false);
      const pet = await registry.industryOf(PET_CARE);
      expect(pet.regulator).to.equal(ethers.ZeroAddress);
      expect(pet.exists).to.equal(true);
      expect((await registry.industryOf(UNDEFINED_INDUSTRY)).exists).to.equal(false);
    });
  });

  describe("regulates", () => {
    describe("when the account is a platform regulator", () => {
      it("it regulates every industry, defined or not", async () => {
        const { registry, regulator } = await loadFixture(deployFixture);
        for (const industry of [EDUCATION, FITNESS, PET_CARE, UNDEFINED_INDUSTRY]) {
          expect(await registry.regulates(industry, regulator.address)).to.equal(true);
        }
      });
    });

    describe("when the account is an industry regulator", () => {
      it("it regulates its own industry only", async () => {
        const { registry, eduRegulator, sportsRegulator } = await loadFixture(deployFixture);
        expect(await registry.regulates(EDUCATION, eduRegulator.address)).to.equal(true);
        expect(await registry.regulates(FITNESS, eduRegulator.address)).to.equal(false);
        expect(await registry.regulates(FITNESS, sportsRegulator.address)).to.equal(true);
        expect(await registry.regulates(EDUCATION, sportsRegulator.address)).to.equal(false);
        expect(await registry.regulates(PET_CARE, eduRegulator.address)).to.equal(false);
      });
    });

    describe("when the industry has no designated regulator", () => {
      it("it does not count the zero address as its regulator", async () => {
        const { registry } = await loadFixture(deployFixture);
        expect(await registry.regulates(PET_CARE, ethers.ZeroAddress)).to.equal(false);
      });
    });

    describe("when the account holds no role", () => {
      it("it regulates nothing", async () => {
        const { registry, stranger, riskOracle } = await loadFixture(deployFixture);
        expect(await registry.regulates(EDUCATION, stranger.address)).to.equal(false);
        expect(await registry.regulates(EDUCATION, riskOracle.address)).to.equal(false);
      });
    });
  });

  describe("isRiskOracle", () => {
    it("is true for the granted oracle only, and follows grants and revocations", async () => {
      const { registry, escrow, deployer, riskOracle, regulator, stranger, school } = await loadFixture(deployFixture);
      expect(await registry.isRiskOracle(riskOracle.address)).to.equal(true);
      expect(await registry.isRiskOracle(regulator.address)).to.equal(false);
      await registry.connect(deployer).revokeRole(await registry.RISK_ORACLE_ROLE(), riskOracle.address);
      expect(await registry.isRiskOracle(riskOracle.address)).to.equal(false);
      // The escrow asks the registry on every call: a revoked oracle can no longer rate merchants.
      await expect(escrow.connect(riskOracle).setRiskLevel(school, RiskLevel.High, ethers.ZeroHash))
        .to.be.revertedWithCustomError(escrow, "Custody_NotRiskOracle")
        .withArgs(riskOracle.address);
      await registry.connect(deployer).grantRole(await registry.RISK_ORACLE_ROLE(), stranger.address);
      expect(await registry.isRiskOracle(stranger.address)).to.equal(true);
    });

    describe("when a non-admin grants a role", () => {
      it("it reverts with AccessControlUnauthorizedAccount", async () => {
        const { registry, regulator, stranger } = await loadFixture(deployFixture);
        await expect(registry.connect(regulator).grantRole(await registry.RISK_ORACLE_ROLE(), stranger.address))
          .to.be.revertedWithCustomError(registry, "AccessControlUnauthorizedAccount")
          .withArgs(regulator.address, await registry.DEFAULT_ADMIN_ROLE());
      });
    });
  });

  describe("setDefaultPolicy", () => {
    describe("when the caller is an industry regulator", () => {
      it("it reverts with Registry_NotPlatformRegulator", async () => {
        const { registry, eduRegulator } = await loadFixture(deployFixture);
        await expect(registry.connect(eduRegulator).setDefaultPolicy(BEAUTY_POLICY))
          .to.be.revertedWithCustomError(registry, "Registry_NotPlatformRegulator")
          .withArgs(eduRegulator.address);
      });
    });

    describe("when the caller is the role admin but not a platform regulator", () => {
      it("it reverts with Registry_NotPlatformRegulator", async () => {
        const { registry, deployer } = await loadFixture(deployFixture);
        await expect(registry.connect(deployer).setDefaultPolicy(BEAUTY_POLICY))
          .to.be.revertedWithCustomError(registry, "Registry_NotPlatformRegulator")
          .withArgs(deployer.address);
      });
    });

    describe("when custodyBps is over 10000", () => {
      it("it reverts with Registry_InvalidPolicy", async () => {
        const { registry, regulator } = await loadFixture(deployFixture);
        await expect(registry.connect(regulator).setDefaultPolicy({ ...DEFAULT_POLICY, custodyBps: 10_001 }))
          .to.be.revertedWithCustomError(registry, "Registry_InvalidPolicy")
          .withArgs(10_001);
      });
    });

    describe("when the caller is a platform regulator", () => {
      it("it sets the default, which applies to industries without their own policy and bounds those with one", async () => {
        const { registry, regulator } = await loadFixture(deployFixture);
        const policy = { ...BEAUTY_POLICY, custodyBps: 10_000 };
        await expect(registry.connect(regulator).setDefaultPolicy(policy)).to.emit(registry, "DefaultPolicySet").withArgs(tuple(policy));
        expect([...(await registry.defaultPolicy())]).to.deep.equal(tuple(policy));
        expect([...(await registry.policyOf(FITNESS))]).to.deep.equal(tuple(policy));
        // Education keeps its own (stricter) caps; the district's lower named-card cap binds it at once.
        expect([...(await registry.policyOf(EDUCATION))]).to.deep.equal(tuple({ ...TRAINING_POLICY, maxCardValue: 3_000n * CNY }));
      });
    });
  });

  describe("defineIndustry", () => {
    describe("when the caller is not a platform regulator", () => {
      it("it reverts with Registry_NotPlatformRegulator", async () => {
        const { registry, eduRegulator } = await loadFixture(deployFixture);
        await expect(registry.connect(eduRegulator).defineIndustry(4, eduRegulator.address))
          .to.be.revertedWithCustomError(registry, "Registry_NotPlatformRegulator")
          .withArgs(eduRegulator.address);
      });
    });

    describe("when the caller is a platform regulator", () => {
      it("it defines a new industry and emits IndustryDefined", async () => {
        const { registry, regulator, stranger } = await loadFixture(deployFixture);
        await expect(registry.connect(regulator).defineIndustry(4, stranger.address))
          .to.emit(registry, "IndustryDefined")
          .withArgs(4, stranger.address);
        const industry = await registry.industryOf(4);
        expect(industry.exists).to.equal(true);
        expect(industry.regulator).to.equal(stranger.address);
        expect(await registry.regulates(4, stranger.address)).to.equal(true);
      });

      it("it re-designates an industry's regulator and keeps its policy", async () => {
        const { registry, regulator, eduRegulator, stranger } = await loadFixture(deployFixture);
        await expect(registry.connect(regulator).defineIndustry(EDUCATION, stranger.address))
          .to.emit(registry, "IndustryDefined")
          .withArgs(EDUCATION, stranger.address);
        expect(await registry.regulates(EDUCATION, stranger.address)).to.equal(true);
        expect(await registry.regulates(EDUCATION, eduRegulator.address)).to.equal(false);
        expect([...(await registry.policyOf(EDUCATION))]).to.deep.equal(tuple(TRAINING_POLICY));
      });

      it("it designates a regulator for an industry that had none", async () => {
        const { registry, regulator, stranger } = await loadFixture(deployFixture);
        expect(await registry.regulates(PET_CARE, stranger.address)).to.equal(false);
        await registry.connect(regulator).defineIndustry(PET_CARE, stranger.address);
        expect(await registry.regulates(PET_CARE, stranger.address)).to.equal(true);
      });
    });
  });

  describe("setIndustryPolicy", () => {
    describe("when the industry is not defined", () => {
      it("it reverts with Registry_UnknownIndustry", async () => {
        const { registry, regulator } = await loadFixture(deployFixture);
        await expect(registry.connect(regulator).setIndustryPolicy(UNDEFINED_INDUSTRY, BEAUTY_POLICY))
          .to.be.revertedWithCustomError(registry, "Registry_UnknownIndustry")
          .withArgs(UNDEFINED_INDUSTRY);
      });
    });

    describe("when the caller regulates another industry", () => {
      it("it reverts with Registry_NotRegulatorOf", async () => {
        const { registry, sportsRegulator } = await loadFixture(deployFixture);
        await expect(registry.connect(sportsRegulator).setIndustryPolicy(EDUCATION, BEAUTY_POLICY))
          .to.be.revertedWithCustomError(registry, "Registry_NotRegulatorOf")
          .withArgs(EDUCATION, sportsRegulator.address);
      });
    });

    describe("when the industry has no regulator and the caller is not a platform regulator", () => {
      it("it reverts with Registry_NotRegulatorOf", async () => {
        const { registry, eduRegulator } = await loadFixture(deployFixture);
        await expect(registry.connect(eduRegulator).setIndustryPolicy(PET_CARE, BEAUTY_POLICY))
          .to.be.revertedWithCustomError(registry, "Registry_NotRegulatorOf")
          .withArgs(PET_CARE, eduRegulator.address);
      });
    });

    describe("when the caller holds no role", () => {
      it("it reverts with Registry_NotRegulatorOf", async () => {
        const { registry, stranger } = await loadFixture(deployFixture);
        await expect(registry.connect(stranger).setIndustryPolicy(FITNESS, BEAUTY_POLICY))
          .to.be.revertedWithCustomError(registry, "Registry_NotRegulatorOf")
          .withArgs(FITNESS, stranger.address);
      });
    });

    describe("when custodyBps is over 10000", () => {
      it("it reverts with Registry_InvalidPolicy", async () => {
        const { registry, sportsRegulator } = await loadFixture(deployFixture);
        await expect(registry.connect(sportsRegulator).setIndustryPolicy(FITNESS, { ...BEAUTY_POLICY, custodyBps: 12_000 }))
          .to.be.revertedWithCustomError(registry, "Registry_InvalidPolicy")
          .withArgs(12_000);
      });
    });

    describe("when the industry's own regulator sets it", () => {
      it("it replaces the default for that industry and emits IndustryPolicySet", async () => {
        const { registry, sportsRegulator } = await loadFixture(deployFixture);
        await expect(registry.connect(sportsRegulator).setIndustryPolicy(FITNESS, BEAUTY_POLICY))
          .to.emit(registry, "IndustryPolicySet")
          .withArgs(FITNESS, tuple(BEAUTY_POLICY));
        expect([...(await registry.policyOf(FITNESS))]).to.deep.equal(tuple(BEAUTY_POLICY));
        expect((await registry.industryOf(FITNESS)).hasPolicy).to.equal(true);
        expect([...(await registry.defaultPolicy())]).to.deep.equal(tuple(DEFAULT_POLICY));
      });
    });

    describe("when a platform regulator sets it", () => {
      it("it sets the policy of an industry without a regulator", async () => {
        const { registry, regulator } = await loadFixture(deployFixture);
        await expect(registry.connect(regulator).setIndustryPolicy(PET_CARE, BEAUTY_POLICY))
          .to.emit(registry, "IndustryPolicySet")
          .withArgs(PET_CARE, tuple(BEAUTY_POLICY));
        expect([...(await registry.policyOf(PET_CARE))]).to.deep.equal(tuple(BEAUTY_POLICY));
      });
    });
  });

  describe("clearIndustryPolicy", () => {
    describe("when the industry is not defined", () => {
      it("it reverts with Registry_UnknownIndustry", async () => {
        const { registry, regulator } = await loadFixture(deployFixture);
        await expect(registry.connect(regulator).clearIndustryPolicy(UNDEFINED_INDUSTRY))
          .to.be.revertedWithCustomError(registry, "Registry_UnknownIndustry")
          .withArgs(UNDEFINED_INDUSTRY);
      });
    });

    describe("when the caller regulates another industry", () => {
      it("it reverts with Registry_NotRegulatorOf", async () => {
        const { registry, sportsRegulator } = await loadFixture(deployFixture);
        await expect(registry.connect(sportsRegulator).clearIndustryPolicy(EDUCATION))
          .to.be.revertedWithCustomError(registry, "Registry_NotRegulatorOf")
          .withArgs(EDUCATION, sportsRegulator.address);
      });
    });

    describe("when the industry's regulator clears it", () => {
      it("it removes the own policy, the default applies again, and emits IndustryPolicyCleared", async () => {
        const { registry, eduRegulator } = await loadFixture(deployFixture);
        await expect(registry.connect(eduRegulator).clearIndustryPolicy(EDUCATION))
          .to.emit(registry, "IndustryPolicyCleared")
          .withArgs(EDUCATION);
        const industry = await registry.industryOf(EDUCATION);
        expect(industry.hasPolicy).to.equal(false);
        expect(industry.exists).to.equal(true);
        expect(industry.regulator).to.equal(eduRegulator.address);
        expect([...industry.policy]).to.deep.equal(new Array(9).fill(0n));
        // The district's default, at education's own custody floor (100%).
        expect([...(await registry.policyOf(EDUCATION))]).to.deep.equal(tuple({ ...DEFAULT_POLICY, custodyBps: 10_000 }));
      });
    });

    describe("when a platform regulator clears it", () => {
      it("it succeeds on any industry", async () => {
        const { registry, regulator } = await loadFixture(deployFixture);
        await expect(registry.connect(regulator).clearIndustryPolicy(EDUCATION)).to.emit(registry, "IndustryPolicyCleared").withArgs(EDUCATION);
        // The district's default, at education's own custody floor (100%).
        expect([...(await registry.policyOf(EDUCATION))]).to.deep.equal(tuple({ ...DEFAULT_POLICY, custodyBps: 10_000 }));
      });
    });
  });
});
