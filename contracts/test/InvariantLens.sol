// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

import { IERC20 } from "@openzeppelin/contracts/token/ERC20/IERC20.sol";

import { IPrepaidEscrow } from "../interfaces/IPrepaidEscrow.sol";
import { Card, CardStatus, KeyRecovery, Merchant, PayoutAccount } from "../types/DataTypes.sol";

/// @title InvariantLens
/// @notice Test-only: reads everything the invariant property test checks in one call, so that checking after
/// every step of hundreds of random sequences stays fast. Never deployed outside tests.
contract InvariantLens {
    struct TokenView {
        uint256 escrowBalance;
        uint256 totalSupply;
    }

    struct MerchantView {
        Merchant merchant;
        uint64 held;
        uint64 payable_;
        uint256 holderPool;
        PayoutAccount payoutAccount;
    }

    struct CardView {
        Card card;
        CardStatus status;
        KeyRecovery recovery;
    }

    /// @notice Reads the tokens', merchants' and cards' state in one call.
    function snapshot(
        IPrepaidEscrow escrow,
        IERC20[] calldata tokens,
        uint32[] calldata merchantIds,
        uint64[] calldata cardIds
    ) external view returns (TokenView[] memory t, MerchantView[] memory m, CardView[] memory c) {
        t = new TokenView[](tokens.length);
        for (uint256 i; i < tokens.length; ++i) {
            t[i] = TokenView(tokens[i].balanceOf(address(escrow)), tokens[i].totalSupply());
        }
        m = new MerchantView[](merchantIds.length);
        for (uint256 i; i < merchantIds.length; ++i) {
            (uint64 held, uint64 payable_) = escrow.balancesOf(merchantIds[i]);
            m[i] = MerchantView(
                escrow.merchantOf(merchantIds[i]),
                held,
                payable_,
                escrow.holderPoolOf(merchantIds[i]),
                escrow.payoutAccountOf(merchantIds[i])
            );
        }
        c = new CardView[](cardIds.length);
        for (uint256 i; i < cardIds.length; ++i) {
            c[i] = CardView(escrow.cardOf(cardIds[i]), escrow.cardStatus(cardIds[i]), escrow.keyRecoveryOf(cardIds[i]));
        }
    }
}
