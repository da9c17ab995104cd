// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

import { IPrepaidEscrowErrors } from "./IPrepaidEscrowErrors.sol";
import { IPrepaidEscrowEvents } from "./IPrepaidEscrowEvents.sol";
import { PlanKind, RiskLevel } from "../types/DataTypes.sol";

/// @title IEscrowOperations
/// @notice The escrow's less frequent operations: regulators' decisions, merchants' plans, payouts and exits, and
/// holders' refunds and claims. They run in the {EscrowOperations} module, at the escrow's address and on its storage
/// (the escrow delegates each of these calls to it): users, banks and the gateway only ever see the escrow.
interface IEscrowOperations is IPrepaidEscrowErrors, IPrepaidEscrowEvents {
    // ---------------------------------- regulators ---------------------------------

    /// @notice Adds a custodian bank with its deposit token, whose `bank()` must be `account` and `escrow()` this.
    /// Requirements: the caller is a platform regulator.
    /// Emits a {BankAdded} event.
    /// @param account The bank's account (it opens cards and receives payout instructions).
    /// @param token The bank's deposit token.
    /// @return bankId The new bank's id.
    function addBank(address account, address token) external returns (uint16 bankId);

    /// @notice Admits a merchant in `industryId` whose custodian is `bankId`; it starts Active at low risk.
    /// Requirements: the caller is a platform regulator or the industry's regulator; `account` is not a merchant yet.
    /// Emits a {MerchantAdmitted} event.
    /// @param account The merchant's account.
    /// @param industryId Its industry in the registry.
    /// @param bankId Its custodian bank.
    /// @param registryRef The hash of its business registration.
    /// @return merchantId The new merchant's id.
    function admitMerchant(
        address account,
        uint16 industryId,
        uint16 bankId,
        bytes32 registryRef
    ) external returns (uint32 merchantId);

    /// @notice Freezes a collapsed merchant: no sales, no releases, no payouts; holders can claim their balances.
    /// Requirements: the caller regulates the merchant's industry (or is a platform regulator); it is not Exited.
    /// Emits a {MerchantStatusChanged} event.
    /// @param merchantId The merchant.
    /// @param reason The hash or reference of the decision.
    function freeze(uint32 merchantId, bytes32 reason) external;

    /// @notice Lifts a freeze; the merchant returns to the status it had (Active, Restricted or WindingDown).
    /// Requirements: as {freeze}; the merchant is Frozen.
    /// Emits a {MerchantStatusChanged} event.
    /// @param merchantId The merchant.
    /// @param reason The hash or reference of the decision.
    function unfreeze(uint32 merchantId, bytes32 reason) external;

    /// @notice Restricts (no new cards or renewals; service goes on) or lifts the restriction.
    /// Requirements: as {freeze}; restricting needs an Active merchant, lifting a Restricted one.
    /// Emits a {MerchantStatusChanged} event.
    /// @param merchantId The merchant.
    /// @param restricted True to restrict, false to lift.
    /// @param reason The hash or reference of the decision.
    function restrict(uint32 merchantId, bool restricted, bytes32 reason) external;

    /// @notice Orders a merchant to wind down: as if it had announced its exit.
    /// Requirements: as {freeze}; the merchant is Active or Restricted.
    /// Emits {MerchantStatusChanged} and {ExitAnnounced} events.
    /// @param merchantId The merchant.
    /// @param reason The hash or reference of the decision.
    function windDown(uint32 merchantId, bytes32 reason) external;

