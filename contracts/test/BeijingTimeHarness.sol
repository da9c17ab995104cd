// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

import { BeijingTime } from "../libraries/BeijingTime.sol";

/// @title BeijingTimeHarness
/// @notice Test-only: exposes {BeijingTime} so its edges can be tested on their own.
contract BeijingTimeHarness {
    /// @notice See {BeijingTime-dayOf}.
    function dayOf(uint256 timestamp) external pure returns (uint256) {
        return BeijingTime.dayOf(timestamp);
    }

    /// @notice See {BeijingTime-startOf}.
    function startOf(uint256 day) external pure returns (uint256) {
        return BeijingTime.startOf(day);
    }

    /// @notice See {BeijingTime-endOfPeriod}.
    function endOfPeriod(uint256 timestamp, uint256 days_) external pure returns (uint256) {
        return BeijingTime.endOfPeriod(timestamp, days_);
    }

    /// @notice See {BeijingTime-dayStartingAtOrAfter}.
    function dayStartingAtOrAfter(uint256 timestamp) external pure returns (uint256) {
        return BeijingTime.dayStartingAtOrAfter(timestamp);
    }
}
