// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {VatCategory} from "../types/BillingTypes.sol";

/// @title ITermsErrors
/// @notice Why a `Terms` struct is invalid (docs/terms-encoding.md, "Validation"). Raised by
///         `AgreementFactory.createAgreement`, `predictAgreementAddress`, `encodeTerms`, `computeAmount` and
///         `BillingAgreement.proposeAmendment`; the first invalid field in the documented order is reported.
///         Meters and tiers are numbered from 0.
interface ITermsErrors {
    /// @notice The `Terms` argument is not a valid ABI encoding: a value does not fit its type, or a meter or tier
    ///         lies outside the call data (standard ABI encoders never produce this).
    error Terms_MalformedEncoding();
    /// @notice `currency` is not three ASCII upper-case letters.
    error Terms_InvalidCurrency(bytes3 currency);
    /// @notice `minorDigits` or `priceDecimals` is above 18.
    error Terms_InvalidDigits(uint8 minorDigits, uint8 priceDecimals);
    /// @notice CalendarMonth needs 1..12 months, FixedSeconds at least 3600 seconds.
    error Terms_InvalidInterval(uint8 kind, uint32 interval);
    /// @notice `start` is 0.
    error Terms_ZeroStart();
    /// @notice `end` is neither 0 nor a period boundary after `start`.
    error Terms_EndNotOnBoundary(uint40 end);
    /// @notice `cap` is neither 0 nor at least `minimumCommitment`.
    error Terms_CapBelowMinimum(uint96 cap, uint96 minimum);
    /// @notice `vatRate` does not suit `vatCategory`: Standard needs 1..10000 (hundredths of a percent; 0 % is
    ///         ZeroRated), every other category 0.
    error Terms_InvalidVatRate(VatCategory category, uint16 rate);
    /// @notice The terms have no meter.
    error Terms_NoMeters();
    /// @notice The terms have more than `max` meters.
    error Terms_TooManyMeters(uint256 count, uint256 max);
    /// @notice A field `meter`'s price model does not use is set (`field` names it).
    error Terms_UnusedFieldSet(uint256 meter, string field);
    /// @notice A Package meter has `packageSize` 0.
    error Terms_ZeroPackageSize(uint256 meter);
    /// @notice A Graduated or Volume meter has no tier.
    error Terms_NoTiers(uint256 meter);
    /// @notice A Graduated or Volume meter has more than `max` tiers.
    error Terms_TooManyTiers(uint256 meter, uint256 count, uint256 max);
    /// @notice Tier `tier` of `meter` does not go above the previous tier's `upTo`.
    error Terms_TiersNotAscending(uint256 meter, uint256 tier, uint64 upTo, uint64 previous);
    /// @notice The last tier of `meter` ends at `upTo` instead of 2^64 - 1.
    error Terms_LastTierBounded(uint256 meter, uint64 upTo);
    /// @notice A period's amount with VAT can reach `maxAmount` minor units, more than a settlement holds
    ///         (2^96 - 1): without a cap, set one; with a cap, lower it so that cap plus VAT fits. No period can
    ///         then fail to settle.
    error Terms_CapRequired(uint256 maxAmount);
}
