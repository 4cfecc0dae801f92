// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

/// @notice How the billing interval is measured.
/// @dev CalendarMonth: `interval` whole calendar months in UTC, anchored on the start's day of month (clamped to
///      shorter months, never drifting: 31 Jan → 28/29 Feb → 31 Mar). FixedSeconds: `interval` seconds.
enum IntervalKind {
    CalendarMonth,
    FixedSeconds
}

/// @notice How one meter's usage in a period becomes an amount.
/// @dev Every price is in "price units": 10^-(minorDigits + priceDecimals) of the currency. `included` units are
///      free and taken off the usage first ("billable" = usage - included, never below zero).
///      Flat:      `price` per period, whatever the usage.
///      PerUnit:   billable × `price`.
///      Graduated: each billable unit priced by the tier it falls in; a tier's `flatFee` is added once the tier
///                 is reached.
///      Volume:    all billable units priced at the tier the total falls in, plus that tier's `flatFee`.
///      Package:   ceil(billable / `packageSize`) × `price`.
///      With no billable units, every model except Flat charges nothing.
enum PriceModel {
    Flat,
    PerUnit,
    Graduated,
    Volume,
    Package
}

/// @notice Lifecycle of an agreement.
/// @dev Proposed → Active (both parties accepted) → Paused ↔ Active → Terminated. `Terminated` is also what the
///      `state()` view reports once a scheduled end (term end, notice, consent) has passed.
enum AgreementState {
    Proposed,
    Active,
    Paused,
    Terminated
}

/// @notice Payment status of one settlement.
/// @dev Due → PartiallyPaid → Paid; Returned (return debit or chargeback) re-opens; Disputed by the payer within
///      the dispute window and left only by both parties' consent; WrittenOff by both parties' consent (final).
///      `None` marks a period that is not settled.
enum PaymentStatus {
    None,
    Due,
    PartiallyPaid,
    Paid,
    Returned,
    Disputed,
    WrittenOff
}

/// @notice What the payee's systems should grant, set by the gateway's dunning.
enum ServiceStatus {
    Active,
    Restricted,
    Suspended
}

/// @notice Why an agreement ends.
enum TerminationReason {
    TermEnd,
    Notice,
    Consent,
    Cancelled
}

/// @notice VAT category of the agreed terms (EN 16931 BT-151, code list UNCL 5305 in brackets).
/// @dev Standard (S) takes a rate of 1..10000 hundredths of a percent (a standard rate of 0 is ZeroRated); every
///      other category takes rate 0: ReverseCharge (AE, the payer accounts for the VAT), IntraCommunity (K,
///      intra-EU supply), Export (G, outside the EU), Exempt (E), ZeroRated (Z), OutsideScope (O, not subject
///      to VAT).
enum VatCategory {
    Standard,
    ReverseCharge,
    IntraCommunity,
    Export,
    Exempt,
    ZeroRated,
    OutsideScope
}

/// @notice One tier of a graduated or volume price.
/// @param upTo Last unit (inclusive, counted in billable units) this tier covers; the last tier must be
///        `type(uint64).max` so every quantity has a tier.
/// @param unitPrice Price per unit in price units.
/// @param flatFee Added once when the tier applies, in price units.
struct Tier {
    uint64 upTo;
    uint96 unitPrice;
    uint96 flatFee;
}

/// @notice One priced meter (API calls, GB-months, seats ...). Meters are numbered by position; amendments may
///         change prices and add meters at the end, never remove or reorder them.
/// @param model Price model.
/// @param included Free units per period.
/// @param price Flat: fee per period; PerUnit: price per unit; Package: price per package; else must be 0.
/// @param packageSize Units per package (Package only, else 0).
/// @param tiers Ascending tiers (Graduated and Volume only, 1 to MAX_TIERS; else empty).
struct Meter {
    PriceModel model;
    uint64 included;
    uint96 price;
    uint64 packageSize;
    Tier[] tiers;
}

