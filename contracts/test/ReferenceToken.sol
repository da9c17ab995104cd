// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

import { ERC20 } from "@openzeppelin/contracts/token/ERC20/ERC20.sol";

/// @title ReferenceToken
/// @notice A plain OpenZeppelin ERC20, only for the gas benchmark: the cost of an ordinary token transfer is the
/// yardstick per-lesson consumption is compared with. Never deployed outside benchmarks.
contract ReferenceToken is ERC20 {
    constructor(address holder, uint256 supply) ERC20("Reference", "REF") {
        _mint(holder, supply);
    }
}