    /// @notice Decides a dispute: `refundAmount` goes back to the holder and the rest of the card's balance is
    /// released to the merchant, closing the card; a zero `refundAmount` denies the refund and reactivates the card.
    /// A Frozen merchant's money goes back to its consumers, never to it: while it is Frozen, a decision must refund
    /// the whole balance (or deny the refund, which leaves the balance on the card for its holder to claim); a
    /// partial refund waits until the freeze is lifted.
    /// Requirements: the caller regulates the merchant's industry (or is a platform regulator); the card is Disputed;
    /// `refundAmount` <= the card's held balance; the merchant is not Frozen, or `refundAmount` is 0 or the whole
    /// held balance.
    /// Emits {DisputeResolved} and, when money goes back, {CardRefunded} events.
    /// @param cardId The disputed card.
    /// @param refundAmount What goes back to the holder, fen.
    function resolveDispute(uint64 cardId, uint48 refundAmount) external;

    /// @notice Records the merchant's breach (法释〔2025〕4号 art. 13: moved so far that service is clearly inconvenient,
    /// handed the business to another without the consumers' consent, or cannot serve). Every holder may then cancel
    /// ({cancelForBreach}) without the merchant's acceptance; those who stay go on being served.
    /// Requirements: the caller regulates the merchant's industry (or is a platform regulator); none is on record.
    /// Emits a {BreachRecorded} event.
    /// @param merchantId The merchant.
    /// @param reason The hash or reference of the decision.
    function recordBreach(uint32 merchantId, bytes32 reason) external;

    /// @notice Withdraws a breach record (remedied, or recorded in error); cancellations already made stand.
    /// Requirements: as {recordBreach}; a breach is on record.
    /// Emits a {BreachCleared} event.
    /// @param merchantId The merchant.
    /// @param reason The hash or reference of the decision.
    function clearBreach(uint32 merchantId, bytes32 reason) external;

    // ---------------------------------- risk oracle --------------------------------

    /// @notice Sets a merchant's risk level. High forbids new cards and renewals; Medium caps the card value sold in
    /// any 30 consecutive days at the policy's `mediumRiskCap30d`.
    /// Requirements: the caller has the risk oracle role; the merchant exists.
    /// Emits a {RiskLevelSet} event.
    /// @param merchantId The merchant.
    /// @param level Its new risk level.
    /// @param reason The hash of the facts that raised or lowered it.
    function setRiskLevel(uint32 merchantId, RiskLevel level, bytes32 reason) external;

    // ----------------------------------- merchant ----------------------------------

    /// @notice Publishes a plan: `units` lessons at `price`, valid `validityDays` (0: no expiry), or `units` periods
    /// of `periodSeconds` for `price`.
    /// Requirements: the caller is the merchant; it is Active or Restricted; the policy's caps hold.
    /// Emits a {PlanPublished} event.
    /// @param merchantId The merchant.
    /// @param kind Lesson or Periodic.
    /// @param units Lessons, or periods.
    /// @param periodSeconds A period's length (periodic plans only; zero for lesson plans).
    /// @param validityDays How long a lesson card may be used, Beijing calendar days (0: no expiry).
    /// @param price The price, fen.
    /// @return planIndex The new plan's index (from 1).
    function publishPlan(
        uint32 merchantId,
        PlanKind kind,
        uint16 units,
        uint32 periodSeconds,
        uint16 validityDays,
        uint48 price
    ) external returns (uint32 planIndex);

    /// @notice Starts or stops selling a plan; cards already sold are unaffected.
    /// Requirements: the caller is the merchant.
    /// Emits a {PlanActiveSet} event.
    /// @param merchantId The merchant.
    /// @param planIndex The plan.
    /// @param active True to sell it, false to stop.
    function setPlanActive(uint32 merchantId, uint32 planIndex, bool active) external;

    /// @notice Pays the merchant all released money: the tokens are burned and the bank pays the merchant.
    /// Requirements: the caller is the merchant or its custodian bank; the merchant is not Frozen; something is due.
    /// Emits {PaidOut} and the token's {Transfer} events.
    /// @param merchantId The merchant.
    /// @return amount What was paid out, fen.
    function payOut(uint32 merchantId) external returns (uint64 amount);

