// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {
    AgreementState,
    AgreementStatus,
    MeterUsage,
    PaymentStatus,
    ServiceStatus,
    Settlement,
    Terms,
    TerminationReason
} from "../types/BillingTypes.sol";
import {ITermsErrors} from "./ITermsErrors.sol";

/// @title IBillingAgreement
/// @notice One billing agreement between a payer and a payee: terms and their versions, lifecycle, usage per
///         meter and period, settlement of each period, payment status and service status.
/// @dev Periods are numbered from 0 (the period that begins at `terms.start`). Roles are held by the factory
///      that deployed the agreement (and mirrored in the implementation, see `mirroredRoles`). Amounts are in minor
///      units of the agreement's currency or token.
interface IBillingAgreement is ITermsErrors {
    // ----------------------------------------------------------------------------------------------------------
    // Events
    // ----------------------------------------------------------------------------------------------------------

    /// @notice `party` accepted terms `version` with hash `termsHash`.
    event TermsAccepted(address indexed party, uint16 indexed version, bytes32 termsHash);
    /// @notice Both parties accepted version 1: billing runs from `terms.start`.
    event AgreementActivated(uint40 activatedAt);
    /// @notice A new terms version was proposed; `terms` is the packed form (docs/terms-encoding.md).
    event AmendmentProposed(uint16 indexed version, address indexed proposer, bytes32 termsHash, bytes terms);
    /// @notice The pending amendment was rejected by `by`.
    event AmendmentRejected(uint16 indexed version, address indexed by);
    /// @notice Both parties accepted `version`; it prices periods from `effectiveFromPeriod` on.
    event TermsAmended(uint16 indexed version, uint32 effectiveFromPeriod, bytes32 termsHash);
    /// @notice The agreement was paused (no usage reports, no settlement) by `by`.
    event AgreementPaused(address indexed by);
    /// @notice The agreement was resumed by `by`.
    event AgreementResumed(address indexed by);
    /// @notice The agreement will end after period `endPeriod - 1`.
    event TerminationScheduled(uint32 endPeriod, TerminationReason reason, address indexed by);
    /// @notice A party consented to an action that needs both parties (`action` identifies it and its arguments).
    event ConsentGiven(address indexed party, bytes32 indexed action);
    /// @notice A meter's cumulative usage for `period` increased from `previous` to `cumulative`.
    /// @param recordsRoot Merkle root of the raw usage records behind the report (docs/merkle.md).
    /// @param reportId The oracle's deterministic id of the report.
    event UsageReported(
        uint32 indexed period,
        uint8 indexed meter,
        uint64 previous,
        uint64 cumulative,
        bytes32 recordsRoot,
        bytes32 indexed reportId
    );
    /// @notice A meter's usage for an unsettled period was corrected, with a reason. `epoch` is the new usage epoch:
    ///         reports built on an earlier one are refused from now on (`BillingAgreement_StaleReport`).
    event UsageCorrected(
        uint32 indexed period,
        uint8 indexed meter,
        uint64 previous,
        uint64 corrected,
        bytes32 recordsRoot,
        string reason,
        uint16 epoch
    );
    /// @notice Period `period` was settled for `amount` (minor units, what the payer owes: `net` + `vat`), due at
    ///         `dueDate`, priced by terms version `termsVersion`.
    /// @param net The period's net amount (after included units, tiers, minimum and cap), minor units.
    /// @param vat The VAT on `net` at the terms' rate, `(net × vatRate + 5000) / 10000` (half up), minor units.
    event SettlementTriggered(
        uint32 indexed period, uint256 amount, uint40 dueDate, uint16 termsVersion, uint256 net, uint256 vat
    );
    /// @notice The gateway issued the invoice (or credit note) for period `period`: `numberHash` is keccak256 of
    ///         the document number (UTF-8), `documentHash` keccak256 of the document's XML, so either party can
    ///         prove which document belongs to which settlement.
    event InvoiceIssued(uint32 indexed period, bytes32 numberHash, bytes32 documentHash);
    /// @notice A payment of `amount` was recorded for the settlement of `period`. The settlement's paid amount and
    ///         status afterwards are in `settlement(period)`: paid grows by `amount`; the status becomes Paid once
    ///         paid equals the amount, else PartiallyPaid, and a Disputed settlement stays Disputed.
    /// @dev Carries only what happened (no running state), to keep `confirmPayment` within its gas budget.
    /// @param bankRefHash Fiat: keccak256 of what both parties' bank statements show for the payment (the gateway
    ///        anchors `<end-to-end id>|<amount> <currency>|<value date>`, docs/reading-with-cast.md); 0 for a token pull.
    event PaymentConfirmed(uint32 indexed period, uint96 amount, bytes32 bankRefHash);
    /// @notice Pulling `amount` of the token from the payer failed; the settlement stays open.
    event TokenPullFailed(uint32 indexed period, uint256 amount);
    /// @notice A payment was returned (return debit, chargeback) with ISO 20022 reason `reasonCode` (e.g. "AM04").
    event PaymentReturned(
        uint32 indexed period, uint96 amount, bytes4 reasonCode, bytes32 bankRefHash, PaymentStatus status
    );
    /// @notice The payer disputed `amount` of the settlement of `period` (the rest stays collectable).
    /// @param reasonHash keccak256 of the reason text the payer keeps off-chain.
    event SettlementDisputed(uint32 indexed period, address indexed by, uint96 amount, bytes32 reasonHash);
    /// @notice The dispute on `period` ended with the settlement's amount set to `agreedAmount`: by both parties'
    ///         consent (`arbiter` is address(0)) or by the arbiter's decision (`arbiter` names who decided).
    event DisputeResolved(
        uint32 indexed period, uint96 previousAmount, uint96 agreedAmount, PaymentStatus status, address indexed arbiter
    );
    /// @notice Both parties agreed to write off what is open on the settlement of `period`.
    event SettlementWrittenOff(uint32 indexed period, uint96 writtenOff);
    /// @notice The service status changed (dunning escalation or recovery).
    event ServiceStatusChanged(ServiceStatus previous, ServiceStatus status, bytes32 reasonHash);

