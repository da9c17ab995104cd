// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

import { Industry, Policy, PolicyField } from "../types/DataTypes.sol";

/// @title ICustodyRegistry
/// @notice The "1+N" policy registry and the platform's roles: the district's default policy ("1"), the
/// industries with their responsible regulators and their own policies ("N"), the platform regulators and the
/// risk oracle. The escrow reads it for every policy and every regulator's permission.
///
/// The law sets the district's floors (checked on every district policy): at least 40% of each payment in custody
/// (京商秩字〔2023〕18号), at least 7 days of cooling-off (法释〔2025〕4号) and at least 30 days' notice before a merchant
/// closes (京商秩字〔2023〕18号), and a filing threshold of at most 500,000 CNY (北京市单用途预付卡管理条例). The
/// district's policy in turn bounds every industry's: an industry regulator may make
/// its industry stricter, never laxer. The platform regulator may raise an industry's custody floor (100% for
/// education and youth sports, 教监管函〔2021〕2号). {policyOf} always answers the policy tightened to the floors and
/// ceilings in force, so a later district change applies to every industry at once.
interface ICustodyRegistry {
    /// @notice The district's default policy ("1") was set.
    event DefaultPolicySet(Policy policy);
    /// @notice An industry was defined or its responsible regulator designated (zero: none yet).
    event IndustryDefined(uint16 indexed industryId, address indexed regulator);
    /// @notice An industry's own policy ("N") was set; it replaces the default for that industry.
    event IndustryPolicySet(uint16 indexed industryId, Policy policy);
    /// @notice An industry's own policy was removed; the default applies again.
    event IndustryPolicyCleared(uint16 indexed industryId);
    // The floor is a value, never filtered on.
    // solhint-disable gas-indexed-events
    /// @notice The platform regulator set an industry's custody floor (basis points; 10000: everything in custody).
    event IndustryCustodyFloorSet(uint16 indexed industryId, uint16 floorBps);
    // solhint-enable gas-indexed-events

    /// @notice Thrown when the admin or platform regulator given at deployment is the zero address.
    error Registry_ZeroAddress();
    /// @notice Thrown when a policy's custody ratio is over 100%.
    /// @param custodyBps The ratio given, basis points.
    error Registry_InvalidPolicy(uint16 custodyBps);
    /// @notice Thrown when the district's policy is laxer than the law (custody, cooling-off or exit notice).
    /// @param field The field below the law.
    /// @param value The value given.
    /// @param minimum The law's minimum.
    error Registry_PolicyBelowLaw(PolicyField field, uint256 value, uint256 minimum);
    /// @notice Thrown when an industry's policy would cross the district's: a custody ratio (or the industry's custody
    /// floor), cooling-off or exit notice below the district's, or a cap above it.
    /// @param industryId The industry.
    /// @param field The field that crosses.
    /// @param value The value given.
    /// @param limit The district's floor or ceiling (for custody, the industry's floor when higher).
    error Registry_PolicyCrossesDistrict(uint16 industryId, PolicyField field, uint256 value, uint256 limit);
    /// @notice Thrown when a policy sets a cap to 0. "No cap" is explicit: the field type's largest value.
    /// @param field The cap.
    error Registry_ZeroCap(PolicyField field);
    /// @notice Thrown when a policy is set or cleared for an industry that was never defined.
    /// @param industryId The industry.
    error Registry_UnknownIndustry(uint16 industryId);
    /// @notice Thrown when a platform regulator's action comes from another account.
    /// @param caller The account that called.
    error Registry_NotPlatformRegulator(address caller);
    /// @notice Thrown when an industry's policy is changed by an account that does not regulate it.
    /// @param industryId The industry.
    /// @param caller The account that called.
    error Registry_NotRegulatorOf(uint16 industryId, address caller);

    /// @notice Role of the market regulation bureau: admits merchants, defines industries and policies, acts on
    /// every industry.
    function PLATFORM_REGULATOR_ROLE() external view returns (bytes32);

    /// @notice Role of the risk rating service that pushes risk levels on chain.
    function RISK_ORACLE_ROLE() external view returns (bytes32);

    /// @notice The policy in force for `industryId`: its own, or the default, tightened to the district's floors and
    /// ceilings and to the industry's custody floor.
    /// @param industryId The industry.
    function policyOf(uint16 industryId) external view returns (Policy memory);

    /// @notice The district's default policy.
    function defaultPolicy() external view returns (Policy memory);

    /// @notice Industry `industryId` (its regulator and its own policy, if any).
    /// @param industryId The industry.
    function industryOf(uint16 industryId) external view returns (Industry memory);

    /// @notice Whether `account` may act as regulator on `industryId`: a platform regulator always, an industry
    /// regulator on its own industry only.
    /// @param industryId The industry.
    /// @param account The account.
    function regulates(uint16 industryId, address account) external view returns (bool);

    /// @notice Whether `account` is a platform regulator.
    /// @param account The account.
    function isPlatformRegulator(address account) external view returns (bool);

    /// @notice Whether `account` is the risk oracle.
    /// @param account The account.
    function isRiskOracle(address account) external view returns (bool);

    /// @notice Sets the district's default policy, the floor and ceiling of every industry's.
    /// Requirements: the caller is a platform regulator; `custodyBps` is at most 10000; the law's floors hold (custody
    /// >= 40%, cooling-off >= 7 days, exit notice >= 30 days); no cap is 0.
    /// Emits a {DefaultPolicySet} event.
    /// @param policy The district's policy.
    function setDefaultPolicy(Policy calldata policy) external;

    /// @notice Defines industry `industryId`, or designates its responsible regulator (zero: none yet; the market
    /// regulation bureau then acts and asks the district to designate one).
    /// Requirements: the caller is a platform regulator.
    /// Emits an {IndustryDefined} event.
    /// @param industryId The industry's stable id.
    /// @param regulator Its responsible regulator (zero: none designated yet).
    function defineIndustry(uint16 industryId, address regulator) external;

    /// @notice Sets an industry's own policy, replacing the default for it.
    /// Requirements: the industry exists; the caller is a platform regulator or the industry's regulator;
    /// `custodyBps` is at most 10000 and at least the district's and the industry's custody floor; cooling-off and
    /// exit notice at least the district's; every cap at most the district's, and none 0.
    /// Emits an {IndustryPolicySet} event.
    /// @param industryId The industry.
    /// @param policy Its own policy.
    function setIndustryPolicy(uint16 industryId, Policy calldata policy) external;

    /// @notice Sets an industry's custody floor: its policy may not hold less of each payment in custody.
    /// Requirements: the industry exists; the caller is a platform regulator; `floorBps` is at most 10000.
    /// Emits an {IndustryCustodyFloorSet} event.
    /// @param industryId The industry.
    /// @param floorBps The floor, basis points (10000: everything in custody).
    function setIndustryCustodyFloor(uint16 industryId, uint16 floorBps) external;

    /// @notice Removes an industry's own policy; the default applies to it again.
    /// Requirements: as {setIndustryPolicy}.
    /// Emits an {IndustryPolicyCleared} event.
    /// @param industryId The industry.
    function clearIndustryPolicy(uint16 industryId) external;

    /// @notice Thrown when the district's policy is laxer than the law on a ceiling (the filing threshold).
    /// @param field The field above the law.
    /// @param value The value given.
    /// @param maximum The law's maximum.
    error Registry_PolicyAboveLaw(PolicyField field, uint256 value, uint256 maximum);
}