    /// @notice Accepts a holder's refund request: the card's balance goes back to the holder.
    /// Requirements: the caller is the merchant; the card is RefundRequested.
    /// Emits a {CardRefunded} event.
    /// @param cardId The card.
    function acceptRefund(uint64 cardId) external;

    /// @notice Refuses a refund request; it goes to the industry regulator as a dispute.
    /// Requirements: the caller is the merchant; the card is RefundRequested.
    /// Emits a {DisputeOpened} event.
    /// @param cardId The card.
    /// @param reason The hash or reference of the merchant's grounds.
    function rejectRefund(uint64 cardId, bytes32 reason) external;

    /// @notice Announces the merchant's exit: no more sales; after the policy's notice, balances go back to holders.
    /// Requirements: the caller is the merchant; it is Active or Restricted.
    /// Emits {MerchantStatusChanged} and {ExitAnnounced} events.
    /// @param merchantId The merchant.
    function announceExit(uint32 merchantId) external;

    /// @notice Closes a merchant that holds and owes nothing any more.
    /// Requirements: the caller is the merchant or regulates its industry; it is WindingDown past the notice, or
    /// Frozen; nothing is held or payable.
    /// Emits a {MerchantStatusChanged} event.
    /// @param merchantId The merchant.
    function close(uint32 merchantId) external;

    // ------------------------------------ holder -----------------------------------

    /// @notice Gives back, within the cooling-off, the whole prepayment it covers: the purchase (the card closes) or the
    /// renewals made in it (the card goes on with the rest), custodied and direct shares alike. The cooling-off runs
    /// to 24:00 Beijing time of its last day, the day of the payment not counted; using what it covers ends it (a
    /// lesson confirmed, a period begun).
    /// Requirements: the caller is the holder; the card is Active; its cooling-off is open; none of the lessons or
    /// periods it covers was used.
    /// Emits {CardRefunded} (purchase) or {RenewalRefunded} (renewals), and {DirectShareReturned} when a direct
    /// share was held back.
    /// @param cardId The card.
    function refundCoolingOff(uint64 cardId) external;

    /// @notice Transfers the card to `to` by notice: its lessons or periods, balance, cooling-off (never restarted) and
    /// every other right go with it; vouchers must then be signed by `to`. The merchant cannot block it ("no transfer"
    /// terms are void, 法释〔2025〕4号); the event is its notice.
    /// Requirements: the caller is the holder; the card is Active; `to` is neither zero nor the holder.
    /// Emits a {CardTransferred} event.
    /// @param cardId The card.
    /// @param to The new holder.
    function transferCard(uint64 cardId, address to) external;

    /// @notice Makes the direct shares whose cooling-off has ended the merchants' (released, paid out with the rest).
    /// Anyone may call it; cards with nothing to settle are skipped.
    /// Emits a {DirectShareReleased} event per card settled.
    /// @param cardIds The cards.
    function releaseDirect(uint64[] calldata cardIds) external;

    /// @notice Asks for the unconsumed balance back. Paid at once when less than one lesson's share is left or
    /// the card has expired; otherwise the merchant accepts or the regulator decides.
    /// Requirements: the caller is the holder; the card is Active or expired, with money held.
    /// Emits {RefundRequested} or {CardRefunded}.
    /// @param cardId The card.
    function requestRefund(uint64 cardId) external;

    /// @notice Withdraws a refund request; the card is active again.
    /// Requirements: the caller is the holder; the card is RefundRequested.
    /// Emits a {RefundRequestCancelled} event.
    /// @param cardId The card.
    function cancelRefundRequest(uint64 cardId) external;

    /// @notice Takes a refund request the merchant has not answered to the industry regulator.
    /// Requirements: the caller is the holder; the card is RefundRequested.
    /// Emits a {DisputeOpened} event.
    /// @param cardId The card.
    function escalateRefund(uint64 cardId) external;

