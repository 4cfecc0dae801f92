// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {IntervalKind, Meter, PriceModel, Terms, Tier, VatCategory} from "../types/BillingTypes.sol";
import {ITermsErrors} from "../interfaces/ITermsErrors.sol";
import {CalendarMath} from "./CalendarMath.sol";

// Lint exceptions in this file, each deliberate (forge lint):
// - unsafe-typecast: packed words (core slot, settlements, clone arguments) are unpacked with narrowing casts, and
//   values proven to fit are narrowed (periods < 2^32 for times < 2^40, amounts checked against 96 bits).
// forge-lint: disable-start(unsafe-typecast)
/// @title TermsCodec
/// @notice Validates `Terms`, packs them into the byte layout of docs/terms-encoding.md, reads single fields back
///         from packed bytes in memory and decodes them into a `Terms` struct.
/// @dev Packed terms are addressed by `t`, the memory address of their first byte (for clone arguments that is
///      40 bytes into the arguments, after payer and payee). Packed terms only ever come from `encode` (clone
///      arguments written by the factory, amendment data contracts written by the agreement), so the header is
///      always complete (83 bytes) and every meter record has the length its model and tier count say. Readers
///      therefore never check lengths: a field [off, off + width) always lies inside the packed bytes. Each read
///      is one `mload` of the 32 bytes from the field's first byte, shifted right to keep only the field; the
///      bytes read beyond the field (at most 31, possibly past the end of the bytes) are shifted out, and reading
///      memory is always allowed (it can only expand memory by a word, which costs a few gas).
library TermsCodec {
    uint256 internal constant MAX_METERS = 8;
    uint256 internal constant MAX_TIERS = 8;
    uint256 internal constant MIN_FIXED_INTERVAL = 3600;
    uint256 internal constant MAX_DIGITS = 18;

    /// @dev Byte offsets of the header fields (docs/terms-encoding.md, "Layout").
    uint256 internal constant OFF_TOKEN = 0; // 20
    uint256 internal constant OFF_CURRENCY = 20; // 3
    uint256 internal constant OFF_MINOR_DIGITS = 23; // 1
    uint256 internal constant OFF_PRICE_DECIMALS = 24; // 1
    uint256 internal constant OFF_INTERVAL_KIND = 25; // 1
    uint256 internal constant OFF_INTERVAL = 26; // 4
    uint256 internal constant OFF_START = 30; // 5
    uint256 internal constant OFF_END = 35; // 5
    uint256 internal constant OFF_NOTICE = 40; // 4
    uint256 internal constant OFF_PAYMENT_TERMS_DAYS = 44; // 2
    uint256 internal constant OFF_GRACE = 46; // 4
    uint256 internal constant OFF_DISPUTE_WINDOW = 50; // 4
    uint256 internal constant OFF_MINIMUM = 54; // 12
    uint256 internal constant OFF_CAP = 66; // 12
    uint256 internal constant OFF_ARBITER_KIND = 78; // 1: 0 operator, 1 named (20-byte arbiter after the meters)
    uint256 internal constant OFF_METER_COUNT = 79; // 1
    uint256 internal constant OFF_VAT_CATEGORY = 80; // 1: VatCategory
    uint256 internal constant OFF_VAT_RATE = 81; // 2: hundredths of a percent
    uint256 internal constant HEADER_LENGTH = 83;
    /// @dev Highest VAT rate (100.00 %) in hundredths of a percent, and the divisor of the VAT computation.
    uint256 internal constant VAT_RATE_SCALE = 10_000;
    /// @dev Length of the arbiter address that follows the meter records when `arbiterKind` is 1.
    uint256 internal constant ARBITER_LENGTH = 20;

    /// @dev Meter record: model (1) ‖ included (8), then `price (12)` (Flat, PerUnit), `packageSize (8) ‖
    ///      price (12)` (Package) or `tierCount (1)` and per tier `upTo (8) ‖ unitPrice (12) ‖ flatFee (12)`.
    uint256 internal constant METER_PREFIX_LENGTH = 9;
    uint256 internal constant TIER_LENGTH = 32;

    // ------------------------------------------------------------------------------------------------------------
    // Validation and packing
    // ------------------------------------------------------------------------------------------------------------

    /// @notice Validates `t` (reverting with the first `Terms_*` error in the order of docs/terms-encoding.md) and
    ///         returns its packed form.
    /// @dev Reads the ABI encoding of `t` directly (one CALLDATACOPY for the 18 head words, CALLDATALOAD for the
    ///      meters and tiers) instead of through Solidity's calldata accessors, which cost several times more gas.
    ///      That skips the checks Solidity's decoder makes on access, so they are made here: every value must fit
    ///      its type and every meter and tier must lie inside the call data (`Terms_MalformedEncoding`; standard
    ///      ABI encoders never produce that). Solidity checks at entry that the 18 head words are in the call data.
    function encode(Terms calldata t) internal pure returns (bytes memory packed) {
        uint256[18] memory h;
        uint256 base;
        assembly ("memory-safe") {
            base := t
            calldatacopy(h, t, 576)
        }
        _validateHeader(h);
        uint256 meters = base + h[17]; // calldata offset of the meters array (length word)
        uint256 n;
        assembly ("memory-safe") {
            n := calldataload(meters)
        }
        if (meters + 32 > msg.data.length) revert ITermsErrors.Terms_MalformedEncoding();
        if (n == 0) revert ITermsErrors.Terms_NoMeters();
        if (n > MAX_METERS) revert ITermsErrors.Terms_TooManyMeters(n, MAX_METERS);

        // The packed bytes are written at the free memory pointer and allocated once their length is known.
        // Nothing else allocates memory meanwhile (the meter encoding uses the stack only; a revert's error data
        // may reuse the area, which no longer matters then). Fields are written in ascending order with MSTORE of
        // the value shifted to the top of the word: the zeros after each field are overwritten by the next field,
        // and the zeros after the last field lie in free memory.
        uint256 p;
        assembly ("memory-safe") {
            packed := mload(0x40)
            p := add(packed, 0x20)
            mstore(p, shl(96, mload(h))) // token (20)
            mstore(add(p, 20), mload(add(h, 0x20))) // currency (3): bytes3, already left-aligned
            mstore(add(p, 23), shl(248, mload(add(h, 0x40)))) // minorDigits (1)
            mstore(add(p, 24), shl(248, mload(add(h, 0x60)))) // priceDecimals (1)
            mstore(add(p, 25), shl(248, mload(add(h, 0x80)))) // intervalKind (1)
            mstore(add(p, 26), shl(224, mload(add(h, 0xa0)))) // interval (4)
            mstore(add(p, 30), shl(216, mload(add(h, 0xc0)))) // start (5)
            mstore(add(p, 35), shl(216, mload(add(h, 0xe0)))) // end (5)
            mstore(add(p, 40), shl(224, mload(add(h, 0x100)))) // noticeSeconds (4)
            mstore(add(p, 44), shl(240, mload(add(h, 0x120)))) // paymentTermsDays (2)
            mstore(add(p, 46), shl(224, mload(add(h, 0x140)))) // graceSeconds (4)
            mstore(add(p, 50), shl(224, mload(add(h, 0x160)))) // disputeWindowSeconds (4)
            mstore(add(p, 54), shl(160, mload(add(h, 0x180)))) // minimumCommitment (12)
            mstore(add(p, 66), shl(160, mload(add(h, 0x1a0)))) // cap (12)
            mstore(add(p, 78), shl(248, iszero(iszero(mload(add(h, 0x200)))))) // arbiterKind (1)
            mstore(add(p, 79), shl(248, n)) // meterCount (1)
            mstore(add(p, 80), or(shl(248, mload(add(h, 0x1c0))), shl(232, mload(add(h, 0x1e0))))) // vatCategory (1) ‖ vatRate (2)
            p := add(p, HEADER_LENGTH)
        }
        for (uint256 i; i < n; ++i) {
            uint256 m;
            assembly ("memory-safe") {
                // The meter's ABI encoding: offsets in the array are relative to its first element. Checked to lie
                // inside the call data in `_encodeMeter`.
                let elements := add(meters, 0x20)
                m := add(elements, calldataload(add(elements, shl(5, i))))
            }
            p = _encodeMeter(p, m, i);
        }
        assembly ("memory-safe") {
            // A named arbiter (20) follows the meter records.
            let arbiter_ := mload(add(h, 0x200))
            if arbiter_ {
                mstore(p, shl(96, arbiter_))
                p := add(p, ARBITER_LENGTH)
            }
            mstore(packed, sub(p, add(packed, 0x20)))
            mstore(0x40, and(add(p, 31), not(31)))
        }
    }

    /// @dev The 18 head words of `Terms`: token, currency, minorDigits, priceDecimals, intervalKind, interval,
    ///      start, end, noticeSeconds, paymentTermsDays, graceSeconds, disputeWindowSeconds, minimumCommitment,
    ///      cap, vatCategory, vatRate, arbiter, offset of meters.
    function _validateHeader(uint256[18] memory h) private pure {
        // ABI value ranges first (what Solidity's decoder would reject).
        uint256 overflow = (h[0] >> 160) | (h[1] << 24) | (h[2] >> 8) | (h[3] >> 8) | (h[4] >> 1) | (h[5] >> 32)
            | (h[6] >> 40) | (h[7] >> 40) | (h[8] >> 32) | (h[9] >> 16) | (h[10] >> 32);
        overflow |= (h[11] >> 32) | (h[12] >> 96) | (h[13] >> 96) | (h[15] >> 16) | (h[16] >> 160);
        if (overflow != 0 || h[14] > uint256(VatCategory.OutsideScope)) revert ITermsErrors.Terms_MalformedEncoding();

        uint256 c = h[1] >> 232;
        for (uint256 shift; shift < 24; shift += 8) {
            uint256 letter = (c >> shift) & 0xff;
            if (letter < 0x41 || letter > 0x5a) revert ITermsErrors.Terms_InvalidCurrency(bytes3(uint24(c)));
        }
        if (h[2] > MAX_DIGITS || h[3] > MAX_DIGITS) {
            revert ITermsErrors.Terms_InvalidDigits(uint8(h[2]), uint8(h[3]));
        }
        uint256 kind = h[4];
        uint256 length = h[5];
        if (kind == uint256(IntervalKind.CalendarMonth) ? (length == 0 || length > 12) : length < MIN_FIXED_INTERVAL) {
            revert ITermsErrors.Terms_InvalidInterval(uint8(kind), uint32(length));
        }
        uint256 startsAt = h[6];
        if (startsAt == 0) revert ITermsErrors.Terms_ZeroStart();
        uint256 endsAt = h[7];
        if (endsAt != 0) {
            if (
                endsAt <= startsAt
                    || CalendarMath.periodStart(
                            startsAt, kind, length, CalendarMath.periodAt(startsAt, kind, length, endsAt)
                        ) != endsAt
            ) revert ITermsErrors.Terms_EndNotOnBoundary(uint40(endsAt));
        }
        if (h[13] != 0 && h[13] < h[12]) revert ITermsErrors.Terms_CapBelowMinimum(uint96(h[13]), uint96(h[12]));
        uint256 rate = h[15];
        if (h[14] == uint256(VatCategory.Standard) ? (rate == 0 || rate > VAT_RATE_SCALE) : rate != 0) {
            revert ITermsErrors.Terms_InvalidVatRate(VatCategory(h[14]), uint16(rate));
        }
    }

    /// @dev Validates meter `i` (its ABI encoding at calldata offset `m`; fields in declaration order) and writes
    ///      its record at `p` (see `encode` for how). Uses no memory besides the record.
    function _encodeMeter(uint256 p, uint256 m, uint256 i) private pure returns (uint256) {
        uint256 model;
        uint256 included;
        uint256 price;
        uint256 packageSize;
        uint256 tiers;
        uint256 tierCount;
        bool malformed;
        assembly ("memory-safe") {
            model := calldataload(m)
            included := calldataload(add(m, 0x20))
            price := calldataload(add(m, 0x40))
            packageSize := calldataload(add(m, 0x60))
            tiers := add(m, calldataload(add(m, 0x80))) // the tiers array (length word)
            tierCount := calldataload(tiers)
            // Values fit their types; the meter's five head words and the tiers' length word are in the call data.
            malformed := or(
                or(gt(model, 4), or(shr(64, included), or(shr(96, price), shr(64, packageSize)))),
                or(gt(add(m, 0xa0), calldatasize()), gt(add(tiers, 0x20), calldatasize()))
            )
        }
        if (malformed) revert ITermsErrors.Terms_MalformedEncoding();

        bool tiered = model == uint256(PriceModel.Graduated) || model == uint256(PriceModel.Volume);
        if (model == uint256(PriceModel.Flat) && included != 0) {
            revert ITermsErrors.Terms_UnusedFieldSet(i, "included");
        }
        if (tiered && price != 0) revert ITermsErrors.Terms_UnusedFieldSet(i, "price");
        if (model == uint256(PriceModel.Package)) {
            if (packageSize == 0) revert ITermsErrors.Terms_ZeroPackageSize(i);
        } else if (packageSize != 0) {
            revert ITermsErrors.Terms_UnusedFieldSet(i, "packageSize");
        }
        if (!tiered && tierCount != 0) revert ITermsErrors.Terms_UnusedFieldSet(i, "tiers");
        if (tiered) {
            if (tierCount == 0) revert ITermsErrors.Terms_NoTiers(i);
            if (tierCount > MAX_TIERS) revert ITermsErrors.Terms_TooManyTiers(i, tierCount, MAX_TIERS);
        }

        assembly ("memory-safe") {
            mstore(p, or(shl(248, model), shl(184, included))) // model (1) ‖ included (8)
            p := add(p, METER_PREFIX_LENGTH)
        }
        if (tiered) return _encodeTiers(p, tiers, tierCount, i);
        assembly ("memory-safe") {
            if eq(model, 4) {
                mstore(p, shl(192, packageSize)) // Package: packageSize (8)
                p := add(p, 8)
            }
            mstore(p, shl(160, price)) // price (12)
            p := add(p, 12)
        }
        return p;
    }

    /// @dev Validates and writes the `count` (1..8) tiers of meter `i` whose array (length word) is at calldata
    ///      offset `tiers`: tierCount (1), then per tier upTo (8) ‖ unitPrice (12) ‖ flatFee (12), one 32-byte word.
    function _encodeTiers(uint256 p, uint256 tiers, uint256 count, uint256 i) private pure returns (uint256) {
        // Cannot overflow: count ≤ 8 and `tiers` is below the call data size.
        unchecked {
            if (tiers + 32 + count * 96 > msg.data.length) revert ITermsErrors.Terms_MalformedEncoding();
        }
        assembly ("memory-safe") {
            mstore(p, shl(248, count))
            p := add(p, 1)
        }
        uint256 previous;
        for (uint256 j; j < count; ++j) {
            uint256 upTo;
            uint256 record;
            bool malformed;
            assembly ("memory-safe") {
                let tier := add(add(tiers, 0x20), mul(j, 0x60))
                upTo := calldataload(tier)
                let unitPrice := calldataload(add(tier, 0x20))
                let flatFee := calldataload(add(tier, 0x40))
                malformed := or(shr(64, upTo), or(shr(96, unitPrice), shr(96, flatFee)))
                record := or(or(shl(192, upTo), shl(96, unitPrice)), flatFee)
            }
            if (malformed) revert ITermsErrors.Terms_MalformedEncoding();
            if (j != 0 && upTo <= previous) {
                revert ITermsErrors.Terms_TiersNotAscending(i, j, uint64(upTo), uint64(previous));
            }
            previous = upTo;
            assembly ("memory-safe") {
                mstore(p, record)
                p := add(p, TIER_LENGTH)
            }
        }
        if (previous != type(uint64).max) revert ITermsErrors.Terms_LastTierBounded(i, uint64(previous));
        return p;
    }

    // ------------------------------------------------------------------------------------------------------------
    // Field readers (packed terms at memory address `t`; see the contract NatSpec for why each read is in bounds:
    // every header field lies inside the 83-byte header every packed terms value has)
    // ------------------------------------------------------------------------------------------------------------

    /// @notice Memory address of the first byte of `b`'s contents plus `offset`.
    function pointer(bytes memory b, uint256 offset) internal pure returns (uint256 p) {
        assembly ("memory-safe") {
            p := add(add(b, 0x20), offset)
        }
    }

    /// @notice keccak256 of the `len` bytes at memory address `t`.
    function hash(uint256 t, uint256 len) internal pure returns (bytes32 h) {
        assembly ("memory-safe") {
            h := keccak256(t, len)
        }
    }

    function token(uint256 t) internal pure returns (address v) {
        assembly ("memory-safe") {
            v := shr(96, mload(add(t, OFF_TOKEN))) // bytes [0, 20)
        }
    }

    function currency(uint256 t) internal pure returns (bytes3 v) {
        assembly ("memory-safe") {
            v := shl(232, shr(232, mload(add(t, OFF_CURRENCY)))) // bytes [20, 23), left-aligned
        }
    }

    function minorDigits(uint256 t) internal pure returns (uint8 v) {
        assembly ("memory-safe") {
            v := shr(248, mload(add(t, OFF_MINOR_DIGITS))) // byte 23
        }
    }

    function priceDecimals(uint256 t) internal pure returns (uint8 v) {
        assembly ("memory-safe") {
            v := shr(248, mload(add(t, OFF_PRICE_DECIMALS))) // byte 24
        }
    }

    function intervalKind(uint256 t) internal pure returns (uint8 v) {
        assembly ("memory-safe") {
            v := shr(248, mload(add(t, OFF_INTERVAL_KIND))) // byte 25
        }
    }

    function interval(uint256 t) internal pure returns (uint32 v) {
        assembly ("memory-safe") {
            v := shr(224, mload(add(t, OFF_INTERVAL))) // bytes [26, 30)
        }
    }

    function start(uint256 t) internal pure returns (uint40 v) {
        assembly ("memory-safe") {
            v := shr(216, mload(add(t, OFF_START))) // bytes [30, 35)
        }
    }

    function end(uint256 t) internal pure returns (uint40 v) {
        assembly ("memory-safe") {
            v := shr(216, mload(add(t, OFF_END))) // bytes [35, 40)
        }
    }

    function noticeSeconds(uint256 t) internal pure returns (uint32 v) {
        assembly ("memory-safe") {
            v := shr(224, mload(add(t, OFF_NOTICE))) // bytes [40, 44)
        }
    }

    function paymentTermsDays(uint256 t) internal pure returns (uint16 v) {
        assembly ("memory-safe") {
            v := shr(240, mload(add(t, OFF_PAYMENT_TERMS_DAYS))) // bytes [44, 46)
        }
    }

    function graceSeconds(uint256 t) internal pure returns (uint32 v) {
        assembly ("memory-safe") {
            v := shr(224, mload(add(t, OFF_GRACE))) // bytes [46, 50)
        }
    }

    function disputeWindowSeconds(uint256 t) internal pure returns (uint32 v) {
        assembly ("memory-safe") {
            v := shr(224, mload(add(t, OFF_DISPUTE_WINDOW))) // bytes [50, 54)
        }
    }

    function minimumCommitment(uint256 t) internal pure returns (uint96 v) {
        assembly ("memory-safe") {
            v := shr(160, mload(add(t, OFF_MINIMUM))) // bytes [54, 66)
        }
    }

    function cap(uint256 t) internal pure returns (uint96 v) {
        assembly ("memory-safe") {
            v := shr(160, mload(add(t, OFF_CAP))) // bytes [66, 78)
        }
    }

    function arbiterKind(uint256 t) internal pure returns (uint8 v) {
        assembly ("memory-safe") {
            v := shr(248, mload(add(t, OFF_ARBITER_KIND))) // byte 78
        }
    }

    function meterCount(uint256 t) internal pure returns (uint8 v) {
        assembly ("memory-safe") {
            v := shr(248, mload(add(t, OFF_METER_COUNT))) // byte 79
        }
    }

    function vatCategory(uint256 t) internal pure returns (uint8 v) {
        assembly ("memory-safe") {
            v := shr(248, mload(add(t, OFF_VAT_CATEGORY))) // byte 80
        }
    }

    function vatRate(uint256 t) internal pure returns (uint16 v) {
        assembly ("memory-safe") {
            v := shr(240, mload(add(t, OFF_VAT_RATE))) // bytes [81, 83)
        }
    }

    /// @notice The named arbiter, or address(0) when the operator decides (`arbiterKind` 0).
    /// @dev A named arbiter's 20 bytes follow the meter records, so this walks them (used only to decide disputes
    ///      and to decode).
    function arbiter(uint256 t) internal pure returns (address v) {
        if (arbiterKind(t) == 0) return address(0);
        uint256 c = metersEnd(t);
        assembly ("memory-safe") {
            v := shr(96, mload(c))
        }
    }

    /// @notice Memory address right after the last meter record.
    function metersEnd(uint256 t) internal pure returns (uint256 c) {
        uint256 n = meterCount(t);
        c = t + HEADER_LENGTH;
        for (uint256 i; i < n; ++i) {
            c = skipMeter(c);
        }
    }

    /// @notice Memory address right after the meter record at `c` (its length follows from model and tier count).
    function skipMeter(uint256 c) internal pure returns (uint256) {
        uint256 model;
        assembly ("memory-safe") {
            model := shr(248, mload(c))
        }
        // Cannot overflow: memory addresses of packed terms in memory.
        unchecked {
            if (model == uint256(PriceModel.Graduated) || model == uint256(PriceModel.Volume)) {
                uint256 k;
                assembly ("memory-safe") {
                    k := shr(248, mload(add(c, METER_PREFIX_LENGTH)))
                }
                return c + METER_PREFIX_LENGTH + 1 + k * TIER_LENGTH;
            }
            return c + METER_PREFIX_LENGTH + (model == uint256(PriceModel.Package) ? 20 : 12);
        }
    }

    /// @notice Start of period `p` under the calendar of the packed terms at `t`.
    function periodStart(uint256 t, uint256 p) internal pure returns (uint256) {
        return CalendarMath.periodStart(start(t), intervalKind(t), interval(t), p);
    }

    /// @notice The period running at time `time` under the calendar of the packed terms at `t`.
    function periodAt(uint256 t, uint256 time) internal pure returns (uint256) {
        return CalendarMath.periodAt(start(t), intervalKind(t), interval(t), time);
    }

    // ------------------------------------------------------------------------------------------------------------
    // Decoding
    // ------------------------------------------------------------------------------------------------------------

    /// @notice The `Terms` struct of the packed terms at `t` (inverse of `encode`).
    function decode(uint256 t) internal pure returns (Terms memory d) {
        d.token = token(t);
        d.currency = currency(t);
        d.minorDigits = minorDigits(t);
        d.priceDecimals = priceDecimals(t);
        d.intervalKind = IntervalKind(intervalKind(t));
        d.interval = interval(t);
        d.start = start(t);
        d.end = end(t);
        d.noticeSeconds = noticeSeconds(t);
        d.paymentTermsDays = paymentTermsDays(t);
        d.graceSeconds = graceSeconds(t);
        d.disputeWindowSeconds = disputeWindowSeconds(t);
        d.minimumCommitment = minimumCommitment(t);
        d.cap = cap(t);
        d.vatCategory = VatCategory(vatCategory(t));
        d.vatRate = vatRate(t);
        uint256 n = meterCount(t);
        d.meters = new Meter[](n);
        uint256 c = t + HEADER_LENGTH;
        for (uint256 i; i < n; ++i) {
            c = _decodeMeter(c, d.meters[i]);
        }
        if (arbiterKind(t) != 0) {
            address a;
            assembly ("memory-safe") {
                a := shr(96, mload(c))
            }
            d.arbiter = a;
        }
    }

    /// @dev Reads the meter record at `c` into `m`; returns the address after it. Every read lies inside the
    ///      record, whose length follows from its model and tier count (see the contract NatSpec).
    function _decodeMeter(uint256 c, Meter memory m) private pure returns (uint256) {
        uint256 model;
        uint64 included;
        assembly ("memory-safe") {
            model := shr(248, mload(c)) // byte 0
            included := shr(192, mload(add(c, 1))) // bytes [1, 9)
            c := add(c, METER_PREFIX_LENGTH)
        }
        m.model = PriceModel(model);
        m.included = included;
        if (model == uint256(PriceModel.Graduated) || model == uint256(PriceModel.Volume)) {
            uint256 k;
            assembly ("memory-safe") {
                k := shr(248, mload(c)) // tier count
                c := add(c, 1)
            }
            m.tiers = new Tier[](k);
            for (uint256 j; j < k; ++j) {
                uint64 upTo;
                uint96 unitPrice;
                uint96 flatFee;
                assembly ("memory-safe") {
                    upTo := shr(192, mload(c)) // bytes [0, 8) of the tier
                    unitPrice := shr(160, mload(add(c, 8))) // bytes [8, 20)
                    flatFee := shr(160, mload(add(c, 20))) // bytes [20, 32)
                    c := add(c, TIER_LENGTH)
                }
                m.tiers[j] = Tier(upTo, unitPrice, flatFee);
            }
            return c;
        }
        uint64 packageSize;
        if (model == uint256(PriceModel.Package)) {
            assembly ("memory-safe") {
                packageSize := shr(192, mload(c)) // bytes [9, 17) of the record
                c := add(c, 8)
            }
        }
        uint96 price;
        assembly ("memory-safe") {
            price := shr(160, mload(c)) // last 12 bytes of the record
            c := add(c, 12)
        }
        m.packageSize = packageSize;
        m.price = price;
        return c;
    }
}
// forge-lint: disable-end(unsafe-typecast)