    // ----------------------------------------------------------------------------------------------------------
    // Errors
    // ----------------------------------------------------------------------------------------------------------

    /// @notice `initialize` was called on an initialized clone or on the implementation.
    error BillingAgreement_AlreadyInitialized();
    /// @notice A function only the factory may call was called by `caller`.
    error BillingAgreement_NotFactory(address caller);
    /// @notice `caller` is neither payer nor payee.
    error BillingAgreement_NotParty(address caller);
    /// @notice `caller` is not the payer.
    error BillingAgreement_NotPayer(address caller);
    /// @notice `caller` is neither the payee nor an operator.
    error BillingAgreement_NotPayeeOrOperator(address caller);
    /// @notice `caller` is neither a party nor an operator.
    error BillingAgreement_NotPartyOrOperator(address caller);
    /// @notice `caller` is not an active oracle signer.
    error BillingAgreement_NotOracle(address caller);
    /// @notice `caller` does not hold GATEWAY_ROLE.
    error BillingAgreement_NotGateway(address caller);
    /// @notice The agreement is `state`, which does not allow this call.
    error BillingAgreement_InvalidState(AgreementState state);
    /// @notice The terms hash given for version `version` (`given`) is not the one on record (`expected`): these are
    ///         not the terms awaiting acceptance.
    error BillingAgreement_TermsMismatch(uint16 version, bytes32 expected, bytes32 given);
    /// @notice Version `version` is not awaiting acceptance.
    error BillingAgreement_NotPending(uint16 version);
    /// @notice `party` already accepted version `version`.
    error BillingAgreement_AlreadyAccepted(address party, uint16 version);
    /// @notice The signature expired at `deadline`.
    error BillingAgreement_SignatureExpired(uint256 deadline);
    /// @notice The signature is not `signer`'s.
    error BillingAgreement_InvalidSignature(address signer);
    /// @notice An amendment changes a field that is fixed for the agreement's life (token, currency, digits,
    ///         interval, start) or removes meters.
    error BillingAgreement_ImmutableTermChanged(string field);
    /// @notice Too many terms versions for one agreement.
    error BillingAgreement_TooManyVersions(uint16 max);
    /// @notice Period `period` has not begun yet; it starts at `startsAt`.
    error BillingAgreement_PeriodNotStarted(uint32 period, uint40 startsAt);
    /// @notice Period `period` (or its grace window) has not ended; settlement is possible from `endsAt`.
    error BillingAgreement_PeriodNotEnded(uint32 period, uint40 endsAt);
    /// @notice Period `period` lies after the agreement's end (period `endPeriod` is the first one not billed).
    error BillingAgreement_PeriodAfterEnd(uint32 period, uint32 endPeriod);
    /// @notice Period `period` is already settled.
    error BillingAgreement_PeriodSettled(uint32 period);
    /// @notice Periods settle in order: period `next` comes before period `period`.
    error BillingAgreement_SettleOutOfOrder(uint32 period, uint32 next);
    /// @notice Meter `meter` does not exist: the terms pricing the period have `count` meters.
    error BillingAgreement_UnknownMeter(uint8 meter, uint256 count);
    /// @notice The report lists meter `meter` twice or out of order (meters must ascend).
    error BillingAgreement_MetersNotAscending(uint8 meter);
    /// @notice A report carries no usage.
    error BillingAgreement_EmptyReport();
    /// @notice The amount of period `period` (`amount` minor units) does not fit in 96 bits; a cap or a correction is
    ///         needed.
    error BillingAgreement_AmountOverflow(uint32 period, uint256 amount);
    /// @notice Period `period` is not settled.
    error BillingAgreement_NotSettled(uint32 period);
    /// @notice A payment of `amount` exceeds what is open on period `period` (`open`).
    error BillingAgreement_Overpayment(uint32 period, uint96 amount, uint96 open);
    /// @notice A return of `amount` exceeds what was paid on period `period` (`paid`).
    error BillingAgreement_ReturnExceedsPaid(uint32 period, uint96 amount, uint96 paid);
    /// @notice Zero amounts are not payments or returns.
    error BillingAgreement_ZeroAmount();
    /// @notice The settlement of period `period` is `status`, which does not allow this call.
    error BillingAgreement_InvalidPaymentStatus(uint32 period, PaymentStatus status);
    /// @notice The dispute window of period `period` closed at `closedAt`.
    error BillingAgreement_DisputeWindowClosed(uint32 period, uint40 closedAt);
    /// @notice The agreed amount `agreed` for period `period` must lie between what is paid (`paid`) and what was
    ///         billed (`billed`).
    error BillingAgreement_InvalidAgreedAmount(uint32 period, uint96 agreed, uint96 billed, uint96 paid);
    /// @notice Only for agreements paid through the bank (fiat); this one is paid in a token.
    error BillingAgreement_NotFiat();
    /// @notice Only for agreements paid in a token; this one is paid through the bank (fiat).
    error BillingAgreement_NotToken();
    /// @notice An end before period `endPeriod` is too early: the earliest is before period `earliest` (a period that
    ///         has begun is billed).
    error BillingAgreement_EndTooEarly(uint32 endPeriod, uint32 earliest);
    /// @notice Terms version `version` does not exist.
    error BillingAgreement_UnknownVersion(uint16 version);
    /// @notice Nothing to do: the service status is already `status`.
    error BillingAgreement_ServiceStatusUnchanged(ServiceStatus status);
    /// @notice Called on the implementation instead of a clone.
    error BillingAgreement_NotAClone();
    /// @notice Called on a clone the factory did not deploy (never initialized).
    error BillingAgreement_NotInitialized();
    /// @notice A state-changing function was re-entered during a token call.
    error BillingAgreement_Reentrancy();
    /// @notice `party` already consented to `action`.
    error BillingAgreement_AlreadyConsented(address party, bytes32 action);
    /// @notice An end before period `endPeriod` would not come before the end already scheduled (before period
    ///         `scheduledEnd`).
    error BillingAgreement_EndNotEarlier(uint32 endPeriod, uint32 scheduledEnd);
    /// @notice A role-mirror function was called on a clone: the mirror lives only in the implementation.
    error BillingAgreement_NotImplementation();
    /// @notice The report was built on usage epoch `epoch`, but a correction since made the epoch `current`: read
    ///         the usage again and report on top of the correction.
    error BillingAgreement_StaleReport(uint16 epoch, uint16 current);
    /// @notice A relayed report was signed under an earlier grant of `signer`'s oracle role (`signerSince`), not the
    ///         current one (`activeFrom`).
    error BillingAgreement_StaleSignerGrant(address signer, uint40 signerSince, uint40 activeFrom);
    /// @notice Too many usage corrections (the epoch is 16 bits).
    error BillingAgreement_TooManyCorrections(uint16 max);
    /// @notice The sum of what is open would exceed what the running total holds (2^96 - 1).
    error BillingAgreement_OutstandingOverflow(uint32 period, uint256 outstanding);
    /// @notice The disputed amount is 0 or above the billed amount `billed`.
    error BillingAgreement_InvalidDisputedAmount(uint32 period, uint96 amount, uint96 billed);
    /// @notice `caller` is not the arbiter the terms name for `period` (or, where the terms name none, an operator).
    error BillingAgreement_NotArbiter(address caller);
    /// @notice The arbiter may decide only once the dispute window of period `period` has closed, at `closesAt`.
    error BillingAgreement_DisputeWindowOpen(uint32 period, uint40 closesAt);
    /// @notice An arbiter's decision must lie between `lowest` (the undisputed part, and never below what is paid)
    ///         and `highest` (the billed amount).
    error BillingAgreement_DecisionOutOfRange(uint32 period, uint96 agreed, uint96 lowest, uint96 highest);