    /// @notice Gives a card's balance back to its holder when its merchant is Frozen, or WindingDown past the
    /// notice. Needs no one's help: anyone may call it, the money goes only to the holder.
    /// Requirements: the merchant is Frozen or past its exit notice; the card holds money.
    /// Emits a {CardRefunded} event.
    /// @param cardId The card.
    function claim(uint64 cardId) external;

    /// @notice Cancels the card after its merchant's recorded breach: the unused balance goes back to the holder at
    /// once, without the merchant's acceptance (periods already served are released first, and a direct share still
    /// in its cooling-off goes back too).
    /// Requirements: the caller is the holder; a breach of the merchant is on record; the card is Active,
    /// RefundRequested or Disputed, with money held.
    /// Emits a {CardRefunded} event (reason Breach).
    /// @param cardId The card.
    function cancelForBreach(uint64 cardId) external;

    /// @notice {claim} for many cards; cards with nothing to claim are skipped.
    /// @param cardIds The cards.
    function claimBatch(uint64[] calldata cardIds) external;

    /// @notice Starts moving a card whose holder lost the key to `newHolder`, at the request of the payer the
    /// custodian bank knows. It takes effect after 7 Beijing calendar days (to 24:00 of the seventh), during which
    /// the holder's key or the bank can cancel it; then anyone completes it.
    /// Requirements: the caller is the custodian bank of the card's merchant; the card exists and is not Refunded;
    /// `newHolder` is neither zero nor the holder; no recovery is under way.
    /// Emits a {KeyRecoveryStarted} event.
    /// @param cardId The card.
    /// @param newHolder The new key.
    function startKeyRecovery(uint64 cardId, address newHolder) external;

    /// @notice Cancels the key recovery under way: the holder's key is not lost, or the bank withdraws it.
    /// Requirements: a recovery is under way; the caller is the holder or the custodian bank.
    /// Emits a {KeyRecoveryCancelled} event.
    /// @param cardId The card.
    function cancelKeyRecovery(uint64 cardId) external;

    /// @notice Completes a key recovery after its waiting period: the card, its lessons or periods, balance and every
    /// right move to the new key, as by a transfer (the cooling-off is not restarted). Anyone may call it.
    /// Requirements: a recovery is under way and its waiting period is over.
    /// Emits a {KeyRecoveryCompleted} event.
    /// @param cardId The card.
    function completeKeyRecovery(uint64 cardId) external;

    /// @notice Decides, by the responsible regulator's recorded decision, where a Frozen merchant's released money
    /// (its payable balance) goes: to the merchant's payout after review, or to the holders of its cards, shared pro
    /// rata to what each card holds when it is claimed (the last claim takes what is left). A decision to the merchant
    /// also pays out what was decided to the holders when no card holds anything any more.
    /// Requirements: the caller regulates the merchant's industry; the merchant is Frozen; there is money to move;
    /// to the holders, some card still holds money.
    /// Emits a {FrozenPayableDecided} event, and a {PaidOut} event when it goes to the merchant.
    /// @param merchantId The merchant.
    /// @param toHolders True: to the holders; false: to the merchant's payout.
    /// @param reason Hash or reference of the decision.
    function decideFrozenPayable(uint32 merchantId, bool toHolders, bytes32 reason) external;

    /// @notice Proposes a new payout account; it takes effect when the merchant's regulator confirms it.
    /// Requirements: the caller is the merchant; `account` is not zero.
    /// Emits a {PayoutAccountProposed} event.
    /// @param merchantId The merchant.
    /// @param account Reference of the bank account (e.g. the hash of its number and bank).
    function proposePayoutAccount(uint32 merchantId, bytes32 account) external;

    /// @notice Confirms the payout account the merchant proposed: payouts go to it from now on.
    /// Requirements: the caller regulates the merchant's industry (or is the bureau); `account` is the one proposed.
    /// Emits a {PayoutAccountConfirmed} event.
    /// @param merchantId The merchant.
    /// @param account The account reference proposed.
    function confirmPayoutAccount(uint32 merchantId, bytes32 account) external;
}
