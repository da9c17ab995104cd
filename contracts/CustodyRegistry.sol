// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

import { AccessControl } from "@openzeppelin/contracts/access/AccessControl.sol";

import { ICustodyRegistry } from "./interfaces/ICustodyRegistry.sol";
import { Industry, Policy } from "./types/DataTypes.sol";

/// @title CustodyRegistry
/// @notice See {ICustodyRegistry}.
contract CustodyRegistry is ICustodyRegistry, AccessControl {
    /// @inheritdoc ICustodyRegistry
    bytes32 public constant override PLATFORM_REGULATOR_ROLE = keccak256("PLATFORM_REGULATOR_ROLE");
    /// @inheritdoc ICustodyRegistry
    bytes32 public constant override RISK_ORACLE_ROLE = keccak256("RISK_ORACLE_ROLE");

    uint16 private constant MAX_BPS = 10_000;

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
    function policyOf(uint16 industryId) external view override returns (Policy memory) {
        Industry storage industry = _industries[industryId];
        return industry.hasPolicy ? industry.policy : _defaultPolicy;
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
        industry.hasPolicy = true;
        industry.policy = policy;
        emit IndustryPolicySet(industryId, policy);
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
        _defaultPolicy = policy;
        emit DefaultPolicySet(policy);
    }

    function _checkPolicy(Policy memory policy) internal pure {
        if (policy.custodyBps > MAX_BPS) revert Registry_InvalidPolicy(policy.custodyBps);
    }

    function _onlyPlatformRegulator() internal view {
        if (!hasRole(PLATFORM_REGULATOR_ROLE, msg.sender)) revert Registry_NotPlatformRegulator(msg.sender);
    }

    function _onlyRegulatorOf(uint16 industryId) internal view {
        if (!_industries[industryId].exists) revert Registry_UnknownIndustry(industryId);
        if (!regulates(industryId, msg.sender)) revert Registry_NotRegulatorOf(industryId, msg.sender);
    }
}
