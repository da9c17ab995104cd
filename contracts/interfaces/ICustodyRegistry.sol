// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

import { Industry, Policy } from "../types/DataTypes.sol";

/// @title ICustodyRegistry
/// @notice The "1+N" policy registry and the platform's roles: the district's default policy ("1"), the
/// industries with their responsible regulators and their own policies ("N"), the platform regulators and the
/// risk oracle. The escrow reads it for every policy and every regulator's permission.
interface ICustodyRegistry {
    /// @notice The district's default policy ("1") was set.
    event DefaultPolicySet(Policy policy);
    /// @notice An industry was defined or its responsible regulator designated (zero: none yet).
    event IndustryDefined(uint16 indexed industryId, address indexed regulator);
    /// @notice An industry's own policy ("N") was set; it replaces the default for that industry.
    event IndustryPolicySet(uint16 indexed industryId, Policy policy);
    /// @notice An industry's own policy was removed; the default applies again.
    event IndustryPolicyCleared(uint16 indexed industryId);

    error Registry_ZeroAddress();
    error Registry_InvalidPolicy(uint16 custodyBps);
    error Registry_UnknownIndustry(uint16 industryId);
    error Registry_NotPlatformRegulator(address caller);
    error Registry_NotRegulatorOf(uint16 industryId, address caller);

    /// @notice Role of the market regulation bureau: admits merchants, defines industries and policies, acts on
    /// every industry.
    function PLATFORM_REGULATOR_ROLE() external view returns (bytes32);

    /// @notice Role of the risk rating service that pushes risk levels on chain.
    function RISK_ORACLE_ROLE() external view returns (bytes32);

    /// @notice The policy in force for `industryId`: its own, or the default.
    function policyOf(uint16 industryId) external view returns (Policy memory);

    /// @notice The district's default policy.
    function defaultPolicy() external view returns (Policy memory);

    /// @notice Industry `industryId` (its regulator and its own policy, if any).
    function industryOf(uint16 industryId) external view returns (Industry memory);

    /// @notice Whether `account` may act as regulator on `industryId`: a platform regulator always, an industry
    /// regulator on its own industry only.
    function regulates(uint16 industryId, address account) external view returns (bool);

    /// @notice Whether `account` is a platform regulator.
    function isPlatformRegulator(address account) external view returns (bool);

    /// @notice Whether `account` is the risk oracle.
    function isRiskOracle(address account) external view returns (bool);

    /// @notice Sets the district's default policy.
    /// Requirements: the caller is a platform regulator; `custodyBps` is at most 10000.
    /// Emits a {DefaultPolicySet} event.
    function setDefaultPolicy(Policy calldata policy) external;

    /// @notice Defines industry `industryId`, or designates its responsible regulator (zero: none yet; the market
    /// regulation bureau then acts and asks the district to designate one).
    /// Requirements: the caller is a platform regulator.
    /// Emits an {IndustryDefined} event.
    function defineIndustry(uint16 industryId, address regulator) external;

    /// @notice Sets an industry's own policy, replacing the default for it.
    /// Requirements: the industry exists; the caller is a platform regulator or the industry's regulator;
    /// `custodyBps` is at most 10000.
    /// Emits an {IndustryPolicySet} event.
    function setIndustryPolicy(uint16 industryId, Policy calldata policy) external;

    /// @notice Removes an industry's own policy; the default applies to it again.
    /// Requirements: as {setIndustryPolicy}.
    /// Emits an {IndustryPolicyCleared} event.
    function clearIndustryPolicy(uint16 industryId) external;
}