    // ----------------------------------------------------------------------------------------------------------
    // Lifecycle
    // ----------------------------------------------------------------------------------------------------------

    /// @notice Sets up a fresh clone in state Proposed with terms version 1. Factory only, once; the
    ///         implementation itself can never be initialized.
    function initialize() external;

    /// @notice Accepts terms `version` (1 while Proposed, or the pending amendment). Payer or payee.
    /// @dev When both parties have accepted: version 1 activates the agreement; an amendment takes effect from
    ///      the period after the current one.
    /// @param version The version accepted.
    /// @param termsHash Hash of the exact terms accepted; must match the record.
    function accept(uint16 version, bytes32 termsHash) external;

    /// @notice Accepts on behalf of `party` with its EIP-712 signature (EOA or ERC-1271 contract wallet).
    ///         Anyone may relay.
    /// @dev Typed data: `Accept(address party,uint8 role,uint16 version,bytes32 termsHash,uint256 deadline)` in the
    ///      domain {name: "Settle BillingAgreement", version: "1", chainId, verifyingContract: this agreement}, where
    ///      `role` is 1 for the payer and 2 for the payee: a signature accepts for the party it names only, even when
    ///      two contract wallets check signatures against the same key. Version numbers are never reused (see
    ///      `proposeAmendment`), so a signature for a rejected or replaced proposal can never accept another one;
    ///      a party withdraws a signature it gave by rejecting the proposal (or cancelling a Proposed agreement).
    function acceptWithSignature(
        address party,
        uint16 version,
        bytes32 termsHash,
        uint256 deadline,
        bytes calldata signature
    ) external;

