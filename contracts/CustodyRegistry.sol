// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

import { AccessControl } from "@openzeppelin/contracts/access/AccessControl.sol";

import { ICustodyRegistry } from "./interfaces/ICustodyRegistry.sol";
import { Industry, Policy, PolicyField } from "./types/DataTypes.sol";

/// @title CustodyRegistry
/// @notice See {ICustodyRegistry}.
contract CustodyRegistry is ICustodyRegistry, AccessControl {
    /// @inheritdoc ICustodyRegistry
    bytes32 public constant override PLATFORM_REGULATOR_ROLE = keccak256("PLATFORM_REGULATOR_ROLE");
    /// @inheritdoc ICustodyRegistry
    bytes32 public constant override RISK_ORACLE_ROLE = keccak256("RISK_ORACLE_ROLE");

    uint16 private constant MAX_BPS = 10_000;
    /// @dev 京商秩字〔2023〕18号: at least 40% of the prepaid balance in custody.
    uint16 private constant LAW_MIN_CUSTODY_BPS = 4_000;
    /// @dev 法释〔2025〕4号: the principal back within 7 days of paying.
    uint8 private constant LAW_MIN_COOLING_OFF_DAYS = 7;
    /// @dev 京商秩字〔2023〕18号: 30 days' public notice before closing.
    uint16 private constant LAW_MIN_EXIT_NOTICE_DAYS = 30;
    /// @dev 北京市单用途预付卡管理条例: a merchant files once its prepaid balance reaches 500,000 CNY (in fen).
    uint32 private constant LAW_MAX_FILING_THRESHOLD = 50_000_000;

    Policy internal _defaultPolicy;
    mapping(uint16 industryId => Industry) internal _industries;

    /*//////////////////////////////////////////////////////////////////////////
                                     CONSTRUCTOR
    //////////////////////////////////////////////////////////////////////////*/

    /// @notice Deploys the registry with its first roles and the district's default policy.
    /// @param admin Grants and revokes roles (a governance account of the consortium).
    /// @param platformRegulator The market regulation bureau's account.
    /// @param initialPolicy The district's default policy ("1").
    constructor(address admin, address platformRegulator, Policy memory initialPolicy) {
        if (admin == address(0) || platformRegulator == address(0)) revert Registry_ZeroAddress();
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
        _grantRole(PLATFORM_REGULATOR_ROLE, platformRegulator);
        _setDefaultPolicy(initialPolicy);
    }

    /*//////////////////////////////////////////////////////////////////////////
                                  READ-ONLY FUNCTIONS
    //////////////////////////////////////////////////////////////////////////*/

    /// @inheritdoc ICustodyRegistry
    function policyOf(uint16 industryId) external view override returns (Policy memory p) {
        Industry storage industry = _industries[industryId];
        Policy memory d = _defaultPolicy;
        if (!industry.hasPolicy) {
            p = d;
        } else {
            // Tightened field by field: a district change made after the industry's policy binds it at once.
            p = industry.policy;
            if (p.custodyBps < d.custodyBps) p.custodyBps = d.custodyBps;
            if (p.coolingOffDays < d.coolingOffDays) p.coolingOffDays = d.coolingOffDays;
            if (p.exitNoticeDays < d.exitNoticeDays) p.exitNoticeDays = d.exitNoticeDays;
            if (p.maxLessons > d.maxLessons) p.maxLessons = d.maxLessons;
            if (p.maxValidityDays > d.maxValidityDays) p.maxValidityDays = d.maxValidityDays;
            if (p.maxCardValue > d.maxCardValue) p.maxCardValue = d.maxCardValue;
            if (p.maxAnonymousValue > d.maxAnonymousValue) p.maxAnonymousValue = d.maxAnonymousValue;
            if (p.mediumRiskCap30d > d.mediumRiskCap30d) p.mediumRiskCap30d = d.mediumRiskCap30d;
            if (p.filingThreshold > d.filingThreshold) p.filingThreshold = d.filingThreshold;
        }
        uint16 floor = industry.custodyFloorBps;
        if (p.custodyBps < floor) p.custodyBps = floor;
    }

    /// @inheritdoc ICustodyRegistry
    function defaultPolicy() external view override returns (Policy memory) {
        return _defaultPolicy;
    }

    /// @inheritdoc ICustodyRegistry
    function industryOf(uint16 industryId) external view override returns (Industry memory) {
        return _industries[industryId];
    }

    /// @inheritdoc ICustodyRegistry
    function regulates(uint16 industryId, address account) public view override returns (bool) {
        if (hasRole(PLATFORM_REGULATOR_ROLE, account)) return true;
        address regulator = _industries[industryId].regulator;
        return regulator != address(0) && regulator == account;
    }

    /// @inheritdoc ICustodyRegistry
    function isPlatformRegulator(address account) external view override returns (bool) {
        return hasRole(PLATFORM_REGULATOR_ROLE, account);
    }

    /// @inheritdoc ICustodyRegistry
    function isRiskOracle(address account) external view override returns (bool) {
        return hasRole(RISK_ORACLE_ROLE, account);
    }

    /*//////////////////////////////////////////////////////////////////////////
                                STATE-CHANGING FUNCTIONS
    //////////////////////////////////////////////////////////////////////////*/

    /// @inheritdoc ICustodyRegistry
    function setDefaultPolicy(Policy calldata policy) external override {
        _onlyPlatformRegulator();
        _setDefaultPolicy(policy);
    }

    /// @inheritdoc ICustodyRegistry
    function defineIndustry(uint16 industryId, address regulator) external override {
        _onlyPlatformRegulator();
        Industry storage industry = _industries[industryId];
        industry.exists = true;
        industry.regulator = regulator;
        emit IndustryDefined(industryId, regulator);
    }

    /// @inheritdoc ICustodyRegistry
    function setIndustryPolicy(uint16 industryId, Policy calldata policy) external override {
        _onlyRegulatorOf(industryId);
        _checkPolicy(policy);
        Industry storage industry = _industries[industryId];
        _checkWithinDistrict(industryId, policy, industry.custodyFloorBps);
        industry.hasPolicy = true;
        industry.policy = policy;
        emit IndustryPolicySet(industryId, policy);
    }

    /// @inheritdoc ICustodyRegistry
    function setIndustryCustodyFloor(uint16 industryId, uint16 floorBps) external override {
        _onlyPlatformRegulator();
        Industry storage industry = _industries[industryId];
        if (!industry.exists) revert Registry_UnknownIndustry(industryId);
        if (floorBps > MAX_BPS) revert Registry_InvalidPolicy(floorBps);
        industry.custodyFloorBps = floorBps;
        emit IndustryCustodyFloorSet(industryId, floorBps);
    }

    /// @inheritdoc ICustodyRegistry
    function clearIndustryPolicy(uint16 industryId) external override {
        _onlyRegulatorOf(industryId);
        Industry storage industry = _industries[industryId];
        industry.hasPolicy = false;
        delete industry.policy;
        emit IndustryPolicyCleared(industryId);
    }

    /*//////////////////////////////////////////////////////////////////////////
                                  INTERNAL FUNCTIONS
    //////////////////////////////////////////////////////////////////////////*/

    function _setDefaultPolicy(Policy memory policy) internal {
        _checkPolicy(policy);
        if (policy.custodyBps < LAW_MIN_CUSTODY_BPS) {
            revert Registry_PolicyBelowLaw(PolicyField.CustodyBps, policy.custodyBps, LAW_MIN_CUSTODY_BPS);
        }
        if (policy.coolingOffDays < LAW_MIN_COOLING_OFF_DAYS) {
            revert Registry_PolicyBelowLaw(PolicyField.CoolingOffDays, policy.coolingOffDays, LAW_MIN_COOLING_OFF_DAYS);
        }
        if (policy.exitNoticeDays < LAW_MIN_EXIT_NOTICE_DAYS) {
            revert Registry_PolicyBelowLaw(PolicyField.ExitNoticeDays, policy.exitNoticeDays, LAW_MIN_EXIT_NOTICE_DAYS);
        }
        if (policy.filingThreshold > LAW_MAX_FILING_THRESHOLD) {
            revert Registry_PolicyAboveLaw(PolicyField.FilingThreshold, policy.filingThreshold, LAW_MAX_FILING_THRESHOLD);
        }
        _defaultPolicy = policy;
        emit DefaultPolicySet(policy);
    }

    /// @dev What every policy must be: a custody ratio of at most 100%, and caps that are never 0.
    function _checkPolicy(Policy memory policy) internal pure {
        if (policy.custodyBps > MAX_BPS) revert Registry_InvalidPolicy(policy.custodyBps);
        if (policy.maxLessons == 0) revert Registry_ZeroCap(PolicyField.MaxLessons);
        if (policy.maxValidityDays == 0) revert Registry_ZeroCap(PolicyField.MaxValidityDays);
        if (policy.maxCardValue == 0) revert Registry_ZeroCap(PolicyField.MaxCardValue);
        if (policy.maxAnonymousValue == 0) revert Registry_ZeroCap(PolicyField.MaxAnonymousValue);
        if (policy.mediumRiskCap30d == 0) revert Registry_ZeroCap(PolicyField.MediumRiskCap30d);
        if (policy.filingThreshold == 0) revert Registry_ZeroCap(PolicyField.FilingThreshold);
    }

    /// @dev An industry's policy stays inside the district's: floors at least, ceilings at most.
    function _checkWithinDistrict(uint16 industryId, Policy calldata p, uint16 custodyFloorBps) internal view {
        Policy memory d = _defaultPolicy;
        uint256 custodyFloor = custodyFloorBps > d.custodyBps ? custodyFloorBps : d.custodyBps;
        if (p.custodyBps < custodyFloor) _crosses(industryId, PolicyField.CustodyBps, p.custodyBps, custodyFloor);
        if (p.coolingOffDays < d.coolingOffDays) {
            _crosses(industryId, PolicyField.CoolingOffDays, p.coolingOffDays, d.coolingOffDays);
        }
        if (p.exitNoticeDays < d.exitNoticeDays) {
            _crosses(industryId, PolicyField.ExitNoticeDays, p.exitNoticeDays, d.exitNoticeDays);
        }
        if (p.maxLessons > d.maxLessons) _crosses(industryId, PolicyField.MaxLessons, p.maxLessons, d.maxLessons);
        if (p.maxValidityDays > d.maxValidityDays) {
            _crosses(industryId, PolicyField.MaxValidityDays, p.maxValidityDays, d.maxValidityDays);
        }
        if (p.maxCardValue > d.maxCardValue) _crosses(industryId, PolicyField.MaxCardValue, p.maxCardValue, d.maxCardValue);
        if (p.maxAnonymousValue > d.maxAnonymousValue) {
            _crosses(industryId, PolicyField.MaxAnonymousValue, p.maxAnonymousValue, d.maxAnonymousValue);
        }
        if (p.mediumRiskCap30d > d.mediumRiskCap30d) {
            _crosses(industryId, PolicyField.MediumRiskCap30d, p.mediumRiskCap30d, d.mediumRiskCap30d);
        }
        if (p.filingThreshold > d.filingThreshold) {
            _crosses(industryId, PolicyField.FilingThreshold, p.filingThreshold, d.filingThreshold);
        }
    }

    function _crosses(uint16 industryId, PolicyField field, uint256 value, uint256 limit) internal pure {
        revert Registry_PolicyCrossesDistrict(industryId, field, value, limit);
    }

    function _onlyPlatformRegulator() internal view {
        if (!hasRole(PLATFORM_REGULATOR_ROLE, msg.sender)) revert Registry_NotPlatformRegulator(msg.sender);
    }

    function _onlyRegulatorOf(uint16 industryId) internal view {
        if (!_industries[industryId].exists) revert Registry_UnknownIndustry(industryId);
        if (!regulates(industryId, msg.sender)) revert Registry_NotRegulatorOf(industryId, msg.sender);
    }
}
