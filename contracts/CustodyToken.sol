// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

import { ERC20 } from "@openzeppelin/contracts/token/ERC20/ERC20.sol";
import { ICustodyToken } from "./interfaces/ICustodyToken.sol";

/// @title CustodyToken
/// @notice A custodian bank's deposit token, 1 unit = 1 fen; see {ICustodyToken}.
contract CustodyToken is ERC20, ICustodyToken {
    // These names are the ABI getters ICustodyToken.bank() and escrow(), which PrepaidEscrow.addBank checks.
    // solhint-disable immutable-vars-naming
    /// @inheritdoc ICustodyToken
    address public immutable override bank;
    /// @inheritdoc ICustodyToken
    address public immutable override escrow;
    // solhint-enable immutable-vars-naming

    /// @notice Deploys a bank's deposit token for one escrow.
    /// @param name_ The token's name.
    /// @param symbol_ Its symbol.
    /// @param bank_ The custodian bank whose custody account it mirrors.
    /// @param escrow_ The escrow, its only minter and burner.
    constructor(string memory name_, string memory symbol_, address bank_, address escrow_) ERC20(name_, symbol_) {
        if (bank_ == address(0) || escrow_ == address(0)) revert CustodyToken_ZeroAddress();
        bank = bank_;
        escrow = escrow_;
    }

    /// @notice Amounts are whole fen; two decimals show them as CNY.
    function decimals() public pure override returns (uint8) {
        return 2;
    }

    /// @inheritdoc ICustodyToken
    function mint(address to, uint256 amount) external override {
        if (msg.sender != escrow) revert CustodyToken_OnlyEscrow(msg.sender, escrow);
        _mint(to, amount);
    }

    /// @inheritdoc ICustodyToken
    function burnFromEscrow(uint256 amount) external override {
        if (msg.sender != escrow) revert CustodyToken_OnlyEscrow(msg.sender, escrow);
        _burn(escrow, amount);
    }
}
