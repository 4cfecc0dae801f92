// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {Errors} from "@openzeppelin/contracts/utils/Errors.sol";

import {BillingAgreementBase} from "./BillingAgreementBase.sol";
import {IAgreementFactory} from "./interfaces/IAgreementFactory.sol";
import {IBillingAgreement} from "./interfaces/IBillingAgreement.sol";
import {TermsCodec} from "./libraries/TermsCodec.sol";
import {AgreementState, PaymentStatus, ServiceStatus, Terms, TerminationReason} from "./types/BillingTypes.sol";

// Lint exceptions in this file, each deliberate (forge lint):
// - block-timestamp: periods, grace windows, due dates, notice and dispute windows are defined in block time; a
//   block proposer can only move a boundary crossing by the few seconds block timestamps may drift.
// - unsafe-typecast: packed words (core slot, settlements, clone arguments) are unpacked with narrowing casts, and
//   values proven to fit are narrowed (periods < 2^32 for times < 2^40, amounts checked against 96 bits).
// forge-lint: disable-start(block-timestamp, unsafe-typecast)
/// @title BillingAgreementExtension
/// @notice The less frequent state-changing part of `BillingAgreement` (amendments, pause, notice, termination,
///         disputes, write-offs, service status), split off so that both stay under the 24,576-byte code size
///         limit (EIP-170). Every function is documented in IBillingAgreement.
/// @dev Reached only by DELEGATECALL from `BillingAgreement` running in a clone, so it runs on the clone's storage
///      and code arguments with the original `msg.sender`. Called on the implementation it reverts with
///      `BillingAgreement_NotAClone`; called directly, with `BillingAgreement_NotInitialized` (its own state is
///      never initialized).
contract BillingAgreementExtension is BillingAgreementBase {
    /// @dev Tags of the two-party actions (see `terminateByConsent`, `resolveDispute`, `writeOff`).
    bytes32 private constant TERMINATE_ACTION = keccak256("TerminateByConsent(uint32 endPeriod,uint16 version)");
    bytes32 private constant RESOLVE_ACTION =
        keccak256("ResolveDispute(uint32 period,uint96 agreedAmount,uint256 settlement)");
    bytes32 private constant WRITE_OFF_ACTION = keccak256("WriteOff(uint32 period,uint256 settlement)");

    /// @param factory_ The factory that deployed the `BillingAgreement` implementation deploying this.
    /// @param implementation_ That implementation.
    constructor(address factory_, address implementation_) BillingAgreementBase(factory_, implementation_) {}

    // ------------------------------------------------------------------------------------------------------------
    // Lifecycle
    // ------------------------------------------------------------------------------------------------------------

    /// @notice See IBillingAgreement.proposeAmendment.
    /// @dev The factory validates and packs the terms (`encodeAmendmentTerms`), so amendments are checked exactly
    ///      like new agreements (the agreement's own token passes the allow-list even if delisted since); the
    ///      checks against this agreement follow. The proposal gets a new version number (a replaced pending
    ///      amendment keeps its own, with its acceptances, which lapse).
    function proposeAmendment(Terms calldata) external returns (uint16 version) {
        Core memory c = _loadCore();
        bytes memory a = _args();
        uint256 bit = _requirePartyOrOperator(a);
        _requireRunning(c, a);
        // The versions in force, counting version 1; accepting this proposal would add one.
        uint256 inForce = c.version == 1 ? 1 : uint8(_versions[c.version] >> 216);
        if (inForce >= MAX_VERSIONS) revert IBillingAgreement.BillingAgreement_TooManyVersions(MAX_VERSIONS);
        uint256 last = _versions[0];
        if (last < c.version) last = c.version;
        if (last >= type(uint16).max) revert IBillingAgreement.BillingAgreement_TooManyVersions(type(uint16).max);
        version = uint16(last + 1);
        _versions[0] = version;

        bytes memory packed = _encodeTermsAtFactory(TermsCodec.token(_v1(a)));
        uint256 t = TermsCodec.pointer(packed, 0);
        uint256 t1 = _v1(a);
        _checkImmutables(t1, t, c.meterCount);
        uint40 end = TermsCodec.end(t);
        if (end != 0) {
            uint256 endPeriod = TermsCodec.periodAt(t1, end);
            uint256 earliest = TermsCodec.periodAt(t1, block.timestamp) + 1;
            if (endPeriod < earliest) {
                revert IBillingAgreement.BillingAgreement_EndTooEarly(uint32(endPeriod), uint32(earliest));
            }
        }

        _versions[version] = uint256(uint160(_writeData(packed))) | (uint256(TermsCodec.meterCount(t)) << 192);
        c.pending = true;
        c.accepted = uint8(bit);
        _storeCore(c);

        bytes32 termsHash = keccak256(packed);
        emit IBillingAgreement.AmendmentProposed(version, msg.sender, termsHash, packed);
        if (bit != 0) emit IBillingAgreement.TermsAccepted(msg.sender, version, termsHash);
    }

    /// @notice See IBillingAgreement.rejectAmendment.
    /// @dev The rejected proposal keeps its version number for good (the next proposal gets a new one).
    function rejectAmendment() external {
        Core memory c = _loadCore();
        _requirePartyOrOperator(_args());
        if (!c.pending || c.version == 0) revert IBillingAgreement.BillingAgreement_NotPending(0);
        uint16 version = _pendingVersion(c);
        c.pending = false;
        c.accepted = 0;
        _storeCore(c);
        emit IBillingAgreement.AmendmentRejected(version, msg.sender);
    }

    /// @notice See IBillingAgreement.pause.
    function pause() external {
        Core memory c = _loadCore();
        bytes memory a = _args();
        _requirePayeeOrOperator(a);
        AgreementState s = _effectiveState(c, a);
        if (s != AgreementState.Active) revert IBillingAgreement.BillingAgreement_InvalidState(s);
        c.state = uint8(AgreementState.Paused);
        _storeCore(c);
        emit IBillingAgreement.AgreementPaused(msg.sender);
    }

    /// @notice See IBillingAgreement.resume.
    /// @dev Also allowed after the agreement's end has passed, so its last periods can still be settled.
    function resume() external {
        Core memory c = _loadCore();
        bytes memory a = _args();
        _requirePayeeOrOperator(a);
        if (c.state != uint8(AgreementState.Paused)) {
            revert IBillingAgreement.BillingAgreement_InvalidState(_effectiveState(c, a));
        }
        c.state = uint8(AgreementState.Active);
        _storeCore(c);
        emit IBillingAgreement.AgreementResumed(msg.sender);
    }

    /// @notice See IBillingAgreement.giveNotice.
    /// @dev The notice period is the one of the terms pricing the current period. Never extends an end already
    ///      scheduled (`BillingAgreement_EndNotEarlier`). The end becomes fixed: a pending or later amendment can
    ///      bring it forward, never move it later.
    function giveNotice() external {
        Core memory c = _loadCore();
        bytes memory a = _args();
        _requireParty(a);
        _requireRunning(c, a);
        uint256 t1 = _v1(a);
        uint256 t = _termsOf(_versionFor(c, TermsCodec.periodAt(t1, block.timestamp)), a);
        uint256 endPeriod = TermsCodec.periodAt(t1, block.timestamp + TermsCodec.noticeSeconds(t)) + 1;
        _requireEarlierEnd(c, endPeriod);
        c.endPeriod = uint32(endPeriod);
        c.endFixed = true;
        _storeCore(c);
        emit IBillingAgreement.TerminationScheduled(uint32(endPeriod), TerminationReason.Notice, msg.sender);
    }

    /// @notice See IBillingAgreement.terminateByConsent.
    /// @dev Consent is recorded for action keccak256(abi.encode(keccak256("TerminateByConsent(uint32 endPeriod,
    ///      uint16 version)"), endPeriod, version)) with the current terms version, so a consent lapses when the
    ///      terms change. Never extends an end already scheduled (`BillingAgreement_EndNotEarlier`).
    function terminateByConsent(uint32 endPeriod) external {
        Core memory c = _loadCore();
        bytes memory a = _args();
        uint256 bit = _requireParty(a);
        _requireRunning(c, a);
        uint256 earliest = TermsCodec.periodAt(_v1(a), block.timestamp) + 1;
        if (endPeriod < earliest) revert IBillingAgreement.BillingAgreement_EndTooEarly(endPeriod, uint32(earliest));
        _requireEarlierEnd(c, endPeriod);
        if (_consent(keccak256(abi.encode(TERMINATE_ACTION, endPeriod, c.version)), bit)) {
            c.endPeriod = endPeriod;
            c.endFixed = true;
            _storeCore(c);
            emit IBillingAgreement.TerminationScheduled(endPeriod, TerminationReason.Consent, msg.sender);
        }
    }

    /// @notice See IBillingAgreement.cancel.
    function cancel() external {
        Core memory c = _loadCore();
        bytes memory a = _args();
        _requirePartyOrOperator(a);
        if (c.state != uint8(AgreementState.Proposed)) {
            revert IBillingAgreement.BillingAgreement_InvalidState(_effectiveState(c, a));
        }
        c.state = uint8(AgreementState.Terminated);
        c.pending = false;
        c.accepted = 0;
        _storeCore(c);
        emit IBillingAgreement.TerminationScheduled(0, TerminationReason.Cancelled, msg.sender);
    }

    // ------------------------------------------------------------------------------------------------------------
    // Usage
    // ------------------------------------------------------------------------------------------------------------

    /// @notice See IBillingAgreement.correctUsage.
    /// @dev Allowed while Active or Paused (a pause is often what gives time to correct data), for a period that
    ///      has begun, lies before the end and is not settled. Emits even when the figure does not change (the
    ///      reason is on record). Moves the usage epoch on, so every report built before the correction (signed or
    ///      in flight) is refused from now on and cannot undo it.
    function correctUsage(uint32 period, uint8 meter, uint64 corrected, bytes32 recordsRoot, string calldata reason)
        external
    {
        _requireOracle(msg.sender);
        Core memory c = _loadCore();
        if (c.state != uint8(AgreementState.Active) && c.state != uint8(AgreementState.Paused)) {
            revert IBillingAgreement.BillingAgreement_InvalidState(AgreementState(c.state));
        }
        uint256 count = _checkUsagePeriod(c, _args(), period);
        if (meter >= count) revert IBillingAgreement.BillingAgreement_UnknownMeter(meter, count);
        if (c.epoch == type(uint16).max) revert IBillingAgreement.BillingAgreement_TooManyCorrections(c.epoch);
        uint256 key = (uint256(period) << 1) | (meter >> 2);
        uint256 shift = uint256(meter & 3) << 6;
        uint256 word = _usage[key];
        uint64 previous = uint64(word >> shift);
        _usage[key] = (word & ~(uint256(type(uint64).max) << shift)) | (uint256(corrected) << shift);
        ++c.epoch;
        _storeCore(c);
        emit IBillingAgreement.UsageCorrected(period, meter, previous, corrected, recordsRoot, reason, c.epoch);
    }

    // ------------------------------------------------------------------------------------------------------------
    // Payment status
    // ------------------------------------------------------------------------------------------------------------

    /// @notice See IBillingAgreement.dispute.
    /// @dev Allowed from Due, PartiallyPaid, Paid and Returned, until settledAt + the dispute window of the terms
    ///      the settlement was computed with. Payments and returns are still recorded while Disputed.
    function dispute(uint32 period, uint96 amount, bytes32 reasonHash) external {
        _loadCore(); // reentrancy and initialization check
        bytes memory a = _args();
        if (msg.sender != _payer(a)) revert IBillingAgreement.BillingAgreement_NotPayer(msg.sender);
        uint256 word = _settlementIn(period, DUE | PARTIALLY_PAID | PAID | RETURNED);
        uint256 closedAt = _disputeWindowEnd(word, a);
        if (block.timestamp >= closedAt) {
            revert IBillingAgreement.BillingAgreement_DisputeWindowClosed(period, uint40(closedAt));
        }
        uint96 billed = uint96(word);
        if (amount == 0 || amount > billed) {
            revert IBillingAgreement.BillingAgreement_InvalidDisputedAmount(period, amount, billed);
        }
        _settlements[period] = _withStatus(word, PaymentStatus.Disputed);
        _disputed[period] = amount;
        emit IBillingAgreement.SettlementDisputed(period, msg.sender, amount, reasonHash);
    }

    /// @notice See IBillingAgreement.resolveDispute.
    /// @dev Consent is recorded for action keccak256(abi.encode(keccak256("ResolveDispute(uint32 period,uint96
    ///      agreedAmount,uint256 settlement)"), period, agreedAmount, settlement)) where `settlement` is the packed
    ///      settlement word, so a consent lapses when a payment or return changes the settlement.
    function resolveDispute(uint32 period, uint96 agreedAmount) external {
        Core memory c = _loadCore();
        uint256 bit = _requireParty(_args());
        uint256 word = _settlementIn(period, DISPUTED);
        (uint96 billed, uint96 paid,) = _amounts(word);
        if (agreedAmount > billed || agreedAmount < paid) {
            revert IBillingAgreement.BillingAgreement_InvalidAgreedAmount(period, agreedAmount, billed, paid);
        }
        if (!_consent(keccak256(abi.encode(RESOLVE_ACTION, period, agreedAmount, word)), bit)) return;
        _endDispute(c, period, word, agreedAmount, address(0));
    }

    /// @notice See IBillingAgreement.decideDispute.
    function decideDispute(uint32 period, uint96 agreedAmount) external {
        Core memory c = _loadCore();
        bytes memory a = _args();
        uint256 word = _settlementIn(period, DISPUTED);
        uint256 t = _termsOf(uint16(word >> 240), a);
        address arbiter = TermsCodec.arbiter(t);
        if (arbiter == address(0) ? _roles(msg.sender) & ROLE_OPERATOR == 0 : msg.sender != arbiter) {
            revert IBillingAgreement.BillingAgreement_NotArbiter(msg.sender);
        }
        uint256 closesAt = _disputeWindowEnd(word, a);
        if (block.timestamp < closesAt) {
            revert IBillingAgreement.BillingAgreement_DisputeWindowOpen(period, uint40(closesAt));
        }
        (uint96 billed, uint96 paid,) = _amounts(word);
        uint256 disputed = _disputed[period];
        // Cannot underflow: disputed ≤ billed (checked by `dispute`).
        uint96 lowest;
        unchecked {
            lowest = uint96(billed - disputed);
        }
        if (lowest < paid) lowest = paid;
        if (agreedAmount < lowest || agreedAmount > billed) {
            revert IBillingAgreement.BillingAgreement_DecisionOutOfRange(period, agreedAmount, lowest, billed);
        }
        _endDispute(c, period, word, agreedAmount, msg.sender);
    }

    /// @notice See IBillingAgreement.writeOff.
    /// @dev Allowed from Due, PartiallyPaid, Returned and Disputed. Consent is recorded for action
    ///      keccak256(abi.encode(keccak256("WriteOff(uint32 period,uint256 settlement)"), period, settlement)) with
    ///      the packed settlement word, so a consent lapses when the settlement changes.
    function writeOff(uint32 period) external {
        Core memory c = _loadCore();
        uint256 bit = _requireParty(_args());
        uint256 word = _settlementIn(period, DUE | PARTIALLY_PAID | RETURNED | DISPUTED);
        if (!_consent(keccak256(abi.encode(WRITE_OFF_ACTION, period, word)), bit)) return;
        (uint96 billed, uint96 paid,) = _amounts(word);
        _settlements[period] = _withStatus(word, PaymentStatus.WrittenOff);
        delete _disputed[period];
        // Cannot underflow: paid ≤ billed, and the running total holds this settlement's open amount.
        uint96 open;
        unchecked {
            open = billed - paid;
            c.outstanding -= open;
        }
        _storeCore(c);
        emit IBillingAgreement.SettlementWrittenOff(period, open);
    }

    /// @notice See IBillingAgreement.setServiceStatus.
    function setServiceStatus(ServiceStatus newStatus, bytes32 reasonHash) external {
        _requireGateway();
        Core memory c = _loadCore();
        _args(); // a clone only: the implementation's own core slot is not an agreement
        ServiceStatus previous = ServiceStatus(c.service);
        if (previous == newStatus) revert IBillingAgreement.BillingAgreement_ServiceStatusUnchanged(newStatus);
        c.service = uint8(newStatus);
        _storeCore(c);
        emit IBillingAgreement.ServiceStatusChanged(previous, newStatus, reasonHash);
    }

    // ------------------------------------------------------------------------------------------------------------
    // Internal
    // ------------------------------------------------------------------------------------------------------------

    /// @dev Sets the disputed settlement `word` of `period` to `agreedAmount` and leaves the dispute: Paid (paid =
    ///      agreed), PartiallyPaid (0 < paid < agreed) or Due (nothing paid); `arbiter` decided, or address(0) for
    ///      both parties' consent.
    function _endDispute(Core memory c, uint32 period, uint256 word, uint96 agreedAmount, address arbiter) private {
        (uint96 billed, uint96 paid,) = _amounts(word);
        PaymentStatus next =
            paid == agreedAmount ? PaymentStatus.Paid : paid == 0 ? PaymentStatus.Due : PaymentStatus.PartiallyPaid;
        _settlements[period] = _withStatus((word & ~uint256(type(uint96).max)) | agreedAmount, next);
        delete _disputed[period];
        // Cannot underflow: agreedAmount ≤ billed, and the running total holds this settlement's open amount,
        // which drops by billed − agreed.
        unchecked {
            c.outstanding -= billed - agreedAmount;
        }
        _storeCore(c);
        emit IBillingAgreement.DisputeResolved(period, billed, agreedAmount, next, arbiter);
    }

    /// @dev End of the dispute window of the settlement `word`: its settlement time plus the dispute window of the
    ///      terms it was computed with.
    function _disputeWindowEnd(uint256 word, bytes memory a) private view returns (uint256) {
        return uint256(uint40(word >> 192)) + TermsCodec.disputeWindowSeconds(_termsOf(uint16(word >> 240), a));
    }

    /// @dev Notice and consent never extend an end already scheduled.
    function _requireEarlierEnd(Core memory c, uint256 endPeriod) private pure {
        if (c.endPeriod != 0 && endPeriod >= c.endPeriod) {
            revert IBillingAgreement.BillingAgreement_EndNotEarlier(uint32(endPeriod), c.endPeriod);
        }
    }

    /// @dev Amendments keep token, currency, minor digits, interval kind and length and start, and only add meters.
    function _checkImmutables(uint256 t1, uint256 t, uint256 meterCount) private pure {
        string memory field;
        if (TermsCodec.token(t) != TermsCodec.token(t1)) {
            field = "token";
        } else if (TermsCodec.currency(t) != TermsCodec.currency(t1)) {
            field = "currency";
        } else if (TermsCodec.minorDigits(t) != TermsCodec.minorDigits(t1)) {
            field = "minorDigits";
        } else if (
            TermsCodec.intervalKind(t) != TermsCodec.intervalKind(t1)
                || TermsCodec.interval(t) != TermsCodec.interval(t1)
        ) {
            field = "interval";
        } else if (TermsCodec.start(t) != TermsCodec.start(t1)) {
            field = "start";
        } else if (TermsCodec.meterCount(t) < meterCount) {
            field = "meters";
        } else {
            return;
        }
        revert IBillingAgreement.BillingAgreement_ImmutableTermChanged(field);
    }

    /// @dev The factory's `encodeAmendmentTerms(token, terms)` with this call's `Terms` argument, so amendments are
    ///      validated exactly like new agreements, with this agreement's token passing the allow-list. The argument
    ///      is forwarded as it is (no re-encoding of the struct: offsets inside it are relative to its start): the
    ///      call data is the selector, the token, the offset 0x40 and the struct's encoding copied from where this
    ///      call's head word points. The factory's `Terms_*` and `AgreementFactory_*` errors are passed on unchanged.
    function _encodeTermsAtFactory(address token) private view returns (bytes memory packed) {
        uint256 structAt;
        assembly ("memory-safe") {
            structAt := add(4, calldataload(4))
        }
        (bool ok, bytes memory result) = _factory.staticcall(
            abi.encodePacked(
                IAgreementFactory.encodeAmendmentTerms.selector,
                uint256(uint160(token)),
                uint256(0x40),
                msg.data[structAt:]
            )
        );
        if (!ok) {
            assembly ("memory-safe") {
                revert(add(result, 0x20), mload(result))
            }
        }
        (packed,) = abi.decode(result, (bytes, bytes32));
    }

    /// @dev Records `bit`'s consent to `action`; true (and the record cleared) once both parties consented.
    function _consent(bytes32 action, uint256 bit) private returns (bool complete) {
        uint256 given = _consents[action];
        if (given & bit != 0) revert IBillingAgreement.BillingAgreement_AlreadyConsented(msg.sender, action);
        given |= bit;
        complete = given == BOTH;
        _consents[action] = complete ? 0 : given;
        emit IBillingAgreement.ConsentGiven(msg.sender, action);
    }

    /// @dev Deploys a data contract whose code is 0x00 ‖ `packed` (SSTORE2): the leading STOP byte makes calls to
    ///      it do nothing. Init code: PUSH2 size, DUP1, PUSH1 0x0a, RETURNDATASIZE, CODECOPY, RETURNDATASIZE,
    ///      RETURN — copies the code after its 10-byte header and returns it.
    function _writeData(bytes memory packed) private returns (address data) {
        bytes memory init = abi.encodePacked(hex"61", uint16(packed.length + 1), hex"80600a3d393df3", hex"00", packed);
        assembly ("memory-safe") {
            data := create(0, add(init, 0x20), mload(init))
        }
        if (data == address(0)) revert Errors.FailedDeployment();
    }
}
// forge-lint: disable-end(block-timestamp, unsafe-typecast)