    /// @notice Proposes new terms (prices, meters added at the end, minimum, cap, payment terms, windows, notice,
    ///         end, arbiter). Payer, payee or operator; a proposing party's acceptance is recorded at once. Replaces
    ///         any pending amendment. The agreement's token passes even if it has left the allow-list since.
    /// @dev Every proposal gets a new version number, one above the highest ever proposed: a rejected or replaced
    ///      proposal keeps its number for good, so an acceptance (or signature) given for it never applies to
    ///      another proposal, even one with identical terms. The versions in force are the accepted ones.
    /// @return version The pending version number.
    function proposeAmendment(Terms calldata terms) external returns (uint16 version);

    /// @notice Drops the pending amendment. Payer, payee or operator.
    function rejectAmendment() external;

    /// @notice Stops usage reports and settlement until `resume`. Payee or operator; Active only.
    function pause() external;

    /// @notice Ends a pause. Payee or operator.
    function resume() external;

    /// @notice Gives notice: the agreement ends with the period in which `terms.noticeSeconds` from now falls.
    ///         Payer or payee; Active or Paused.
    /// @dev An end set by notice or consent is final: an amendment accepted later may end the agreement earlier,
    ///      never later (its `end` is bounded by the notice).
    function giveNotice() external;

    /// @notice Consents to end the agreement before period `endPeriod` (the first period not billed); takes
    ///         effect when both parties consented to the same `endPeriod`. It must not end a period already begun.
    /// @dev Like a notice, an end set by consent cannot be moved later by an amendment.
    function terminateByConsent(uint32 endPeriod) external;

