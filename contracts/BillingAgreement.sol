// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";

import {BillingAgreementBase} from "./BillingAgreementBase.sol";
import {BillingAgreementExtension} from "./BillingAgreementExtension.sol";
import {IBillingAgreement} from "./interfaces/IBillingAgreement.sol";
import {CalendarMath} from "./libraries/CalendarMath.sol";
import {PartySignature} from "./libraries/PartySignature.sol";
import {Pricing} from "./libraries/Pricing.sol";
import {TermsCodec} from "./libraries/TermsCodec.sol";
import {
    AgreementState,
    AgreementStatus,
    MeterUsage,
    PaymentStatus,
    ServiceStatus,
    Settlement,
    Terms,
    TerminationReason
} from "./types/BillingTypes.sol";
import {EIP712} from "./utils/EIP712.sol";

// Lint exceptions in this file, each deliberate (forge lint):
// - block-timestamp: periods, grace windows, due dates, notice and dispute windows are defined in block time; a
//   block proposer can only move a boundary crossing by the few seconds block timestamps may drift.
// - unsafe-typecast: packed words (core slot, settlements, clone arguments) are unpacked with narrowing casts, and
//   values proven to fit are narrowed (periods < 2^32 for times < 2^40, amounts checked against 96 bits).
// forge-lint: disable-start(block-timestamp, unsafe-typecast)
/// @title BillingAgreement
/// @notice One billing agreement between a payer and a payee (see IBillingAgreement).
/// @dev Deployed only as an EIP-1167 clone with immutable arguments `payer (20) ‖ payee (20) ‖ packedTerms`
///      (docs/terms-encoding.md), read with `Clones.fetchCloneArgs`. Terms version 1 lives in those arguments;
///      each amendment lives in its own data contract (SSTORE2 pattern: code = 0x00 ‖ packedTerms).
///
///      Code size: all of IBillingAgreement does not fit the 24,576-byte limit (EIP-170) at the project's
///      optimizer settings. This contract implements the calls with gas budgets, the frequent ones and every view;
///      the other state-changing calls (amendments, pause, notice, termination, disputes, write-offs, service
///      status) are implemented by `BillingAgreementExtension`, which this contract deploys and reaches by
///      DELEGATECALL: they run on the clone's storage and code arguments with `msg.sender`
///      unchanged, for about 2,700 gas more. They are still declared here, so this contract's ABI is complete.
///      Storage layout and helpers are shared through `BillingAgreementBase`.
///
///      Roles: the implementation itself (never a clone) keeps a mirror of the factory's agreement roles in its own
///      storage, written only by the factory (`setMirroredRoles`); agreements read it with a STATICCALL to the
///      implementation (warm by then) through the raw read of `fallback`, or typed through `mirroredRoles`.
contract BillingAgreement is IBillingAgreement, BillingAgreementBase, EIP712 {
    using SafeERC20 for IERC20;

    bytes32 private constant ACCEPT_TYPEHASH =
        keccak256("Accept(address party,uint8 role,uint16 version,bytes32 termsHash,uint256 deadline)");
    bytes32 private constant USAGE_REPORT_TYPEHASH = keccak256(
        "UsageReport(uint32 period,bytes32 reportId,bytes32 recordsRoot,uint16 epoch,uint40 signerSince,MeterUsage[] usages)MeterUsage(uint8 meter,uint64 cumulative)"
    );
    /// @dev `_report`'s `signerSince` for a direct report: the caller is checked live, no grant to compare.
    uint256 private constant DIRECT = type(uint256).max;
    bytes32 private constant METER_USAGE_TYPEHASH = keccak256("MeterUsage(uint8 meter,uint64 cumulative)");
    /// @dev `UsageReported.selector` (keccak256("UsageReported(uint32,uint8,uint64,uint64,bytes32,bytes32)")) as a
    ///      literal, for the assembly that emits it; a test checks it against the event.
    uint256 private constant USAGE_REPORTED = 0x5e3d7ec79be4b6913aae1a1941c3e65ceb50fe890a489fd6b5590dcf189377b5;
    /// @dev `PaymentConfirmed.selector` (keccak256("PaymentConfirmed(uint32,uint96,bytes32)")) as a literal, for the
    ///      assembly of `confirmPayment`; a test checks it against the event.
    uint256 private constant PAYMENT_CONFIRMED = 0xffb436ee4311f4dd22f24d7f1bc10732413a8fc60ada8d459b2659322e58b222;

    /// @dev Implements the functions this contract forwards (see the contract NatSpec).
    address private immutable _extension;

    /// @dev The deployer (msg.sender) is the factory. Disables initialization of the implementation by marking
    ///      its own `_core` initialized: the same effect as OpenZeppelin's `_disableInitializers()`, without
    ///      Initializable's extra (ERC-7201 namespaced) storage slot, which would cost every clone another 22,100
    ///      gas in `initialize`; here "initialized" is a flag in `_core`, the slot `initialize` writes anyway.
    constructor() BillingAgreementBase(msg.sender, address(this)) {
        _core = CORE_INITIALIZED;
        _extension = address(new BillingAgreementExtension(msg.sender, address(this)));
    }

    // ------------------------------------------------------------------------------------------------------------
    // Lifecycle
    // ------------------------------------------------------------------------------------------------------------

    /// @inheritdoc IBillingAgreement
    function initialize() external {
        if (msg.sender != _factory) revert BillingAgreement_NotFactory(msg.sender);
        if (_core != 0) revert BillingAgreement_AlreadyInitialized();
        uint256 token;
        uint256 meterCount;
        assembly ("memory-safe") {
            // From the packed terms after proxy code (0x2d) and parties (40), into scratch space: the token
            // (bytes 0-19) and the meter count of version 1 (byte 79).
            let terms_ := add(0x2d, PARTIES_LENGTH)
            extcodecopy(address(), 0, terms_, 20)
            token := shr(96, mload(0))
            extcodecopy(address(), 0, add(terms_, 79), 1)
            meterCount := shr(248, mload(0))
        }
        // Proposed (0), version 0 with version 1 pending.
        _core = CORE_INITIALIZED | CORE_PENDING | (meterCount << CORE_METERS) | (token != 0 ? CORE_TOKEN : 0);
    }

    /// @inheritdoc IBillingAgreement
    function accept(uint16 version, bytes32 termsHash) external {
        _accept(msg.sender, version, termsHash);
    }

    /// @inheritdoc IBillingAgreement
    /// @dev A signature stays usable until its deadline: it can only ever accept the exact terms it names, and
    ///      only while they await acceptance.
    function acceptWithSignature(
        address party,
        uint16 version,
        bytes32 termsHash,
        uint256 deadline,
        bytes calldata signature
    ) external {
        if (block.timestamp > deadline) revert BillingAgreement_SignatureExpired(deadline);
        if (!PartySignature.isValidNowCalldata(party, acceptDigest(party, version, termsHash, deadline), signature)) {
            revert BillingAgreement_InvalidSignature(party);
        }
        _accept(party, version, termsHash);
    }

    /// @inheritdoc IBillingAgreement
    function proposeAmendment(Terms calldata) external returns (uint16) {
        _delegate();
    }

    /// @inheritdoc IBillingAgreement
    function rejectAmendment() external {
        _delegate();
    }

    /// @inheritdoc IBillingAgreement
    function pause() external {
        _delegate();
    }

    /// @inheritdoc IBillingAgreement
    function resume() external {
        _delegate();
    }

    /// @inheritdoc IBillingAgreement
    function giveNotice() external {
        _delegate();
    }

    /// @inheritdoc IBillingAgreement
    function terminateByConsent(uint32) external {
        _delegate();
    }

    /// @inheritdoc IBillingAgreement
    function cancel() external {
        _delegate();
    }

    // ------------------------------------------------------------------------------------------------------------
    // Usage
    // ------------------------------------------------------------------------------------------------------------

    /// @inheritdoc IBillingAgreement
    /// @dev Reports are accepted until the period is settled (also after its grace window if nobody settled it).
    function reportUsage(
        uint32 period,
        bytes32 reportId,
        bytes32 recordsRoot,
        uint16 epoch,
        MeterUsage[] calldata usages
    ) external {
        _report(msg.sender, period, reportId, recordsRoot, epoch, DIRECT, usages);
    }

    /// @inheritdoc IBillingAgreement
    function reportUsageWithSignature(
        uint32 period,
        bytes32 reportId,
        bytes32 recordsRoot,
        uint16 epoch,
        uint40 signerSince,
        MeterUsage[] calldata usages,
        bytes calldata signature
    ) external {
        (address signer, ECDSA.RecoverError err,) = ECDSA.tryRecoverCalldata(
            usageReportDigest(period, reportId, recordsRoot, epoch, signerSince, usages), signature
        );
        if (err != ECDSA.RecoverError.NoError) revert BillingAgreement_InvalidSignature(signer);
        _report(signer, period, reportId, recordsRoot, epoch, signerSince, usages);
    }

    /// @inheritdoc IBillingAgreement
    function correctUsage(uint32, uint8, uint64, bytes32, string calldata) external {
        _delegate();
    }

    // ------------------------------------------------------------------------------------------------------------
    // Settlement and payment
    // ------------------------------------------------------------------------------------------------------------

    /// @inheritdoc IBillingAgreement
    function settle(uint32 period) external returns (uint256 amount) {
        return _settle(period);
    }

    /// @inheritdoc IBillingAgreement
    function checkUpkeep(bytes calldata) external view returns (bool upkeepNeeded, bytes memory performData) {
        Core memory c = _readCore();
        uint32 period = c.next;
        if (c.state != uint8(AgreementState.Active) || c.locked || (c.endPeriod != 0 && period >= c.endPeriod)) {
            return (false, "");
        }
        bytes memory a = _args();
        uint256 t = _termsOf(_versionFor(c, period), a);
        upkeepNeeded =
            block.timestamp >= TermsCodec.periodStart(_v1(a), uint256(period) + 1) + TermsCodec.graceSeconds(t);
        if (upkeepNeeded) performData = abi.encode(period);
    }

    /// @inheritdoc IBillingAgreement
    function performUpkeep(bytes calldata performData) external {
        _settle(abi.decode(performData, (uint32)));
    }

    /// @inheritdoc IBillingAgreement
    /// @dev Allowed from Due, PartiallyPaid, Returned and Disputed (then only beyond the disputed amount).
    function collect(uint32 period) external returns (uint256 collected) {
        Core memory c = _loadCore();
        bytes memory a = _args();
        address token = TermsCodec.token(_v1(a));
        if (token == address(0)) revert BillingAgreement_NotToken();
        uint256 word = _settlementIn(period, DUE | PARTIALLY_PAID | RETURNED | DISPUTED);
        // Effects before the interaction: the lock blocks every state-changing entry point until the pull is
        // accounted for.
        c.locked = true;
        _storeCore(c);
        return _pullAndRecord(c, period, word, token, a);
    }

    /// @inheritdoc IBillingAgreement
    /// @dev Allowed on every settlement not written off; while Disputed the status stays Disputed. Writes the
    ///      settlement and the running total of what is open in the core slot. A payment is confirmed for every bank
    ///      line, so the accepted case runs in assembly (the role check of `_requireGateway` inline, the core slot
    ///      read raw: a fiat agreement never takes the token-call lock, and a clone the factory did not initialize
    ///      has no settlement); anything else takes `_refuseFiatPayment`, which reverts with the precise error.
    function confirmPayment(uint32 period, uint96 amount, bytes32 bankRefHash) external {
        address impl = _implementation;
        bool done;
        assembly ("memory-safe") {
            mstore(0x00, caller())
            let ok := staticcall(gas(), impl, 0x00, 0x20, 0x00, 0x20)
            let gateway := and(and(ok, gt(returndatasize(), 0x1f)), iszero(iszero(and(mload(0x00), ROLE_GATEWAY))))
            let core := sload(_core.slot)
            mstore(0x00, period)
            mstore(0x20, _settlements.slot)
            let slot := keccak256(0x00, 0x40)
            let word := sload(slot)
            let st := and(shr(232, word), 0xff)
            let billed := and(word, 0xffffffffffffffffffffffff)
            let paid := and(shr(96, word), 0xffffffffffffffffffffffff)
            // Gateway, a non-zero amount, fiat, settled and not written off (status 1 to 5), at most what is open
            // (paid ≤ billed always holds, so billed - paid does not wrap).
            if and(
                and(gateway, iszero(iszero(amount))),
                and(
                    and(iszero(and(core, CORE_TOKEN)), and(gt(st, 0), lt(st, 6))),
                    iszero(gt(amount, sub(billed, paid)))
                )
            ) {
                // Cannot overflow: amount ≤ billed - paid < 2^96. The running total (bits 160-255) holds at least this
                // settlement's open amount (it is the sum of those), so it does not underflow either.
                paid := add(paid, amount)
                sstore(_core.slot, sub(core, shl(CORE_OUTSTANDING, amount)))
                // Disputed (5) stays; otherwise Paid (3) when fully paid, else PartiallyPaid (2).
                if iszero(eq(st, 5)) { st := add(2, eq(paid, billed)) }
                word := or(
                    and(word, not(or(shl(96, 0xffffffffffffffffffffffff), shl(232, 0xff)))),
                    or(shl(96, paid), shl(232, st))
                )
                sstore(slot, word)
                // PaymentConfirmed(uint32 indexed period, uint96 amount, bytes32 bankRefHash), its data in scratch
                // space.
                mstore(0x00, amount)
                mstore(0x20, bankRefHash)
                log2(0x00, 0x40, PAYMENT_CONFIRMED, period)
                done := 1
            }
        }
        if (!done) _refuseFiatPayment(period, amount);
    }

    /// @dev Reverts with the error that stops a fiat payment of `amount` on `period` (`confirmPayment`'s checks).
    function _refuseFiatPayment(uint32 period, uint96 amount) private view {
        (uint256 word,) = _fiatPayment(period, amount);
        (uint96 billed, uint96 paid,) = _amounts(word);
        // Cannot underflow: paid ≤ billed always holds for a settlement.
        unchecked {
            revert BillingAgreement_Overpayment(period, amount, billed - paid);
        }
    }

    /// @inheritdoc IBillingAgreement
    /// @dev Allowed on every settlement not written off; while Disputed the status stays Disputed.
    function reportReturn(uint32 period, uint96 amount, bytes4 reasonCode, bytes32 bankRefHash) external {
        (uint256 word, uint256 core) = _fiatPayment(period, amount);
        (, uint96 paid, PaymentStatus st) = _amounts(word);
        if (amount > paid) revert BillingAgreement_ReturnExceedsPaid(period, amount, paid);
        // Cannot underflow: amount ≤ paid.
        unchecked {
            paid -= amount;
        }
        // A return re-opens what was paid. With other settlements open, the sum can exceed the running total's 96
        // bits (only with amounts near 2^96 minor units): refused with OutstandingOverflow rather than wrapped.
        uint256 total = (core >> CORE_OUTSTANDING) + amount;
        if (total > OUTSTANDING_MAX) revert BillingAgreement_OutstandingOverflow(period, total);
        _core = (core & ~(OUTSTANDING_MAX << CORE_OUTSTANDING)) | (total << CORE_OUTSTANDING);
        if (st != PaymentStatus.Disputed) st = PaymentStatus.Returned;
        _settlements[period] = _withPayment(word, paid, st);
        emit PaymentReturned(period, amount, reasonCode, bankRefHash, st);
    }

    /// @dev Common checks of `confirmPayment` and `reportReturn`: gateway, non-zero amount, fiat agreement, a
    ///      settlement that is not written off (which implies an initialized clone). Returns the settlement word
    ///      and the core word.
    function _fiatPayment(uint32 period, uint96 amount) private view returns (uint256 word, uint256 core) {
        _requireGateway();
        if (amount == 0) revert BillingAgreement_ZeroAmount();
        core = _core;
        if (core & CORE_TOKEN != 0) revert BillingAgreement_NotFiat();
        word = _settlementIn(period, NOT_WRITTEN_OFF);
    }

    /// @inheritdoc IBillingAgreement
    function dispute(uint32, uint96, bytes32) external {
        _delegate();
    }

    /// @inheritdoc IBillingAgreement
    function decideDispute(uint32, uint96) external {
        _delegate();
    }

    /// @inheritdoc IBillingAgreement
    function resolveDispute(uint32, uint96) external {
        _delegate();
    }

    /// @inheritdoc IBillingAgreement
    function writeOff(uint32) external {
        _delegate();
    }

    /// @inheritdoc IBillingAgreement
    function setServiceStatus(ServiceStatus, bytes32) external {
        _delegate();
    }

    /// @inheritdoc IBillingAgreement
    /// @dev Here rather than in the extension: a second DELEGATECALL would cost a cold account access (2,600 gas)
    ///      of the 32,000 the whole transaction may use. Writes nothing; the event is the record.
    function anchorInvoice(uint32 period, bytes32 numberHash, bytes32 documentHash) external {
        _requireGateway();
        if (address(this) == _implementation) revert BillingAgreement_NotAClone();
        emit InvoiceIssued(period, numberHash, documentHash);
    }

    // ------------------------------------------------------------------------------------------------------------
    // Views
    // ------------------------------------------------------------------------------------------------------------

    /// @inheritdoc IBillingAgreement
    /// @dev address(0) for a clone of the implementation that the factory did not deploy (never initialized).
    function factory() external view returns (address) {
        return _core == 0 ? address(0) : _factory;
    }

    /// @inheritdoc IBillingAgreement
    function parties() external view returns (address payer, address payee) {
        bytes memory a = _args();
        return (_payer(a), _payee(a));
    }

    /// @inheritdoc IBillingAgreement
    /// @dev While Proposed: version 1, the terms awaiting acceptance.
    function terms() external view returns (Terms memory current, uint16 version) {
        Core memory c = _readCore();
        version = c.version == 0 ? 1 : c.version;
        current = TermsCodec.decode(_termsOf(version, _args()));
    }

    /// @inheritdoc IBillingAgreement
    function termsAt(uint16 version)
        external
        view
        returns (Terms memory t, bytes32 termsHash, uint32 effectiveFromPeriod)
    {
        Core memory c = _readCore();
        if (version == 0 || version > _highestProposed(c.version)) revert BillingAgreement_UnknownVersion(version);
        (uint256 p, uint256 len) = _termsAt(version, _args());
        t = TermsCodec.decode(p);
        termsHash = TermsCodec.hash(p, len);
        if (version > 1) effectiveFromPeriod = uint32(_versions[version] >> 160);
    }

    /// @dev The highest version number proposed so far, given the version in force (1 until the first amendment).
    function _highestProposed(uint16 version) private view returns (uint16) {
        uint16 last = uint16(_versions[0]);
        return last > version ? last : version > 1 ? version : 1;
    }

    /// @inheritdoc IBillingAgreement
    function versionForPeriod(uint32 period) external view returns (uint16) {
        return _versionFor(_readCore(), period);
    }

    /// @inheritdoc IBillingAgreement
    function hasAccepted(address party, uint16 version) external view returns (bool) {
        Core memory c = _readCore();
        uint256 bit = _partyBit(_args(), party);
        if (bit == 0 || version == 0) return false;
        if (c.pending && version == _pendingVersion(c)) return (c.accepted & bit) != 0;
        // In force: version 1 once active, later versions once their effective-from period is recorded.
        return version <= c.version && (version == 1 || _versions[version] >> 160 & type(uint32).max != 0);
    }

    /// @inheritdoc IBillingAgreement
    function state() external view returns (AgreementState) {
        return _effectiveState(_readCore(), _args());
    }

    /// @inheritdoc IBillingAgreement
    function status() external view returns (AgreementStatus memory s) {
        Core memory c = _readCore();
        bytes memory a = _args();
        uint256 t1 = _v1(a);
        uint256 p = TermsCodec.periodAt(t1, block.timestamp);
        s.state = _effectiveState(c, a);
        s.serviceStatus = ServiceStatus(c.service);
        s.version = c.version;
        s.pendingVersion = c.pending ? _pendingVersion(c) : 0;
        s.currentPeriod = uint32(p);
        s.currentPeriodStart = _u40(TermsCodec.periodStart(t1, p));
        s.currentPeriodEnd = _u40(TermsCodec.periodStart(t1, p + 1));
        s.nextPeriodToSettle = c.next;
        s.endPeriod = c.endPeriod;
        s.outstanding = c.outstanding;
        s.usageEpoch = c.epoch;
    }

    /// @inheritdoc IBillingAgreement
    function currentPeriod() external view returns (uint32 period, uint40 start, uint40 end) {
        uint256 t1 = _v1(_args());
        uint256 p = TermsCodec.periodAt(t1, block.timestamp);
        return (uint32(p), _u40(TermsCodec.periodStart(t1, p)), _u40(TermsCodec.periodStart(t1, p + 1)));
    }

    /// @inheritdoc IBillingAgreement
    /// @dev Saturates at 2^40 - 1 for periods beyond the year 36812.
    function periodBounds(uint32 period) external view returns (uint40 start, uint40 end) {
        uint256 t1 = _v1(_args());
        return (_u40(TermsCodec.periodStart(t1, period)), _u40(TermsCodec.periodStart(t1, uint256(period) + 1)));
    }

    /// @inheritdoc IBillingAgreement
    function usage(uint32 period, uint8 meter) external view returns (uint64) {
        Core memory c = _readCore();
        uint256 count = _meterCountFor(c, _versionFor(c, period), _args());
        if (meter >= count) revert BillingAgreement_UnknownMeter(meter, count);
        return uint64(_usage[(uint256(period) << 1) | (meter >> 2)] >> (uint256(meter & 3) << 6));
    }

    /// @inheritdoc IBillingAgreement
    /// @dev One entry per meter of the terms version pricing `period`.
    function usageOf(uint32 period) external view returns (uint64[] memory u) {
        Core memory c = _readCore();
        uint256 n = _meterCountFor(c, _versionFor(c, period), _args());
        u = new uint64[](n);
        uint256 key = uint256(period) << 1;
        uint256 w0 = _usage[key];
        uint256 w1 = _usage[key | 1];
        for (uint256 i; i < n; ++i) {
            u[i] = uint64((i < 4 ? w0 : w1) >> ((i & 3) << 6));
        }
    }

    /// @inheritdoc IBillingAgreement
    /// @dev Not limited to 96 bits (settlement reverts with `BillingAgreement_AmountOverflow` above that).
    function previewAmount(uint32 period) external view returns (uint256) {
        uint256 t = _termsOf(_versionFor(_readCore(), period), _args());
        uint256 key = uint256(period) << 1;
        uint256 net = Pricing.amount(t, _usage[key], _usage[key | 1]);
        return net + Pricing.vat(t, net);
    }

    /// @inheritdoc IBillingAgreement
    function settlement(uint32 period) external view returns (Settlement memory s) {
        uint256 word = _settlements[period];
        (s.amount, s.paid, s.status) = _amounts(word);
        s.settledAt = uint40(word >> 192);
        s.termsVersion = uint16(word >> 240);
        if (s.status == PaymentStatus.Disputed) s.disputed = uint96(_disputed[period]);
    }

    /// @inheritdoc IBillingAgreement
    function dueDate(uint32 period) external view returns (uint40) {
        bytes memory a = _args();
        uint256 t = _termsOf(_versionFor(_readCore(), period), a);
        return _u40(
            TermsCodec.periodStart(_v1(a), uint256(period) + 1) + uint256(TermsCodec.paymentTermsDays(t))
                * SECONDS_PER_DAY
        );
    }

    /// @inheritdoc IBillingAgreement
    function outstanding() external view returns (uint256) {
        return _readCore().outstanding;
    }

    /// @inheritdoc IBillingAgreement
    function usageEpoch() external view returns (uint16) {
        return _readCore().epoch;
    }

    /// @inheritdoc IBillingAgreement
    function serviceStatus() external view returns (ServiceStatus) {
        return ServiceStatus(_readCore().service);
    }

    /// @inheritdoc IBillingAgreement
    function acceptDigest(address party, uint16 version, bytes32 termsHash, uint256 deadline)
        public
        view
        returns (bytes32)
    {
        uint256 role = _partyBit(_args(), party);
        if (role == 0) revert BillingAgreement_NotParty(party);
        return _hashTypedDataV4(keccak256(abi.encode(ACCEPT_TYPEHASH, party, role, version, termsHash, deadline)));
    }

    /// @inheritdoc IBillingAgreement
    function usageReportDigest(
        uint32 period,
        bytes32 reportId,
        bytes32 recordsRoot,
        uint16 epoch,
        uint40 signerSince,
        MeterUsage[] calldata usages
    ) public view returns (bytes32) {
        uint256 n = usages.length;
        bytes32[] memory hashes = new bytes32[](n);
        for (uint256 i; i < n; ++i) {
            hashes[i] = keccak256(abi.encode(METER_USAGE_TYPEHASH, usages[i].meter, usages[i].cumulative));
        }
        return _hashTypedDataV4(
            keccak256(
                abi.encode(
                    USAGE_REPORT_TYPEHASH,
                    period,
                    reportId,
                    recordsRoot,
                    epoch,
                    signerSince,
                    keccak256(abi.encodePacked(hashes))
                )
            )
        );
    }

    // ------------------------------------------------------------------------------------------------------------
    // Role mirror (implementation only)
    // ------------------------------------------------------------------------------------------------------------

    /// @inheritdoc IBillingAgreement
    function mirroredRoles(address account) external view returns (bool, bool, uint40) {
        if (address(this) != _implementation) revert BillingAgreement_NotImplementation();
        uint256 w = _roleMirror[account];
        return (w & ROLE_OPERATOR != 0, w & ROLE_GATEWAY != 0, uint40(w >> ROLE_ORACLE_FROM));
    }

    /// @notice The role mirror's raw read, for agreements (see `_roles`): call data `abi.encode(account)`, whose
    ///         first four bytes are 0x00000000 and so match no function, returns `account`'s role word: bit 0
    ///         OPERATOR_ROLE, bit 1 GATEWAY_ROLE, bits 8-47 the ORACLE_ROLE activation time (`mirroredRoles` gives
    ///         the same typed). Implementation only; any other call that matches no function reverts without data.
    fallback() external {
        if (address(this) != _implementation || msg.data.length != 32) revert();
        uint256 word;
        assembly ("memory-safe") {
            word := calldataload(0)
        }
        if (word >> 160 != 0) revert();
        uint256 roles = _roleMirror[address(uint160(word))];
        assembly ("memory-safe") {
            mstore(0x00, roles)
            return(0x00, 0x20)
        }
    }

    /// @inheritdoc IBillingAgreement
    /// @dev `address(this)` is the implementation only when the implementation itself is called: in a clone (reached
    ///      by DELEGATECALL) it is the clone, so no clone can write a mirror, not even on the factory's behalf.
    function setMirroredRoles(address account, bool operator, bool gateway, uint40 oracleActiveFrom) external {
        if (address(this) != _implementation) revert BillingAgreement_NotImplementation();
        if (msg.sender != _factory) revert BillingAgreement_NotFactory(msg.sender);
        _roleMirror[account] = (operator ? ROLE_OPERATOR : 0) | (gateway ? ROLE_GATEWAY : 0)
            | (uint256(oracleActiveFrom) << ROLE_ORACLE_FROM);
    }

    // ------------------------------------------------------------------------------------------------------------
    // Internal: acceptance
    // ------------------------------------------------------------------------------------------------------------

    function _accept(address party, uint16 version, bytes32 termsHash) private {
        Core memory c = _loadCore();
        bytes memory a = _args();
        uint256 bit = _partyBit(a, party);
        if (bit == 0) revert BillingAgreement_NotParty(party);
        if (!c.pending || version != _pendingVersion(c)) revert BillingAgreement_NotPending(version);
        if (version != 1) _requireRunning(c, a);
        (uint256 t, uint256 len) = _termsAt(version, a);
        bytes32 expected = TermsCodec.hash(t, len);
        if (termsHash != expected) revert BillingAgreement_TermsMismatch(version, expected, termsHash);
        if (c.accepted & bit != 0) revert BillingAgreement_AlreadyAccepted(party, version);
        c.accepted |= uint8(bit);
        if (c.accepted != BOTH) {
            _storeCore(c);
            emit TermsAccepted(party, version, termsHash);
            return;
        }

        // Both parties accepted `version`.
        c.pending = false;
        c.accepted = 0;
        uint16 previous = c.version;
        c.version = version;
        uint256 t1 = _v1(a);
        uint40 end = TermsCodec.end(t);
        uint256 endPeriod = end != 0 ? TermsCodec.periodAt(t1, end) : 0;
        bool endChanged;
        if (version == 1) {
            c.state = uint8(AgreementState.Active);
            if (end != 0) (c.endPeriod, endChanged) = (uint32(endPeriod), true);
            _storeCore(c);
            emit TermsAccepted(party, version, termsHash);
            emit AgreementActivated(uint40(block.timestamp));
        } else {
            uint256 effectiveFrom = TermsCodec.periodAt(t1, block.timestamp) + 1;
            if (end != 0) {
                // An amendment's end replaces a scheduled term end (both parties accepted it), but may not cut a
                // period priced by the previous terms, and never moves an end set by notice or consent later. An
                // amendment with end 0 keeps the scheduled end.
                if (endPeriod < effectiveFrom) {
                    revert BillingAgreement_EndTooEarly(uint32(endPeriod), uint32(effectiveFrom));
                }
                if (!c.endFixed || endPeriod < c.endPeriod) (c.endPeriod, endChanged) = (uint32(endPeriod), true);
            }
            _putInForce(c, version, previous, effectiveFrom);
            _storeCore(c);
            emit TermsAccepted(party, version, termsHash);
            emit TermsAmended(version, uint32(effectiveFrom), termsHash);
        }
        if (endChanged) emit TerminationScheduled(uint32(endPeriod), TerminationReason.TermEnd, party);
    }

    /// @dev Records accepted proposal `version` as in force from `effectiveFrom` after `previous` (for
    ///      `_versionFor`), with the count of versions in force, and makes it the latest version in `c`.
    function _putInForce(Core memory c, uint16 version, uint16 previous, uint256 effectiveFrom) private {
        uint256 record = _versions[version];
        uint256 inForce = (previous == 1 ? 1 : uint8(_versions[previous] >> 216)) + 1;
        if (inForce > MAX_VERSIONS) revert BillingAgreement_TooManyVersions(MAX_VERSIONS);
        _versions[version] = record | (effectiveFrom << 160) | (uint256(previous) << 200) | (inForce << 216);
        c.meterCount = uint8(record >> 192);
        c.latestEffectiveFrom = uint32(effectiveFrom);
    }

    // ------------------------------------------------------------------------------------------------------------
    // Internal: usage
    // ------------------------------------------------------------------------------------------------------------

    /// @dev `reportUsage` for `oracle` (the caller, or the signer of a signed report, which names the grant it was
    ///      signed under in `signerSince`; DIRECT for a report by transaction). The most frequent call, so the
    ///      common case runs in assembly: the role check (`_roles` and `_isActiveOracle`, inline) and for a signed
    ///      report the grant, the usage epoch, the state and period checks on the core word (Active, not in a token
    ///      call, priced by the latest version, not settled, before the end, begun: the calendar is read only for a
    ///      period after the next one to settle), then the loop over the entries. Anything unusual takes
    ///      `_reportableMeters`, which reports the precise error.
    function _report(
        address oracle,
        uint32 period,
        bytes32 reportId,
        bytes32 recordsRoot,
        uint16 epoch,
        uint256 signerSince,
        MeterUsage[] calldata usages
    ) private {
        // `failed`: 0 fine, 1 not an active oracle, 2 meters out of order, 3 unknown meter (`meter` names it),
        // 4 stale usage epoch, 5 signed under an earlier grant of the oracle role.
        // `count`: the meter count of the terms pricing `period`; 0 when the fast checks did not pass.
        uint256 failed;
        uint256 count;
        uint256 meter;
        {
            address impl = _implementation;
            uint256 calendar; // non-zero if `period` lies after the next period to settle: its start needs the calendar
            assembly ("memory-safe") {
                // The role check of `_roles` and `_isActiveOracle`, inline: `failed` 1 unless `oracle` is active.
                mstore(0x00, oracle)
                let ok := staticcall(gas(), impl, 0x00, 0x20, 0x00, 0x20)
                let activeFrom :=
                    mul(and(ok, gt(returndatasize(), 0x1f)), and(shr(ROLE_ORACLE_FROM, mload(0x00)), 0xffffffffff))
                failed := iszero(lt(and(sub(activeFrom, 1), 0xffffffffff), timestamp()))
                let w := sload(_core.slot)
                if iszero(failed) {
                    if iszero(eq(and(shr(CORE_EPOCH, w), 0xffff), epoch)) { failed := 4 }
                    if iszero(or(eq(signerSince, not(0)), eq(signerSince, activeFrom))) { failed := 5 } // not(0): DIRECT
                }
                let next := and(shr(CORE_NEXT, w), 0xffffffff)
                // Fast path: Active (state 1) and not in a token call; not settled; priced by the latest version;
                // before the end (end - 1 wraps when there is none).
                if iszero(
                    or(
                        or(iszero(eq(and(w, or(0xff, CORE_LOCKED)), 1)), lt(period, next)),
                        or(
                            gt(and(shr(CORE_EFFECTIVE, w), 0xffffffff), period),
                            lt(sub(and(shr(CORE_END, w), 0xffffffff), 1), period)
                        )
                    )
                ) {
                    count := and(shr(CORE_METERS, w), 0xff)
                    // Begun: period 0 once the start has passed (the start is read from the clone arguments: proxy
                    // code 0x2d, parties, then bytes 30-34 of the terms); the next period to settle always (its
                    // predecessor's settlement required this period's start to have passed); later periods by the
                    // calendar, below.
                    switch period
                    case 0 {
                        extcodecopy(address(), 0x00, add(0x2d, add(PARTIES_LENGTH, 30)), 5)
                        if gt(shr(216, mload(0x00)), timestamp()) { count := 0 }
                    }
                    default { calendar := xor(period, next) }
                }
            }
            if (failed != 0) _reportRefused(failed, oracle, epoch, signerSince);
            if (usages.length == 0) revert BillingAgreement_EmptyReport();
            if (count == 0) {
                count = _reportableMeters(period);
            } else if (calendar != 0) {
                uint256 startsAt = _periodStart(period);
                if (startsAt > block.timestamp) revert BillingAgreement_PeriodNotStarted(period, _u40(startsAt));
            }
        }

        // Meters ascend, so the meters of one storage word (four lanes) are contiguous: each word is read once and
        // written once. Entries are read straight from the call data (Solidity checked at entry that the array
        // lies inside it) and their values checked to fit their types, as Solidity's decoder would on access (a
        // value that does not fit reverts without data, like the decoder). Only an increase counts: a replayed or
        // reordered report changes nothing and emits nothing. `UsageReported` is emitted before the word is
        // written, in the same transaction; its non-indexed data (previous, cumulative, recordsRoot) and the period
        // and report id sit in free memory for the loop (not allocated: used only here). A meter out of order or
        // unknown stops the loop and reverts below (the whole call, events included).
        assembly ("memory-safe") {
            let log := mload(0x40)
            mstore(add(log, 0x40), recordsRoot)
            mstore(add(log, 0x60), period)
            mstore(add(log, 0x80), reportId)
            let entry := usages.offset
            let end := add(entry, shl(6, usages.length))
            let key := shr(1, not(0)) // usage key of the loaded word (bit 255: changed); none yet (2^255 - 1)
            let slot := 0 // its storage slot, _usage[key]
            let word := 0
            let lowest := 0 // the lowest meter the next entry may name: one above the previous entry's meter
            for {} lt(entry, end) { entry := add(entry, 0x40) } {
                meter := calldataload(entry)
                let cumulative := calldataload(add(entry, 0x20))
                if or(shr(8, meter), shr(64, cumulative)) { revert(0, 0) }
                if or(lt(meter, lowest), iszero(lt(meter, count))) {
                    failed := sub(3, lt(meter, lowest))
                    break
                }
                lowest := add(meter, 1)
                let k := or(shl(1, mload(add(log, 0x60))), shr(2, meter))
                if xor(k, and(key, shr(1, not(0)))) {
                    if shr(255, key) { sstore(slot, word) }
                    key := k
                    mstore(0x00, k)
                    mstore(0x20, _usage.slot)
                    slot := keccak256(0x00, 0x40)
                    word := sload(slot)
                }
                let shift := shl(6, and(meter, 3))
                let previous := and(shr(shift, word), 0xffffffffffffffff)
                if gt(cumulative, previous) {
                    // Replace the lane (it holds `previous`) by `cumulative`.
                    word := xor(word, shl(shift, xor(previous, cumulative)))
                    key := or(key, shl(255, 1))
                    mstore(log, previous)
                    mstore(add(log, 0x20), cumulative)
                    // UsageReported(period indexed, meter indexed, previous, cumulative, recordsRoot, reportId indexed)
                    log4(log, 0x60, USAGE_REPORTED, mload(add(log, 0x60)), meter, mload(add(log, 0x80)))
                }
            }
            if shr(255, key) { sstore(slot, word) }
        }
        if (failed == 2) revert BillingAgreement_MetersNotAscending(uint8(meter));
        if (failed == 3) revert BillingAgreement_UnknownMeter(uint8(meter), count);
    }

    /// @dev Reverts with the error for `_report`'s check code `failed` (1, 4 or 5).
    function _reportRefused(uint256 failed, address oracle, uint16 epoch, uint256 signerSince) private view {
        if (failed == 1) revert BillingAgreement_NotOracle(oracle);
        if (failed == 5) {
            revert BillingAgreement_StaleSignerGrant(
                oracle, _u40(signerSince), uint40(_roles(oracle) >> ROLE_ORACLE_FROM)
            );
        }
        revert BillingAgreement_StaleReport(epoch, _readCore().epoch);
    }

    /// @dev The general path of `_report`'s checks: `period` may take usage in an Active agreement (reverting with
    ///      the precise error otherwise); returns the meter count of the terms pricing it.
    function _reportableMeters(uint32 period) private view returns (uint256) {
        Core memory c = _loadCore();
        if (c.state != uint8(AgreementState.Active)) revert BillingAgreement_InvalidState(AgreementState(c.state));
        return _checkUsagePeriod(c, _args(), period);
    }

    /// @dev Start of `period`, reading only the calendar fields (interval kind, interval, start: bytes 25-34 of the
    ///      packed terms) of the clone arguments instead of all of them. Period 0 starts at `start`.
    function _periodStart(uint256 period) private view returns (uint256) {
        if (address(this) == _implementation) revert BillingAgreement_NotAClone();
        uint256 calendar;
        assembly ("memory-safe") {
            // Proxy code (0x2d) + parties (40) + offset of intervalKind (25); 10 bytes into scratch space.
            extcodecopy(address(), 0, add(0x2d, add(PARTIES_LENGTH, 25)), 10)
            calendar := shr(176, mload(0))
        }
        if (period == 0) return uint40(calendar);
        return CalendarMath.periodStart(uint40(calendar), uint8(calendar >> 72), uint32(calendar >> 40), period);
    }

    // ------------------------------------------------------------------------------------------------------------
    // Internal: settlement
    // ------------------------------------------------------------------------------------------------------------

    function _settle(uint32 period) private returns (uint256 amount) {
        Core memory c = _loadCore();
        if (c.state != uint8(AgreementState.Active)) revert BillingAgreement_InvalidState(AgreementState(c.state));
        if (c.endPeriod != 0 && period >= c.endPeriod) revert BillingAgreement_PeriodAfterEnd(period, c.endPeriod);
        if (period < c.next) revert BillingAgreement_PeriodSettled(period);
        if (period > c.next) revert BillingAgreement_SettleOutOfOrder(period, c.next);

        bytes memory a = _args();
        (uint256 word, uint256 due, uint256 vat) = _price(c, a, period);
        amount = uint96(word);

        // Effects: the settlement, the next period to settle and the running total of what is open.
        _settlements[period] = word;
        c.next = period + 1;
        _addOutstanding(c, period, amount);
        address token = TermsCodec.token(_v1(a));
        bool pull = token != address(0) && amount != 0;
        // The lock is set in the same write, before the token call below.
        if (pull) c.locked = true;
        _storeCore(c);
        // Cannot underflow: the amount is net + vat (`_price`).
        unchecked {
            emit SettlementTriggered(period, amount, _u40(due), uint16(word >> 240), amount - vat, vat);
        }

        // Interaction last: all effects of the settlement are stored; the pull's outcome is accounted for under
        // the lock and never reverts the settlement.
        if (pull) _pullAndRecord(c, period, word, token, a);
    }

    /// @dev The settlement word of `period` (amount = net + VAT, settledAt now, status Due, or Paid when nothing is
    ///      owed, the terms version), its due date and its VAT; reverts before end + grace and when the amount
    ///      exceeds 96 bits.
    function _price(Core memory c, bytes memory a, uint32 period)
        private
        view
        returns (uint256 word, uint256 due, uint256 vat)
    {
        uint16 version = _versionFor(c, period);
        uint256 t = _termsOf(version, a);
        uint256 periodEnd = TermsCodec.periodStart(_v1(a), uint256(period) + 1);
        uint256 settleFrom = periodEnd + TermsCodec.graceSeconds(t);
        if (block.timestamp < settleFrom) revert BillingAgreement_PeriodNotEnded(period, _u40(settleFrom));

        uint256 key = uint256(period) << 1;
        uint256 amount = Pricing.amount(t, _usage[key], TermsCodec.meterCount(t) > 4 ? _usage[key | 1] : 0);
        vat = Pricing.vat(t, amount);
        // Cannot overflow: the net amount < 2^168 (Pricing NatSpec) and its VAT at most as much.
        unchecked {
            amount += vat;
        }
        if (amount > type(uint96).max) revert BillingAgreement_AmountOverflow(period, amount);
        word = amount | (block.timestamp << 192) | (uint256(version) << 240)
            | (uint256(amount == 0 ? PaymentStatus.Paid : PaymentStatus.Due) << 232);
        due = periodEnd + uint256(TermsCodec.paymentTermsDays(t)) * SECONDS_PER_DAY;
    }

    /// @dev Pulls what is open on `period` beyond any disputed amount from the payer to the payee and records what
    ///      left the payer. `c.locked` is set and stored by the caller; this clears it.
    function _pullAndRecord(Core memory c, uint32 period, uint256 word, address token, bytes memory a)
        private
        returns (uint256 received)
    {
        // `st` starts as the settlement's status before the pull (what stays recorded if nothing arrives).
        (uint96 billed, uint96 paid, PaymentStatus st) = _amounts(word);
        // Cannot underflow: paid ≤ billed.
        uint256 open;
        unchecked {
            open = billed - paid;
        }
        if (st == PaymentStatus.Disputed) {
            uint256 disputed = _disputed[period];
            // Cannot underflow: only subtracted when open > disputed.
            unchecked {
                open = open > disputed ? open - disputed : 0;
            }
        }
        if (open != 0) received = _pull(token, _payer(a), _payee(a), open);
        if (received != 0) {
            // Cannot overflow: received ≤ open, so paid + received ≤ billed < 2^96. Cannot underflow: the running
            // total holds this settlement's open amount.
            unchecked {
                paid += uint96(received);
                c.outstanding -= uint96(received);
            }
            if (st != PaymentStatus.Disputed) st = paid == billed ? PaymentStatus.Paid : PaymentStatus.PartiallyPaid;
            _settlements[period] = _withPayment(word, paid, st);
        }
        c.locked = false;
        _storeCore(c);
        if (received != 0) emit PaymentConfirmed(period, uint96(received), bytes32(0));
        else emit TokenPullFailed(period, open);
    }

    /// @dev transferFrom(`from`, `to`, `amount`), measured as what left `from` (its balance difference), capped at
    ///      `amount`. Measuring at the payer, not the payee, means a payee that passes what it receives on (or a
    ///      token that charges the receiver) cannot make a payment count as nothing and have the payer pulled again.
    ///      0 when the call fails or returns false, or the balance cannot be read before it. If the balance cannot
    ///      be read after a transfer that reported success, the transfer's word is taken (`amount`).
    function _pull(address token, address from, address to, uint256 amount) private returns (uint256) {
        (bool ok, uint256 before) = _balanceOf(token, from);
        if (!ok) return 0;
        if (!IERC20(token).trySafeTransferFrom(from, to, amount)) return 0;
        (bool ok2, uint256 afterwards) = _balanceOf(token, from);
        if (!ok2) return amount;
        if (afterwards >= before) return 0;
        // Cannot underflow: afterwards < before.
        unchecked {
            uint256 diff = before - afterwards;
            return diff < amount ? diff : amount;
        }
    }

    /// @dev `token.balanceOf(account)` without reverting (scratch space only).
    function _balanceOf(address token, address account) private view returns (bool ok, uint256 bal) {
        assembly ("memory-safe") {
            mstore(0x00, 0x70a08231) // balanceOf(address)
            mstore(0x20, account)
            ok := staticcall(gas(), token, 0x1c, 0x24, 0x00, 0x20)
            ok := and(ok, gt(returndatasize(), 0x1f))
            bal := mul(ok, mload(0x00))
        }
    }

    // ------------------------------------------------------------------------------------------------------------
    // Internal: extension
    // ------------------------------------------------------------------------------------------------------------

    /// @dev Runs the current call in `_extension` (DELEGATECALL: this clone's storage, code arguments and
    ///      msg.sender) and returns or reverts with its result; never returns to the caller. Not memory-safe: it
    ///      overwrites memory from 0, which is fine because it ends the call.
    function _delegate() private {
        address extension = _extension;
        assembly {
            calldatacopy(0, 0, calldatasize())
            let ok := delegatecall(gas(), extension, 0, calldatasize(), 0, 0)
            returndatacopy(0, 0, returndatasize())
            if iszero(ok) { revert(0, returndatasize()) }
            return(0, returndatasize())
        }
    }
}
// forge-lint: disable-end(block-timestamp, unsafe-typecast)