/// @notice Everything both parties agree to, except who they are (fixed per agreement).
/// @param token ERC-20 the payer pays in (must be allow-listed), or address(0) for fiat paid through the bank.
/// @param currency ISO 4217 code for fiat ("EUR"); the token's symbol is not used, but for a token agreement this
///        names the currency the token represents (e.g. "EUR" for a euro stablecoin).
/// @param minorDigits Digits of the minor unit: 2 for EUR; for a token agreement its `decimals()`.
/// @param priceDecimals Extra decimals of every price beyond the minor unit (prices finer than a cent).
/// @param intervalKind Calendar months or fixed seconds.
/// @param interval Months per period (1..12) or seconds per period (≥ 1 hour).
/// @param start First period's start (seconds since the epoch, UTC).
/// @param end 0 for open-ended; otherwise the end of the term, which must fall on a period boundary.
/// @param noticeSeconds Notice a party must give to terminate; the agreement then ends with the period in which
///        the notice expires.
/// @param paymentTermsDays Days from a period's end to its due date.
/// @param graceSeconds Time after a period's end during which late usage is still accepted; settlement waits for it.
/// @param disputeWindowSeconds Time after settlement during which the payer may dispute.
/// @param minimumCommitment Minimum amount per period, in minor units (0 for none).
/// @param cap Maximum amount per period, in minor units (0 for none; otherwise ≥ minimumCommitment). Required when
///        the meters' prices could take a period's amount above 2^96 - 1 (`Terms_CapRequired`).
/// @param vatCategory VAT category of everything the terms charge (EN 16931 / UNCL 5305).
/// @param vatRate VAT rate in hundredths of a percent (1900 = 19.00 %): 1..10000 for Standard, else 0. A period's
///        VAT is `(net × vatRate + 5000) / 10000` (half up, once on the period's net amount); the settlement
///        amount, what the bank moves, is net + VAT.
/// @param arbiter Who decides a dispute both parties do not settle by consent, once the dispute window has closed:
///        address(0) for any holder of the factory's OPERATOR_ROLE, otherwise the named account.
/// @param meters 1 to MAX_METERS meters.
struct Terms {
    address token;
    bytes3 currency;
    uint8 minorDigits;
    uint8 priceDecimals;
    IntervalKind intervalKind;
    uint32 interval;
    uint40 start;
    uint40 end;
    uint32 noticeSeconds;
    uint16 paymentTermsDays;
    uint32 graceSeconds;
    uint32 disputeWindowSeconds;
    uint96 minimumCommitment;
    uint96 cap;
    VatCategory vatCategory;
    uint16 vatRate;
    address arbiter;
    Meter[] meters;
}

/// @notice New cumulative usage of one meter in a report.
struct MeterUsage {
    uint8 meter;
    uint64 cumulative;
}

/// @notice The settlement of one period.
/// @param amount Billed amount in minor units, VAT included (net after minimum and cap, plus VAT; or what a dispute
///        resolution set). Net and VAT of the settlement are in its `SettlementTriggered` event.
/// @param paid Amount received so far in minor units (never above `amount`).
/// @param settledAt When `settle` ran.
/// @param status Payment status.
/// @param termsVersion Terms version the amount was computed with.
/// @param disputed While Disputed: the part of the amount the payer disputes (the rest stays collectable); else 0.
struct Settlement {
    uint96 amount;
    uint96 paid;
    uint40 settledAt;
    PaymentStatus status;
    uint16 termsVersion;
    uint96 disputed;
}

/// @notice One-call summary of an agreement for dashboards and `settle status`.
/// @param version The terms version in force (0 while Proposed).
/// @param pendingVersion The proposal awaiting acceptance (0 if none). Version numbers are never reused: a rejected
///        or replaced proposal keeps its number, so the versions in force may skip numbers.
/// @param endPeriod The first period not billed (0: no end scheduled).
/// @param outstanding Sum of amount − paid over all settlements not written off (a running total: constant cost).
/// @param usageEpoch How many usage corrections were made; every usage report names the epoch it was built on.
struct AgreementStatus {
    AgreementState state;
    ServiceStatus serviceStatus;
    uint16 version;
    uint16 pendingVersion;
    uint32 currentPeriod;
    uint40 currentPeriodStart;
    uint40 currentPeriodEnd;
    uint32 nextPeriodToSettle;
    uint32 endPeriod;
    uint256 outstanding;
    uint16 usageEpoch;
}
