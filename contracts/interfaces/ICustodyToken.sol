// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

import { IERC20 } from "@openzeppelin/contracts/token/ERC20/IERC20.sol";

/// @title ICustodyToken
/// @notice A custodian bank's deposit token: 1 unit = 1 fen held in that bank's custody account.
/// Tokens exist only while the money is in the custody account: they are minted when a consumer's payment
/// arrives (the bank opening a card through the escrow) and burned when the money leaves (a payout to the
/// merchant, a refund to the consumer). So `totalSupply()` is what the bank's custody account must hold.
interface ICustodyToken is IERC20 {
    /// @notice Thrown when anyone but the escrow tries to mint or burn.
    /// @param caller The account that called.
    /// @param escrow The escrow, the only minter and burner.
    error CustodyToken_OnlyEscrow(address caller, address escrow);
    /// @notice Thrown when the token is set up with a zero bank or escrow address.
    error CustodyToken_ZeroAddress();

    /// @notice The custodian bank whose custody account this token mirrors.
    function bank() external view returns (address);

    /// @notice The escrow contract, the only minter and burner.
    function escrow() external view returns (address);

    /// @notice Mints `amount` fen to `to` when money has arrived in the custody account.
    /// Requirements: the caller is the escrow (which checks that the bank ordered it).
    /// Emits a {Transfer} event from the zero address.
    /// @param to The receiver (the escrow).
    /// @param amount Fen.
    function mint(address to, uint256 amount) external;

    /// @notice Burns `amount` fen of the escrow's own balance when money leaves the custody account.
    /// Requirements: the caller is the escrow.
    /// Emits a {Transfer} event to the zero address.
    /// @param amount Fen.
    function burnFromEscrow(uint256 amount) external;
}
