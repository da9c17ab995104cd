// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

import { CustodyMath } from "../libraries/CustodyMath.sol";

/// @title CustodyMathHarness
/// @notice Exposes {CustodyMath} to the unit tests. Not deployed anywhere but the test network.
contract CustodyMathHarness {
    /// @notice {CustodyMath.split}.
    function split(uint256 price, uint256 custodyBps) external pure returns (uint256 custodied, uint256 direct) {
        return CustodyMath.split(price, custodyBps);
    }

    /// @notice {CustodyMath.share}.
    function share(uint256 held, uint256 unitsLeft, uint256 units) external pure returns (uint256) {
        return CustodyMath.share(held, unitsLeft, units);
    }

    /// @notice {CustodyMath.periodsDue}.
    function periodsDue(
        uint256 startedAt,
        uint256 periodSeconds,
        uint256 unitsUsed,
        uint256 unitsLeft,
        uint256 nowTs
    ) external pure returns (uint256) {
        return CustodyMath.periodsDue(startedAt, periodSeconds, unitsUsed, unitsLeft, nowTs);
    }

    /// @notice Releases a card of `held` over `units` units, `step` units at a time (the last step takes what
    /// is left), as consumption does; returns every share.
    function shareSchedule(uint256 held, uint256 units, uint256 step) external pure returns (uint256[] memory shares) {
        uint256 count = (units + step - 1) / step;
        shares = new uint256[](count);
        uint256 left = units;
        for (uint256 i; i < count; ++i) {
            uint256 take = step < left ? step : left;
            uint256 amount = CustodyMath.share(held, left, take);
            shares[i] = amount;
            held -= amount;
            left -= take;
        }
    }
}
