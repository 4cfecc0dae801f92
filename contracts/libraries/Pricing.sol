// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {ITermsErrors} from "../interfaces/ITermsErrors.sol";
import {PriceModel} from "../types/BillingTypes.sol";
import {TermsCodec} from "./TermsCodec.sol";

// Lint exceptions in this file, each deliberate (forge lint):
// - divide-before-multiply: a package price is charged per started package, ceil(billable / size) × price,
//   exactly as docs/terms-encoding.md defines it.
// forge-lint: disable-start(divide-before-multiply)
/// @title Pricing
/// @notice The amount of one period (docs/terms-encoding.md, "Amount of one period"), computed from packed terms
///         in memory. `BillingAgreement.settle` and `previewAmount` and `AgreementFactory.computeAmount` (which
///         packs a `Terms` struct first) all run `amount`, so there is one implementation of the arithmetic.
/// @dev Usage is passed as two words of four 64-bit lanes each, the agreement's storage layout: meter i is lane
///      i % 4 (bits 64·(i % 4) and up) of word i / 4.
///
///      Bounds (why the `unchecked` arithmetic below cannot overflow): usage and tier bounds are < 2^64, prices and
///      fees < 2^96. One tier contributes at most 2^64 × 2^96 + 2^96 < 2^161; a meter at most 8 tiers < 2^164 (a
///      package meter ⌈2^64 / 1⌉ × 2^96 = 2^160); the subtotal of at most 8 meters < 2^167, and adding the rounding
///      half (< 2^60) keeps it far below 2^256.
library Pricing {
    uint256 private constant LANE_MASK = 0xffffffffffffffff;

    /// @notice The net amount in minor units (VAT is added by `vat`) for the packed terms at `t` with usage words
    ///         `usage0` (meters 0-3) and `usage1` (meters 4-7). Not capped to 96 bits: callers that store it check
    ///         that it fits.
    function amount(uint256 t, uint256 usage0, uint256 usage1) internal pure returns (uint256) {
        uint256 n = TermsCodec.meterCount(t);
        uint256 c = t + TermsCodec.HEADER_LENGTH;
        uint256 subtotal = 0;
        uint256 charge;
        for (uint256 i; i < n; ++i) {
            uint256 u = ((i < 4 ? usage0 : usage1) >> ((i & 3) << 6)) & LANE_MASK;
            (charge, c) = meterCharge(c, u);
            // Cannot overflow: see the library NatSpec (subtotal < 2^167).
            unchecked {
                subtotal += charge;
            }
        }
        return finalize(subtotal, TermsCodec.priceDecimals(t), TermsCodec.minimumCommitment(t), TermsCodec.cap(t));
    }

    /// @notice The VAT in minor units on a period's net amount `net` under the packed terms at `t`:
    ///         `(net × vatRate + 5000) / 10000`, rounded half up once on the period's net total (EN 16931 BT-110).
    /// @dev Cannot overflow: net < 2^168 (library NatSpec) and vatRate < 2^16.
    function vat(uint256 t, uint256 net) internal pure returns (uint256) {
        // Cannot overflow: net < 2^168 and vatRate < 2^16, so the product stays below 2^184.
        unchecked {
            return (net * TermsCodec.vatRate(t) + TermsCodec.VAT_RATE_SCALE / 2) / TermsCodec.VAT_RATE_SCALE;
        }
    }

    /// @notice Reverts with `Terms_CapRequired` when a period's amount with VAT under the packed terms at `t` could
    ///         exceed 2^96 - 1 minor units (a settlement could then never be recorded, and periods settle in order):
    ///         the largest net amount is the cap, or without one `maxAmount`; VAT is added to it.
    function requireBounded(uint256 t) internal pure {
        uint256 most = TermsCodec.cap(t);
        if (most == 0) most = maxAmount(t);
        // Cannot overflow: most < 2^168 and its VAT at most as much (rate ≤ 100 %).
        unchecked {
            most += vat(t, most);
        }
        if (most > type(uint96).max) revert ITermsErrors.Terms_CapRequired(most);
    }

    /// @notice The largest amount in minor units the packed terms at `t` can produce, before the cap: each meter at
    ///         its most expensive usage, rounded and raised to the minimum as `amount` does.
    /// @dev Every model but Volume charges more (or the same) for more usage, so its most is at usage 2^64 - 1. A
    ///      Volume meter prices all units at the tier the total falls in, so its charge can drop into a cheaper
    ///      tier: its most is the largest charge at the top of any tier it can reach.
    function maxAmount(uint256 t) internal pure returns (uint256) {
        uint256 n = TermsCodec.meterCount(t);
        uint256 c = t + TermsCodec.HEADER_LENGTH;
        uint256 subtotal;
        uint256 charge;
        for (uint256 i; i < n; ++i) {
            uint256 model;
            assembly ("memory-safe") {
                model := shr(248, mload(c))
            }
            if (model == uint256(PriceModel.Volume)) (charge, c) = _volumeMax(c);
            else (charge, c) = meterCharge(c, type(uint64).max);
            // Cannot overflow: see the library NatSpec (subtotal < 2^167).
            unchecked {
                subtotal += charge;
            }
        }
        return finalize(subtotal, TermsCodec.priceDecimals(t), TermsCodec.minimumCommitment(t), 0);
    }

    /// @dev The most a Volume meter record at `c` can charge: over its tiers, the charge for the largest billable
    ///      quantity inside the tier (its `upTo`, or all of 2^64 - 1 - included for the last one reached).
    function _volumeMax(uint256 c) private pure returns (uint256 most, uint256 next) {
        uint256 included;
        uint256 tierCount;
        assembly ("memory-safe") {
            included := shr(192, mload(add(c, 1)))
            tierCount := shr(248, mload(add(c, 9)))
            c := add(c, 10)
            next := add(c, shl(5, tierCount))
        }
        // Cannot underflow: included < 2^64. Cannot overflow: one tier's charge < 2^161 (library NatSpec).
        unchecked {
            uint256 billable = type(uint64).max - included;
            uint256 lower;
            for (uint256 j; j < tierCount && billable > lower; ++j) {
                (uint256 upTo, uint256 unitPrice, uint256 flatFee) = _tier(c + (j << 5));
                uint256 charge = (billable < upTo ? billable : upTo) * unitPrice + flatFee;
                if (charge > most) most = charge;
                lower = upTo;
            }
        }
    }

    /// @notice Rounds a subtotal in price units once, half up, to minor units, then applies minimum and cap.
    /// @param subtotal Sum of the meter charges in price units (10^-(minorDigits + priceDecimals)).
    function finalize(uint256 subtotal, uint256 priceDecimals, uint256 minimum, uint256 cap)
        internal
        pure
        returns (uint256 result)
    {
        // Cannot overflow: subtotal < 2^167 (library NatSpec) and 10^priceDecimals ≤ 10^18 < 2^60.
        unchecked {
            uint256 scale = 10 ** priceDecimals;
            // Integer division: the half is 0 when priceDecimals = 0 (nothing to round).
            result = (subtotal + scale / 2) / scale;
        }
        if (result < minimum) result = minimum;
        if (cap != 0 && result > cap) result = cap;
    }

    /// @notice Charge in price units of the meter record at `c` for cumulative usage `usage`; returns the address
    ///         after the record.
    /// @dev Reads stay inside the record (see TermsCodec: packed terms always come from `TermsCodec.encode`).
    function meterCharge(uint256 c, uint256 usage) internal pure returns (uint256 charge, uint256 next) {
        uint256 model;
        uint256 included;
        assembly ("memory-safe") {
            model := shr(248, mload(c)) // byte 0: model
            included := shr(192, mload(add(c, 1))) // bytes [1, 9): included
            c := add(c, 9)
        }
        // Cannot underflow: only subtracted when usage > included.
        uint256 billable;
        unchecked {
            billable = usage > included ? usage - included : 0;
        }

        if (model == uint256(PriceModel.Graduated) || model == uint256(PriceModel.Volume)) {
            uint256 tierCount;
            assembly ("memory-safe") {
                tierCount := shr(248, mload(c)) // byte 9: tier count
                c := add(c, 1)
                next := add(c, shl(5, tierCount)) // 32 bytes per tier
            }
            if (billable == 0) return (0, next);
            // Cannot overflow: see the library NatSpec (one meter < 2^164). Cannot underflow: `take - lower` runs
            // only when billable > lower and upTo > lower (tiers strictly ascend), so take > lower.
            unchecked {
                if (model == uint256(PriceModel.Graduated)) {
                    uint256 lower;
                    for (uint256 j; j < tierCount && billable > lower; ++j) {
                        (uint256 upTo, uint256 unitPrice, uint256 flatFee) = _tier(c + (j << 5));
                        uint256 take = billable < upTo ? billable : upTo;
                        charge += (take - lower) * unitPrice + flatFee;
                        lower = upTo;
                    }
                } else {
                    // The last tier is unbounded (2^64 - 1), so a tier is always found.
                    for (uint256 j; j < tierCount; ++j) {
                        (uint256 upTo, uint256 unitPrice, uint256 flatFee) = _tier(c + (j << 5));
                        if (billable <= upTo) {
                            charge = billable * unitPrice + flatFee;
                            break;
                        }
                    }
                }
            }
            return (charge, next);
        }

        uint256 packageSize;
        if (model == uint256(PriceModel.Package)) {
            assembly ("memory-safe") {
                packageSize := shr(192, mload(c)) // bytes [9, 17): package size
                c := add(c, 8)
            }
        }
        uint256 price;
        assembly ("memory-safe") {
            price := shr(160, mload(c)) // the record's last 12 bytes: price
            next := add(c, 12)
        }
        // Cannot overflow: billable < 2^64, price < 2^96; packageSize ≥ 1 (validated), so the ceiling division is
        // defined and `billable + packageSize - 1` < 2^65.
        unchecked {
            if (model == uint256(PriceModel.Flat)) charge = price;
            else if (model == uint256(PriceModel.PerUnit)) charge = billable * price;
            else charge = ((billable + packageSize - 1) / packageSize) * price;
        }
    }

    /// @dev The tier at `p`: upTo (8) ‖ unitPrice (12) ‖ flatFee (12), all inside the 32-byte tier record.
    function _tier(uint256 p) private pure returns (uint256 upTo, uint256 unitPrice, uint256 flatFee) {
        assembly ("memory-safe") {
            let w := mload(p)
            upTo := shr(192, w)
            unitPrice := and(shr(96, w), 0xffffffffffffffffffffffff)
            flatFee := and(w, 0xffffffffffffffffffffffff)
        }
    }

    /// @notice Packs one usage figure per meter into the two lane words `amount` takes.
    /// @dev `usage.length` ≤ 8 is the caller's to check (it must equal the meter count).
    function usageWords(uint64[] calldata usage) internal pure returns (uint256 usage0, uint256 usage1) {
        for (uint256 i; i < usage.length; ++i) {
            uint256 lane = uint256(usage[i]) << ((i & 3) << 6);
            if (i < 4) usage0 |= lane;
            else usage1 |= lane;
        }
    }
}
// forge-lint: disable-end(divide-before-multiply)
