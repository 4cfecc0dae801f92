// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

/// @title CalendarMath
/// @notice UTC civil calendar arithmetic and the period calendar of docs/terms-encoding.md ("Periods").
/// @dev Proleptic Gregorian calendar, times as unix seconds (no leap seconds, like every EVM chain). Civil-date
///      conversions follow Howard Hinnant, "chrono-Compatible Low-Level Date Algorithms"
///      (https://howardhinnant.github.io/date_algorithms.html), restricted to dates on or after 1970-01-01 so all
///      arithmetic is unsigned. `intervalKind` 0 = CalendarMonth, 1 = FixedSeconds (see `IntervalKind`).
///
///      The period functions work on Hinnant's March-based calendar directly: a "month index" counts months from
///      March of year 0 (index = 12 × y' + mp with y' the year starting in March and mp 0 = March … 11 =
///      February), so adding months is adding to the index, and February (the only irregular month) is the last
///      month of its year, which makes month lengths a closed formula. This is the same calendar as
///      `civilFromDays`/`daysFromCivil` (tests check they agree), in about a tenth of the gas.
///
///      Bounds for the `unchecked` and assembly arithmetic below: times are below 2^40 (or 2^40 plus a uint32
///      period number times at most 12 months, i.e. month indexes below 2^40), so every product and sum stays below
///      2^100; the subtractions are non-negative as commented at each.
library CalendarMath {
    uint256 internal constant SECONDS_PER_DAY = 86_400;
    uint256 internal constant CALENDAR_MONTH = 0;
    /// @dev Days from 0000-03-01 to 1970-01-01.
    uint256 private constant EPOCH_SHIFT = 719_468;
    uint256 private constant DAYS_PER_ERA = 146_097;

    /// @notice Days since 1970-01-01 of the civil date (y, m, d); requires y-m-d ≥ 1970-01-01, 1 ≤ m ≤ 12.
    function daysFromCivil(uint256 y, uint256 m, uint256 d) internal pure returns (uint256) {
        // Cannot underflow: y ≥ 1970 (so y - 1 ≥ 0), m - 3 only for m > 2, d ≥ 1, and the result is ≥ 0 for
        // every date on or after 1970-01-01.
        unchecked {
            if (m <= 2) y -= 1;
            uint256 era = y / 400;
            uint256 yoe = y - era * 400; // [0, 399]
            uint256 doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1; // [0, 365]
            uint256 doe = yoe * 365 + yoe / 4 - yoe / 100 + doy; // [0, 146096]
            return era * DAYS_PER_ERA + doe - EPOCH_SHIFT;
        }
    }

    /// @notice The civil date (y, m, d) of day `z` counted from 1970-01-01.
    function civilFromDays(uint256 z) internal pure returns (uint256 y, uint256 m, uint256 d) {
        // Cannot underflow: the subtracted terms are each at most the value they are taken from (doe/1460 etc.
        // are fractions of doe; doy ≥ 0 because yoe is the year of day doe; (153mp + 2)/5 ≤ doy by choice of mp).
        unchecked {
            z += EPOCH_SHIFT;
            uint256 era = z / DAYS_PER_ERA;
            uint256 doe = z - era * DAYS_PER_ERA; // [0, 146096]
            uint256 yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365; // [0, 399]
            y = yoe + era * 400;
            uint256 doy = doe - (365 * yoe + yoe / 4 - yoe / 100); // [0, 365]
            uint256 mp = (5 * doy + 2) / 153; // [0, 11]
            d = doy - (153 * mp + 2) / 5 + 1; // [1, 31]
            m = mp < 10 ? mp + 3 : mp - 9; // [1, 12]
            if (m <= 2) y += 1;
        }
    }

    /// @notice Whether `y` is a Gregorian leap year (divisible by 4, except centuries not divisible by 400).
    function isLeapYear(uint256 y) internal pure returns (bool) {
        return y % 4 == 0 && (y % 100 != 0 || y % 400 == 0);
    }

    /// @notice Days in month `m` (1..12) of year `y`.
    function daysInMonth(uint256 y, uint256 m) internal pure returns (uint256) {
        if (m == 2) return isLeapYear(y) ? 29 : 28;
        if (m == 4 || m == 6 || m == 9 || m == 11) return 30;
        return 31;
    }

    /// @notice `timestamp` moved by `months` calendar months: same time of day, day of month clamped to the target
    ///         month's length (31 Jan + 1 month = 28/29 Feb).
    function addMonths(uint256 timestamp, uint256 months) internal pure returns (uint256) {
        (uint256 monthIndex, uint256 day, uint256 timeOfDay) = _decompose(timestamp);
        return _compose(monthIndex + months, day, timeOfDay);
    }

    /// @notice Start of period `p` of a calendar anchored at `start` (docs/terms-encoding.md, "Periods").
    /// @param intervalKind 0 = CalendarMonth, 1 = FixedSeconds.
    /// @param interval Months (CalendarMonth) or seconds (FixedSeconds) per period; never 0 for valid terms.
    function periodStart(uint256 start, uint256 intervalKind, uint256 interval, uint256 p)
        internal
        pure
        returns (uint256)
    {
        if (intervalKind == CALENDAR_MONTH) return addMonths(start, p * interval);
        return start + p * interval;
    }

    /// @notice The period `p` with `periodStart(p) ≤ t < periodStart(p + 1)`; 0 for `t` before `start`. O(1).
    /// @dev CalendarMonth: let M = (months from start's month to t's month). Period p = ⌊M / interval⌋ starts in
    ///      a month at or before t's month, and period p + 1 starts in a month after t's month (because
    ///      (p + 1) × interval > M), hence after t. Period p itself can start after t only when it starts in t's
    ///      own month (later day or time of day); then p - 1 (which starts in an earlier month) is the answer. So
    ///      one correction downwards is all that is ever needed.
    function periodAt(uint256 start, uint256 intervalKind, uint256 interval, uint256 t)
        internal
        pure
        returns (uint256)
    {
        if (t < start) return 0;
        // Cannot underflow: t ≥ start.
        unchecked {
            if (intervalKind != CALENDAR_MONTH) return (t - start) / interval;
        }
        (uint256 m0, uint256 d0, uint256 tod0) = _decompose(start);
        (uint256 m1,,) = _decompose(t);
        // Cannot underflow: t ≥ start, so t's month index is not below start's; p ≥ 1 when decremented.
        unchecked {
            uint256 p = (m1 - m0) / interval;
            if (p != 0 && _compose(m0 + p * interval, d0, tod0) > t) p -= 1;
            return p;
        }
    }

    /// @dev Month index (months since March of year 0), day of month and time of day of `time`. The steps of
    ///      `civilFromDays` in assembly (same bounds: no step can underflow, see there), without converting to
    ///      January-based months.
    function _decompose(uint256 time) private pure returns (uint256 monthIndex, uint256 day, uint256 timeOfDay) {
        assembly ("memory-safe") {
            let z := div(time, SECONDS_PER_DAY)
            timeOfDay := sub(time, mul(z, SECONDS_PER_DAY))
            z := add(z, EPOCH_SHIFT)
            let era := div(z, DAYS_PER_ERA)
            let doe := sub(z, mul(era, DAYS_PER_ERA)) // [0, 146096]
            // yoe = (doe - doe/1460 + doe/36524 - doe/146096) / 365, in [0, 399]
            let yoe := div(sub(add(sub(doe, div(doe, 1460)), div(doe, 36524)), div(doe, 146096)), 365)
            let doy := sub(doe, sub(add(mul(365, yoe), div(yoe, 4)), div(yoe, 100))) // [0, 365]
            let mp := div(add(mul(5, doy), 2), 153) // [0, 11], 0 = March
            day := add(sub(doy, div(add(mul(153, mp), 2), 5)), 1) // [1, 31]
            monthIndex := add(mul(add(mul(era, 400), yoe), 12), mp)
        }
    }

    /// @dev Unix time of day `day` (clamped to the month's length) of month index `monthIndex` at `timeOfDay`.
    ///      Only called with month indexes of dates on or after 1970-01-01. The steps of `daysFromCivil` in
    ///      assembly; no step can underflow: `(153(mp + 1) + 2)/5 ≥ (153mp + 2)/5`, yoe = y - 400·era ≥ 0,
    ///      monthStart + day - 1 ≥ 0 (day ≥ 1), and the final subtraction of EPOCH_SHIFT is non-negative for dates
    ///      on or after 1970-01-01; nothing can overflow (month indexes are below 2^40, see the library NatSpec).
    function _compose(uint256 monthIndex, uint256 day, uint256 timeOfDay) private pure returns (uint256 t) {
        assembly ("memory-safe") {
            let y := div(monthIndex, 12) // year starting in March
            let mp := sub(monthIndex, mul(y, 12)) // 0 = March … 11 = February
            let monthStart := div(add(mul(153, mp), 2), 5) // day of the March-based year the month starts on
            // Month length: 31, 30, 31, 30, 31, 31, 30, 31, 30, 31, 31 for March … January.
            let length := sub(div(add(mul(153, mp), 155), 5), monthStart)
            if eq(mp, 11) {
                // February belongs to civil year y + 1: 29 days in a leap year, else 28.
                let cy := add(y, 1)
                length := 28
                if iszero(mod(cy, 4)) { if or(mod(cy, 100), iszero(mod(cy, 400))) { length := 29 } }
            }
            if gt(day, length) { day := length }
            let era := div(y, 400)
            let yoe := sub(y, mul(era, 400))
            let doe := add(sub(add(mul(yoe, 365), div(yoe, 4)), div(yoe, 100)), sub(add(monthStart, day), 1))
            t := add(mul(sub(add(mul(era, DAYS_PER_ERA), doe), EPOCH_SHIFT), SECONDS_PER_DAY), timeOfDay)
        }
    }
}
