// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

// Bounds are written as the rounding rules state them ("the last unit takes the rest"), not turned strict for gas.
// solhint-disable gas-strict-inequalities
/// @title CustodyMath
/// @notice The money arithmetic of custody, pure and rounding-explicit.
library CustodyMath {
    uint256 internal constant BPS = 10_000;

    /// @notice Splits a payment into the custodied share and the share paid straight to the merchant.
    /// @dev Rounds the custodied share UP: any fen of doubt stays with the consumer's protection.
    function split(uint256 price, uint256 custodyBps) internal pure returns (uint256 custodied, uint256 direct) {
        custodied = (price * custodyBps + BPS - 1) / BPS;
        direct = price - custodied;
    }

    /// @notice The money released for `units` of the `unitsLeft` units still held by a card.
    /// @dev Rounds DOWN, and the last unit takes whatever is left: the shares of a card always add up exactly
    /// to what it escrowed, never over and with no dust left behind, whatever the price and unit count.
    /// Renewals only add to `held` and `unitsLeft`, so the same rule stays exact across them.
    function share(uint256 held, uint256 unitsLeft, uint256 units) internal pure returns (uint256) {
        if (units >= unitsLeft) return held;
        return (held * units) / unitsLeft;
    }

    /// @notice Whole periods due for release at `nowTs` on a periodic card, given how many were released.
    function periodsDue(
        uint256 startedAt,
        uint256 periodSeconds,
        uint256 unitsUsed,
        uint256 unitsLeft,
        uint256 nowTs
    ) internal pure returns (uint256) {
        if (nowTs <= startedAt) return 0;
        uint256 elapsed = (nowTs - startedAt) / periodSeconds;
        uint256 total = unitsUsed + unitsLeft;
        if (elapsed > total) elapsed = total;
        return elapsed > unitsUsed ? elapsed - unitsUsed : 0;
    }
}