    /// @notice Withdraws a Proposed agreement before it is active. Payer, payee or operator.
    function cancel() external;

    // ----------------------------------------------------------------------------------------------------------
    // Usage
    // ----------------------------------------------------------------------------------------------------------

    /// @notice Reports new cumulative usage for `period`. Active oracle signers only.
    /// @dev Only increases count: a total at or below the stored one changes nothing and emits nothing, so a
    ///      replayed or reordered report is harmless. A report names the usage epoch (`usageEpoch`) it was built on
    ///      and is refused once a correction has moved the epoch on (`BillingAgreement_StaleReport`), so a
    ///      correction wins over every report made before it. Meters must be listed in ascending order. The period
    ///      must have begun, be before the agreement's end and not yet be settled (late usage within the grace
    ///      window is accepted).
    /// @param period Period the usage belongs to.
    /// @param reportId The oracle's deterministic report id (emitted).
    /// @param recordsRoot Merkle root of the raw records behind the increase (emitted).
    /// @param epoch The usage epoch the report was built on (must be the current one).
    /// @param usages New cumulative totals per meter.
    function reportUsage(
        uint32 period,
        bytes32 reportId,
        bytes32 recordsRoot,
        uint16 epoch,
        MeterUsage[] calldata usages
    ) external;

    /// @notice `reportUsage` signed by an active oracle signer (EIP-712) and relayed by anyone.
    /// @dev Typed data: `UsageReport(uint32 period,bytes32 reportId,bytes32 recordsRoot,uint16 epoch,
    ///      uint40 signerSince,MeterUsage[] usages)MeterUsage(uint8 meter,uint64 cumulative)` in this agreement's
    ///      domain. `signerSince` is the signer's `oracleActiveFrom` at the factory when it signed: a report signed
    ///      under an earlier grant of the same key is refused (`BillingAgreement_StaleSignerGrant`), and with the
    ///      epoch, a signature is dead once a correction or a revocation has happened after it.
    function reportUsageWithSignature(
        uint32 period,
        bytes32 reportId,
        bytes32 recordsRoot,
        uint16 epoch,
        uint40 signerSince,
        MeterUsage[] calldata usages,
        bytes calldata signature
    ) external;

    /// @notice Corrects a meter's usage for an unsettled period, up or down, with a reason. Oracle only. Moves the
    ///         usage epoch on: every report built before the correction is refused afterwards.
    function correctUsage(uint32 period, uint8 meter, uint64 corrected, bytes32 recordsRoot, string calldata reason)
        external;

    // ----------------------------------------------------------------------------------------------------------
    // Settlement and payment
    // ----------------------------------------------------------------------------------------------------------

    /// @notice Settles `period`: computes its amount from the terms in force and the usage, records it with its
    ///         due date and emits `SettlementTriggered`. Anyone, once the period's end plus grace has passed;
    ///         periods settle in order, each once. Token agreements then pull the amount from the payer's
    ///         allowance; a failed pull leaves the settlement Due (`TokenPullFailed`) instead of reverting.
    /// @return amount The amount in minor units.
    function settle(uint32 period) external returns (uint256 amount);

