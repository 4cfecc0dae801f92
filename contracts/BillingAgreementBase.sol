// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {Clones} from "@openzeppelin/contracts/proxy/Clones.sol";

import {IBillingAgreement} from "./interfaces/IBillingAgreement.sol";
import {TermsCodec} from "./libraries/TermsCodec.sol";
import {AgreementState, PaymentStatus} from "./types/BillingTypes.sol";

// Lint exceptions in this file, each deliberate (forge lint):
// - block-timestamp: periods, grace windows, due dates, notice and dispute windows are defined in block time; a
//   block proposer can only move a boundary crossing by the few seconds block timestamps may drift.
// - incorrect-shift: `1 << status` builds status bit masks on purpose.
// - unsafe-typecast: packed words (core slot, settlements, clone arguments) are unpacked with narrowing casts, and
//   values proven to fit are narrowed (periods < 2^32 for times < 2^40, amounts checked against 96 bits).
// forge-lint: disable-start(block-timestamp, incorrect-shift, unsafe-typecast)
/// @title BillingAgreementBase
/// @notice Storage layout and internal helpers shared by `BillingAgreement` and `BillingAgreementExtension`.
/// @dev Both contracts run in the storage of an agreement clone (the extension through DELEGATECALL from the
///      implementation), so both must have exactly this storage layout: neither declares state variables of its
///      own (the EIP712 base of `BillingAgreement` has none either). It does not inherit IBillingAgreement (the
///      extension implements only part of it) and names the interface's errors and events qualified.
///
///      Storage (each item one slot unless said otherwise):
///      - `_core`: everything most calls need, packed so a call reads one slot and writes it at most once:
///        state, service status, version in force, pending/acceptance flags, reentrancy lock, whether the end
///        was set by notice or consent, whether the agreement is paid in a token, meter count and effective-from
///        period of the latest version, next period to settle, end period, usage epoch and the running total of
///        what is open (`outstanding`). `initialize` writes it non-zero, so every later write costs 5,000 gas, not
///        22,100.
///      - `_versions[0]`: the highest version number ever proposed (0 until the first amendment: version 1 is the
///        first proposal). Numbers are never reused, so a rejected or replaced proposal keeps its own.
///      - `_versions[v]` (v ≥ 2): data contract address (bits 0-159), effective-from period (160-191, 0 unless in
///        force) and meter count (192-199) of proposal v, and once accepted, the version in force before it
///        (200-215) and how many versions are in force with it (216-223). Version 1 needs no record: its terms
///        are the clone arguments.
///      - `_usage[period << 1 | meter / 4]`: cumulative usage, four 64-bit lanes (lane meter % 4 at bit
///        64 × (meter % 4)) per slot, so a report on up to four meters touches one slot.
///      - `_settlements[period]`: amount (bits 0-95) ‖ paid (96-191) ‖ settledAt (192-231) ‖ status (232-239) ‖
///        termsVersion (240-255).
///      - `_consents[action]`: which parties (bit 0 payer, bit 1 payee) consented to a two-party action.
///      - `_disputed[period]`: the amount the payer disputes while the settlement is Disputed (0 otherwise).
///      - `_roleMirror[account]`: used only in the implementation's own storage (never in a clone): the factory's
///        roles of `account`, operator (bit 0), gateway (bit 1) and oracle activation time (bits 8-47, 0 = none);
///        see `IBillingAgreement.mirroredRoles`.
abstract contract BillingAgreementBase {
    /// @dev Most terms versions one agreement can have in force (bounds the version lookup of a period).
    uint16 internal constant MAX_VERSIONS = 32;

    uint256 internal constant PAYER_BIT = 1;
    uint256 internal constant PAYEE_BIT = 2;
    uint256 internal constant BOTH = 3;

    uint256 internal constant SECONDS_PER_DAY = 86_400;
    /// @dev Clone arguments start with payer (20) and payee (20); the packed terms of version 1 follow.
    uint256 internal constant PARTIES_LENGTH = 40;

    // `_core` layout (bit offsets and flags).
    uint256 internal constant CORE_STATE = 0; // uint8
    uint256 internal constant CORE_SERVICE = 8; // uint8
    uint256 internal constant CORE_VERSION = 16; // uint16
    uint256 internal constant CORE_INITIALIZED = 1 << 32; // always set once initialized
    uint256 internal constant CORE_PENDING = 1 << 33; // version + 1 awaits acceptance
    uint256 internal constant CORE_ACCEPTED = 34; // 2 bits: payer (1), payee (2) accepted the pending version
    uint256 internal constant CORE_LOCKED = 1 << 36; // a token call is in progress
    uint256 internal constant CORE_END_FIXED = 1 << 37; // the end was set by notice or consent
    uint256 internal constant CORE_TOKEN = 1 << 38; // paid in a token (never changes), set by `initialize`
    uint256 internal constant CORE_METERS = 40; // uint8
    uint256 internal constant CORE_EFFECTIVE = 48; // uint32
    uint256 internal constant CORE_NEXT = 80; // uint32
    uint256 internal constant CORE_END = 112; // uint32
    uint256 internal constant CORE_EPOCH = 144; // uint16: usage corrections so far
    uint256 internal constant CORE_OUTSTANDING = 160; // uint96: sum of what is open on all settlements
    uint256 internal constant OUTSTANDING_MAX = (1 << 96) - 1;

    /// @dev The role mirror word of an account (`_roleMirror`): OPERATOR_ROLE, GATEWAY_ROLE, and the ORACLE_ROLE
    ///      activation time (40 bits from bit ROLE_ORACLE_FROM, 0 without the role).
    uint256 internal constant ROLE_OPERATOR = 1;
    uint256 internal constant ROLE_GATEWAY = 2;
    uint256 internal constant ROLE_ORACLE_FROM = 8;

    /// @dev Payment statuses as bit masks (1 << status) for `_settlementIn`.
    uint256 internal constant DUE = 1 << uint256(PaymentStatus.Due);
    uint256 internal constant PARTIALLY_PAID = 1 << uint256(PaymentStatus.PartiallyPaid);
    uint256 internal constant PAID = 1 << uint256(PaymentStatus.Paid);
    uint256 internal constant RETURNED = 1 << uint256(PaymentStatus.Returned);
    uint256 internal constant DISPUTED = 1 << uint256(PaymentStatus.Disputed);
    /// @dev Every status of a settlement that is not written off.
    uint256 internal constant NOT_WRITTEN_OFF = DUE | PARTIALLY_PAID | PAID | RETURNED | DISPUTED;

    /// @dev `_core` unpacked. `endPeriod` 0 means no end is scheduled. `outstanding` is the sum of amount − paid
    ///      over the settlements not written off.
    struct Core {
        uint8 state;
        uint8 service;
        uint16 version;
        bool pending;
        uint8 accepted;
        bool locked;
        bool endFixed;
        bool token;
        uint8 meterCount;
        uint32 latestEffectiveFrom;
        uint32 next;
        uint32 endPeriod;
        uint16 epoch;
        uint96 outstanding;
    }

    /// @dev The factory that deployed the implementation (and every clone): it holds the roles.
    address internal immutable _factory;
    /// @dev The `BillingAgreement` implementation, to tell it apart from its clones (this code runs in a clone only
    ///      when `address(this)` is neither the implementation nor, for the extension, the extension itself; the
    ///      extension's own state is never initialized, which stops direct calls to it), and the holder of the role
    ///      mirror that role checks read (`_roles`).
    address internal immutable _implementation;

    uint256 internal _core;
    mapping(uint256 version => uint256) internal _versions;
    mapping(uint256 key => uint256) internal _usage;
    mapping(uint256 period => uint256) internal _settlements;
    mapping(bytes32 action => uint256) internal _consents;
    mapping(address account => uint256) internal _roleMirror;
    mapping(uint256 period => uint256) internal _disputed;

    /// @param factory_ The factory: it holds the roles and is the only caller of `initialize`.
    /// @param implementation_ The `BillingAgreement` implementation.
    constructor(address factory_, address implementation_) {
        _factory = factory_;
        _implementation = implementation_;
    }

    // ------------------------------------------------------------------------------------------------------------
    // Core slot
    // ------------------------------------------------------------------------------------------------------------

    /// @dev `_core` for a state-changing call: reverts on an uninitialized clone and during a token call.
    function _loadCore() internal view returns (Core memory c) {
        c = _readCore();
        if (c.locked) revert IBillingAgreement.BillingAgreement_Reentrancy();
    }

    function _readCore() internal view returns (Core memory c) {
        uint256 w = _core;
        if (w == 0) revert IBillingAgreement.BillingAgreement_NotInitialized();
        c.state = uint8(w >> CORE_STATE);
        c.service = uint8(w >> CORE_SERVICE);
        c.version = uint16(w >> CORE_VERSION);
        c.pending = w & CORE_PENDING != 0;
        c.accepted = uint8((w >> CORE_ACCEPTED) & BOTH);
        c.locked = w & CORE_LOCKED != 0;
        c.endFixed = w & CORE_END_FIXED != 0;
        c.token = w & CORE_TOKEN != 0;
        c.meterCount = uint8(w >> CORE_METERS);
        c.latestEffectiveFrom = uint32(w >> CORE_EFFECTIVE);
        c.next = uint32(w >> CORE_NEXT);
        c.endPeriod = uint32(w >> CORE_END);
        c.epoch = uint16(w >> CORE_EPOCH);
        c.outstanding = uint96(w >> CORE_OUTSTANDING);
    }

    function _storeCore(Core memory c) internal {
        uint256 w = CORE_INITIALIZED | (uint256(c.state) << CORE_STATE) | (uint256(c.service) << CORE_SERVICE)
            | (uint256(c.version) << CORE_VERSION) | (uint256(c.accepted) << CORE_ACCEPTED)
            | (uint256(c.meterCount) << CORE_METERS) | (uint256(c.latestEffectiveFrom) << CORE_EFFECTIVE)
            | (uint256(c.next) << CORE_NEXT) | (uint256(c.endPeriod) << CORE_END) | (uint256(c.epoch) << CORE_EPOCH)
            | (uint256(c.outstanding) << CORE_OUTSTANDING);
        if (c.pending) w |= CORE_PENDING;
        if (c.locked) w |= CORE_LOCKED;
        if (c.endFixed) w |= CORE_END_FIXED;
        if (c.token) w |= CORE_TOKEN;
        _core = w;
    }

    /// @dev `c.outstanding` + `amount`, reverting (naming `period`) if the running total would not fit.
    function _addOutstanding(Core memory c, uint32 period, uint256 amount) internal pure {
        uint256 total = uint256(c.outstanding) + amount;
        if (total > OUTSTANDING_MAX) revert IBillingAgreement.BillingAgreement_OutstandingOverflow(period, total);
        c.outstanding = uint96(total);
    }

    /// @dev The proposal awaiting acceptance (`c.pending` must be true): version 1 while Proposed, else the highest
    ///      version number proposed.
    function _pendingVersion(Core memory c) internal view returns (uint16) {
        return c.version == 0 ? 1 : uint16(_versions[0]);
    }

    // ------------------------------------------------------------------------------------------------------------
    // Clone arguments, terms and versions
    // ------------------------------------------------------------------------------------------------------------

    /// @dev The clone arguments `payer ‖ payee ‖ packedTerms(v1)`.
    function _args() internal view returns (bytes memory) {
        if (address(this) == _implementation) revert IBillingAgreement.BillingAgreement_NotAClone();
        return Clones.fetchCloneArgs(address(this));
    }

    /// @dev Memory address of the packed terms of version 1 (start, interval and token never change, so these
    ///      are also the calendar and token of every version).
    function _v1(bytes memory a) internal pure returns (uint256) {
        return TermsCodec.pointer(a, PARTIES_LENGTH);
    }

    /// @dev The agreement's token (address(0) for fiat), reading only that field of the clone arguments.
    function _token() internal view returns (address token) {
        if (address(this) == _implementation) revert IBillingAgreement.BillingAgreement_NotAClone();
        assembly ("memory-safe") {
            // Proxy code (0x2d) + parties (40): the first 20 bytes of the packed terms, into scratch space.
            extcodecopy(address(), 0, add(0x2d, PARTIES_LENGTH), 20)
            token := shr(96, mload(0))
        }
    }

    function _payer(bytes memory a) internal pure returns (address p) {
        assembly ("memory-safe") {
            p := shr(96, mload(add(a, 0x20))) // bytes [0, 20) of the arguments
        }
    }

    function _payee(bytes memory a) internal pure returns (address p) {
        assembly ("memory-safe") {
            p := shr(96, mload(add(a, 0x34))) // bytes [20, 40) of the arguments
        }
    }

    /// @dev Memory address of the packed terms of `version` (version 1 inside `a`, later ones loaded from their
    ///      data contract) and their length.
    function _termsAt(uint16 version, bytes memory a) internal view returns (uint256 t, uint256 len) {
        if (version == 1) return (_v1(a), a.length - PARTIES_LENGTH);
        bytes memory packed = _readData(address(uint160(_versions[version])));
        return (TermsCodec.pointer(packed, 0), packed.length);
    }

    function _termsOf(uint16 version, bytes memory a) internal view returns (uint256 t) {
        (t,) = _termsAt(version, a);
    }

    /// @dev The packed terms stored in data contract `data` (its code without the leading STOP byte).
    function _readData(address data) internal view returns (bytes memory packed) {
        uint256 size = data.code.length;
        packed = new bytes(size - 1);
        assembly ("memory-safe") {
            extcodecopy(data, add(packed, 0x20), 1, sub(size, 1))
        }
    }

    /// @dev The version pricing `period`: the newest version in force whose effective-from period is ≤ `period` (a
    ///      later version effective from the same period supersedes an earlier one). Walks back through the versions
    ///      in force only (each record names the one before it), so rejected proposals cost nothing: at most
    ///      MAX_VERSIONS - 1 reads.
    function _versionFor(Core memory c, uint256 period) internal view returns (uint16) {
        uint16 v = c.version;
        if (v <= 1) return 1;
        if (period >= c.latestEffectiveFrom) return v;
        uint256 record = _versions[v];
        while (true) {
            v = uint16(record >> 200); // the version in force before v
            if (v <= 1) return 1;
            record = _versions[v];
            if (uint32(record >> 160) <= period) return v;
        }
        return 1; // unreachable
    }

    function _meterCountFor(Core memory c, uint16 version, bytes memory a) internal view returns (uint256) {
        if (version == c.version || (c.version == 0 && version == 1)) return c.meterCount;
        if (version == 1) return TermsCodec.meterCount(_v1(a));
        return uint8(_versions[version] >> 192);
    }

    /// @dev Lifecycle state, Terminated once a scheduled end has passed.
    function _effectiveState(Core memory c, bytes memory a) internal view returns (AgreementState) {
        AgreementState s = AgreementState(c.state);
        if (
            (s == AgreementState.Active || s == AgreementState.Paused) && c.endPeriod != 0
                && block.timestamp >= TermsCodec.periodStart(_v1(a), c.endPeriod)
        ) return AgreementState.Terminated;
        return s;
    }

    /// @dev Active or Paused and not past its end.
    function _requireRunning(Core memory c, bytes memory a) internal view {
        AgreementState s = _effectiveState(c, a);
        if (s != AgreementState.Active && s != AgreementState.Paused) {
            revert IBillingAgreement.BillingAgreement_InvalidState(s);
        }
    }

    /// @dev Checks that usage for `period` may change (begun, before the end, not settled); returns the meter count
    ///      of the terms pricing it.
    function _checkUsagePeriod(Core memory c, bytes memory a, uint32 period) internal view returns (uint256) {
        if (c.endPeriod != 0 && period >= c.endPeriod) {
            revert IBillingAgreement.BillingAgreement_PeriodAfterEnd(period, c.endPeriod);
        }
        if (period < c.next) revert IBillingAgreement.BillingAgreement_PeriodSettled(period);
        uint256 startsAt = TermsCodec.periodStart(_v1(a), period);
        if (startsAt > block.timestamp) {
            revert IBillingAgreement.BillingAgreement_PeriodNotStarted(period, _u40(startsAt));
        }
        return period >= c.latestEffectiveFrom ? c.meterCount : _meterCountFor(c, _versionFor(c, period), a);
    }

    // ------------------------------------------------------------------------------------------------------------
    // Roles
    // ------------------------------------------------------------------------------------------------------------

    /// @dev 1 for the payer, 2 for the payee, 0 for anyone else.
    function _partyBit(bytes memory a, address account) internal pure returns (uint256) {
        if (account == _payer(a)) return PAYER_BIT;
        if (account == _payee(a)) return PAYEE_BIT;
        return 0;
    }

    function _requireParty(bytes memory a) internal view returns (uint256 bit) {
        bit = _partyBit(a, msg.sender);
        if (bit == 0) revert IBillingAgreement.BillingAgreement_NotParty(msg.sender);
    }

    /// @dev The caller's party bit (0 for an operator).
    function _requirePartyOrOperator(bytes memory a) internal view returns (uint256 bit) {
        bit = _partyBit(a, msg.sender);
        if (bit == 0 && _roles(msg.sender) & ROLE_OPERATOR == 0) {
            revert IBillingAgreement.BillingAgreement_NotPartyOrOperator(msg.sender);
        }
    }

    function _requirePayeeOrOperator(bytes memory a) internal view {
        if (msg.sender != _payee(a) && _roles(msg.sender) & ROLE_OPERATOR == 0) {
            revert IBillingAgreement.BillingAgreement_NotPayeeOrOperator(msg.sender);
        }
    }

    function _requireGateway() internal view {
        if (_roles(msg.sender) & ROLE_GATEWAY == 0) revert IBillingAgreement.BillingAgreement_NotGateway(msg.sender);
    }

    /// @dev Reverts unless `account` is an active oracle signer (its mirrored activation time is set and reached).
    function _requireOracle(address account) internal view {
        if (!_isActiveOracle(_roles(account))) revert IBillingAgreement.BillingAgreement_NotOracle(account);
    }

    /// @dev Whether role word `roles` names an active oracle: activation time set (so `from - 1` does not wrap)
    ///      and reached.
    function _isActiveOracle(uint256 roles) internal view returns (bool) {
        // The one wrap is intended: activation time 0 (no role) becomes 2^40 - 1 in uint40, later than any block
        // time, so "no role" is rejected by the same comparison.
        unchecked {
            return uint40(roles >> ROLE_ORACLE_FROM) - 1 < block.timestamp;
        }
    }

    /// @dev `account`'s role word from the implementation's mirror (0 if the call fails): a STATICCALL to the
    ///      implementation, whose address this call's DELEGATECALL has already warmed (100 gas instead of the
    ///      2,600 of a cold call to the factory), plus one storage read there. It uses the mirror's raw read
    ///      (`BillingAgreement`'s fallback: call data `abi.encode(account)`, 32 bytes, answer the word), which
    ///      skips the ABI decoding and encoding of `mirroredRoles`; role checks run on every usage report and
    ///      payment. Made in assembly in scratch space.
    function _roles(address account) internal view returns (uint256 roles) {
        address impl = _implementation;
        assembly ("memory-safe") {
            mstore(0x00, account)
            let ok := staticcall(gas(), impl, 0x00, 0x20, 0x00, 0x20)
            roles := mul(and(ok, gt(returndatasize(), 0x1f)), mload(0x00))
        }
    }

    // ------------------------------------------------------------------------------------------------------------
    // Settlements
    // ------------------------------------------------------------------------------------------------------------

    /// @dev The settlement word of `period`; reverts unless it is settled and its status is in `allowed`.
    function _settlementIn(uint32 period, uint256 allowed) internal view returns (uint256 word) {
        word = _settlements[period];
        PaymentStatus s = _status(word);
        if (s == PaymentStatus.None) revert IBillingAgreement.BillingAgreement_NotSettled(period);
        if ((1 << uint256(s)) & allowed == 0) {
            revert IBillingAgreement.BillingAgreement_InvalidPaymentStatus(period, s);
        }
    }

    function _status(uint256 word) internal pure returns (PaymentStatus) {
        return PaymentStatus(uint8(word >> 232));
    }

    function _amounts(uint256 word) internal pure returns (uint96 billed, uint96 paid, PaymentStatus s) {
        return (uint96(word), uint96(word >> 96), PaymentStatus(uint8(word >> 232)));
    }

    function _withPayment(uint256 word, uint96 paid, PaymentStatus s) internal pure returns (uint256) {
        return _withStatus((word & ~(uint256(type(uint96).max) << 96)) | (uint256(paid) << 96), s);
    }

    function _withStatus(uint256 word, PaymentStatus s) internal pure returns (uint256) {
        return (word & ~(uint256(0xff) << 232)) | (uint256(s) << 232);
    }

    /// @dev `x` as uint40, saturating (times beyond the year 36812 only arise for absurd period numbers).
    function _u40(uint256 x) internal pure returns (uint40) {
        return x > type(uint40).max ? type(uint40).max : uint40(x);
    }
}
// forge-lint: disable-end(block-timestamp, incorrect-shift, unsafe-typecast)
