// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

import { ERC20 } from "@openzeppelin/contracts/token/ERC20/ERC20.sol";
import { ICustodyToken } from "../interfaces/ICustodyToken.sol";

/// @title ReentrantToken
/// @notice A hostile deposit token for the attack tests, never deployed elsewhere. It passes the escrow's
/// registration check (it names the bank and the escrow) and is its own bank account, so it can call the bank's
/// functions; when the escrow mints or burns, it calls back into the escrow with whatever it was armed with.
contract ReentrantToken is ERC20, ICustodyToken {
    // solhint-disable immutable-vars-naming
    /// @inheritdoc ICustodyToken
    address public immutable override escrow;
    // solhint-enable immutable-vars-naming

    /// @notice The call made into the escrow on the next mint or burn (empty: none).
    bytes public armed;
    /// @notice Whether a failed re-entrant call makes the outer call fail with the same error.
    bool public bubble;
    /// @notice How many re-entrant calls were made, and the revert data of the last failed one.
    uint256 public reentered;
    /// @notice The revert data of the last failed re-entrant call.
    bytes public lastRevert;

    /// @notice A token whose bank account is the token itself.
    /// @param escrow_ The escrow it names as its minter.
    constructor(address escrow_) ERC20("Hostile", "HOST") {
        escrow = escrow_;
    }

    /// @inheritdoc ICustodyToken
    function bank() external view override returns (address) {
        return address(this);
    }

    /// @notice Sets the call to make into the escrow on the next mint or burn.
    /// @param data The calldata.
    /// @param bubble_ Whether its failure fails the outer call.
    function arm(bytes calldata data, bool bubble_) external {
        armed = data;
        bubble = bubble_;
    }

    /// @notice Calls the escrow as this token's bank account (open a card, pay out, ...).
    /// @param data The calldata.
    function callEscrow(bytes calldata data) external {
        // solhint-disable-next-line avoid-low-level-calls
        (bool ok, bytes memory ret) = escrow.call(data);
        if (!ok) _revertWith(ret);
    }

    /// @inheritdoc ICustodyToken
    function mint(address to, uint256 amount) external override {
        if (msg.sender != escrow) revert CustodyToken_OnlyEscrow(msg.sender, escrow);
        _mint(to, amount);
        _reenter();
    }

    /// @inheritdoc ICustodyToken
    function burnFromEscrow(uint256 amount) external override {
        if (msg.sender != escrow) revert CustodyToken_OnlyEscrow(msg.sender, escrow);
        _burn(escrow, amount);
        _reenter();
    }

    function _reenter() internal {
        bytes memory data = armed;
        if (data.length == 0) return;
        delete armed;
        ++reentered;
        // solhint-disable-next-line avoid-low-level-calls
        (bool ok, bytes memory ret) = escrow.call(data);
        if (ok) return;
        lastRevert = ret;
        if (bubble) _revertWith(ret);
    }

    function _revertWith(bytes memory ret) internal pure {
        // solhint-disable-next-line no-inline-assembly
        assembly ("memory-safe") {
            revert(add(ret, 0x20), mload(ret))
        }
    }
}