    /// @notice Chainlink-style automation: whether a period is ready to settle, and which.
    function checkUpkeep(bytes calldata checkData) external view returns (bool upkeepNeeded, bytes memory performData);

    /// @notice Chainlink-style automation: settles the period encoded in `performData` (re-checked).
    function performUpkeep(bytes calldata performData) external;

    /// @notice Token agreements: pulls what is open on `period` (less any disputed part) from the payer's
    ///         allowance to the payee. Anyone; a failed pull changes nothing but emits `TokenPullFailed`.
    /// @return collected Amount paid, measured as what left the payer's balance (never more than was asked), so a
    ///         payee that forwards what it receives cannot make a payment count as nothing and pull again.
    function collect(uint32 period) external returns (uint256 collected);

    /// @notice Records a fiat payment for `period` seen on the bank statement. Gateway only.
    /// @param amount Amount received in minor units (not above what is open).
    /// @param bankRefHash keccak256 of what both parties' statements show for the payment (never IBANs or names
    ///        on-chain).
    function confirmPayment(uint32 period, uint96 amount, bytes32 bankRefHash) external;

    /// @notice Records a returned fiat payment (return debit, chargeback), re-opening the amount. Gateway only.
    /// @param reasonCode ISO 20022 return reason, e.g. "AM04", "MD06", "AC04", "MS03".
    function reportReturn(uint32 period, uint96 amount, bytes4 reasonCode, bytes32 bankRefHash) external;

    /// @notice Disputes `amount` (1 ≤ amount ≤ billed) of the settlement of `period` within the dispute window.
    ///         Payer only. The rest stays collectable: payments are still recorded and token pulls take what is
    ///         open beyond the disputed amount.
    /// @param reasonHash keccak256 of the reason text (kept off-chain with the party's identity).
    function dispute(uint32 period, uint96 amount, bytes32 reasonHash) external;

    /// @notice Consents to resolve the dispute on `period` at `agreedAmount` (≤ billed, ≥ paid); takes effect when
    ///         both parties consented to the same amount.
    function resolveDispute(uint32 period, uint96 agreedAmount) external;

    /// @notice Ends a dispute the parties did not resolve: the arbiter the settlement's terms name (or, where they
    ///         name none, an operator) sets the amount, once the dispute window has closed. `agreedAmount` lies
    ///         between the undisputed part (billed − disputed, and at least what is paid) and the billed amount.
    function decideDispute(uint32 period, uint96 agreedAmount) external;

    /// @notice Consents to write off what is open on `period`; takes effect when both parties consented.
    function writeOff(uint32 period) external;

    /// @notice Sets the service status (dunning). Gateway only.
    function setServiceStatus(ServiceStatus status, bytes32 reasonHash) external;

    /// @notice Anchors an issued invoice or credit note of `period` (emits `InvoiceIssued`). Gateway only; a
    ///         document may be anchored more than once (a later anchor does not replace an earlier one).
    /// @param numberHash keccak256 of the document number (UTF-8).
    /// @param documentHash keccak256 of the document's XML.
    function anchorInvoice(uint32 period, bytes32 numberHash, bytes32 documentHash) external;

    // ----------------------------------------------------------------------------------------------------------
    // Views
    // ----------------------------------------------------------------------------------------------------------

    /// @notice The factory that deployed this agreement (and holds the roles).
    function factory() external view returns (address);

    /// @notice Payer and payee.
    function parties() external view returns (address payer, address payee);

    /// @notice The latest accepted terms and their version.
    function terms() external view returns (Terms memory current, uint16 version);

    /// @notice Terms `version`, its hash and the first period it prices (the pending version has effectiveFrom 0).
    function termsAt(uint16 version)
        external
        view
        returns (Terms memory t, bytes32 termsHash, uint32 effectiveFromPeriod);

    /// @notice The version that prices `period`.
    function versionForPeriod(uint32 period) external view returns (uint16);

    /// @notice Whether `party` accepted `version`: true for every version in force, and for the pending proposal
    ///         whether `party` accepted it; false for a rejected or replaced proposal.
    function hasAccepted(address party, uint16 version) external view returns (bool);

    /// @notice Lifecycle state (Terminated once a scheduled end has passed).
    function state() external view returns (AgreementState);

    /// @notice Everything a dashboard needs in one call.
    function status() external view returns (AgreementStatus memory);

    /// @notice The period running now, with its bounds (period 0 before the start).
    function currentPeriod() external view returns (uint32 period, uint40 start, uint40 end);

    /// @notice Start and end (exclusive) of `period`.
    function periodBounds(uint32 period) external view returns (uint40 start, uint40 end);

    /// @notice Cumulative usage of `meter` in `period`; reverts with `BillingAgreement_UnknownMeter` for a meter
    ///         beyond the terms pricing `period`.
    function usage(uint32 period, uint8 meter) external view returns (uint64);

    /// @notice Cumulative usage of every meter in `period`.
    function usageOf(uint32 period) external view returns (uint64[] memory);

    /// @notice The running charge for `period` from its usage so far, in minor units, VAT included (what `settle`
    ///         would bill now).
    function previewAmount(uint32 period) external view returns (uint256);

    /// @notice The settlement of `period` (status None if not settled).
    function settlement(uint32 period) external view returns (Settlement memory);

    /// @notice Due date of the settlement of `period` (its period end plus the payment terms).
    function dueDate(uint32 period) external view returns (uint40);

    /// @notice Sum of what is open on all settlements (amount − paid of every settlement not written off), in minor
    ///         units.
    /// @dev A running total every settlement, payment, return, resolution and write-off updates, so this view (and
    ///      `status`) costs the same whatever the agreement's history.
    function outstanding() external view returns (uint256);

    /// @notice The usage epoch: how many corrections were made. Every usage report names it.
    function usageEpoch() external view returns (uint16);

    /// @notice Current service status.
    function serviceStatus() external view returns (ServiceStatus);

    /// @notice The EIP-712 digest `party` signs to accept `version` (for tooling); reverts for a non-party.
    function acceptDigest(address party, uint16 version, bytes32 termsHash, uint256 deadline)
        external
        view
        returns (bytes32);

    /// @notice The EIP-712 digest an oracle signs for a usage report (for tooling).
    function usageReportDigest(
        uint32 period,
        bytes32 reportId,
        bytes32 recordsRoot,
        uint16 epoch,
        uint40 signerSince,
        MeterUsage[] calldata usages
    ) external view returns (bytes32);

    // ----------------------------------------------------------------------------------------------------------
    // Role mirror (implementation only)
    // ----------------------------------------------------------------------------------------------------------

    /// @notice `account`'s agreement roles as the implementation mirrors them from the factory: OPERATOR_ROLE,
    ///         GATEWAY_ROLE and when its ORACLE_ROLE becomes active (0 without ORACLE_ROLE). Always equal to the
    ///         factory's `hasRole` and `oracleActiveFrom`. Implementation only (reverts on a clone).
    /// @dev The factory's AccessControl is the source of truth; its `_grantRole`/`_revokeRole` (grant, revoke,
    ///      renounce) rewrite the mirror of the account from the factory's state after every change of these three
    ///      roles. Agreements check roles here rather than at the factory: their DELEGATECALL has already warmed
    ///      the implementation's address, so a check costs a warm call and one storage read. They read the same
    ///      word through the implementation's raw read (its fallback, with call data `abi.encode(account)`), which
    ///      skips this function's ABI decoding and encoding.
    function mirroredRoles(address account) external view returns (bool operator, bool gateway, uint40 oracleActiveFrom);

    /// @notice Records `account`'s roles as the factory holds them. Factory only, on the implementation only
    ///         (reverts on a clone, so no agreement can write a mirror).
    function setMirroredRoles(address account, bool operator, bool gateway, uint40 oracleActiveFrom) external;
}
