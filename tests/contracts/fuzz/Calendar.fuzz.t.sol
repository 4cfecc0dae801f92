// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {Test} from "forge-std/Test.sol";
import {CalendarMath} from "../../../contracts/libraries/CalendarMath.sol";

/// @dev Exposes the library's internal functions.
contract CalendarHarness {
    function periodStart(uint256 start, uint256 kind, uint256 interval, uint256 p) external pure returns (uint256) {
        return CalendarMath.periodStart(start, kind, interval, p);
    }

    function periodAt(uint256 start, uint256 kind, uint256 interval, uint256 t) external pure returns (uint256) {
        return CalendarMath.periodAt(start, kind, interval, t);
    }

    function civilFromDays(uint256 z) external pure returns (uint256, uint256, uint256) {
        return CalendarMath.civilFromDays(z);
    }

    function daysFromCivil(uint256 y, uint256 m, uint256 d) external pure returns (uint256) {
        return CalendarMath.daysFromCivil(y, m, d);
    }

    function addMonths(uint256 t, uint256 months) external pure returns (uint256) {
        return CalendarMath.addMonths(t, months);
    }
}

/// @notice The calendar against a reference that counts days year by year and month by month.
contract CalendarFuzzTest is Test {
    CalendarHarness internal cal;
    /// @dev 2200-01-01T00:00:00Z.
    uint256 internal constant YEAR_2200 = 7_258_118_400;

    function setUp() public {
        cal = new CalendarHarness();
    }

    // ------------------------------------------------------------------------------------------------------------
    // Reference: plain day counting
    // ------------------------------------------------------------------------------------------------------------

    function _leap(uint256 y) internal pure returns (bool) {
        if (y % 400 == 0) return true;
        if (y % 100 == 0) return false;
        return y % 4 == 0;
    }

    function _monthLength(uint256 y, uint256 m) internal pure returns (uint256) {
        uint8[12] memory lengths = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
        return m == 2 && _leap(y) ? 29 : lengths[m - 1];
    }

    function _refDays(uint256 y, uint256 m, uint256 d) internal pure returns (uint256 days_) {
        for (uint256 year = 1970; year < y; ++year) {
            days_ += _leap(year) ? 366 : 365;
        }
        for (uint256 month = 1; month < m; ++month) {
            days_ += _monthLength(y, month);
        }
        days_ += d - 1;
    }

    function _refCivil(uint256 z) internal pure returns (uint256 y, uint256 m, uint256 d) {
        y = 1970;
        while (true) {
            uint256 len = _leap(y) ? 366 : 365;
            if (z < len) break;
            z -= len;
            ++y;
        }
        m = 1;
        while (z >= _monthLength(y, m)) {
            z -= _monthLength(y, m);
            ++m;
        }
        d = z + 1;
    }

    /// @dev Start of period p: the start's date moved by p × interval months, day clamped, time of day kept.
    function _refMonthly(uint256 start, uint256 months) internal pure returns (uint256) {
        (uint256 y, uint256 m, uint256 d) = _refCivil(start / 86_400);
        uint256 total = y * 12 + (m - 1) + months;
        uint256 y2 = total / 12;
        uint256 m2 = total % 12 + 1;
        uint256 len = _monthLength(y2, m2);
        return _refDays(y2, m2, d < len ? d : len) * 86_400 + start % 86_400;
    }

    // ------------------------------------------------------------------------------------------------------------
    // Fixed cases
    // ------------------------------------------------------------------------------------------------------------

    function test_LeapYearRules() public pure {
        assertFalse(CalendarMath.isLeapYear(1900));
        assertTrue(CalendarMath.isLeapYear(2000));
        assertFalse(CalendarMath.isLeapYear(2100));
        assertTrue(CalendarMath.isLeapYear(2024));
        assertFalse(CalendarMath.isLeapYear(2025));
        assertTrue(CalendarMath.isLeapYear(2400));
        assertEq(CalendarMath.daysInMonth(1900, 2), 28);
        assertEq(CalendarMath.daysInMonth(2000, 2), 29);
        assertEq(CalendarMath.daysInMonth(2100, 2), 28);
        assertEq(CalendarMath.daysInMonth(2025, 4), 30);
        assertEq(CalendarMath.daysInMonth(2025, 12), 31);
    }

    function test_KnownDates() public view {
        assertEq(cal.daysFromCivil(1970, 1, 1), 0);
        assertEq(cal.daysFromCivil(2000, 3, 1), 11_017);
        assertEq(cal.daysFromCivil(2025, 1, 1) * 86_400, 1_735_689_600);
        assertEq(cal.daysFromCivil(2200, 1, 1) * 86_400, YEAR_2200);
        (uint256 y, uint256 m, uint256 d) = cal.civilFromDays(11_016);
        assertEq(y, 2000);
        assertEq(m, 2);
        assertEq(d, 29);
    }

    function test_MonthEndAnchorNeverDrifts() public view {
        uint256 jan31 = cal.daysFromCivil(2024, 1, 31) * 86_400 + 3600;
        assertEq(cal.periodStart(jan31, 0, 1, 1), cal.daysFromCivil(2024, 2, 29) * 86_400 + 3600);
        assertEq(cal.periodStart(jan31, 0, 1, 2), cal.daysFromCivil(2024, 3, 31) * 86_400 + 3600);
        assertEq(cal.periodStart(jan31, 0, 1, 13), cal.daysFromCivil(2025, 2, 28) * 86_400 + 3600);
        assertEq(cal.periodStart(jan31, 0, 3, 1), cal.daysFromCivil(2024, 4, 30) * 86_400 + 3600);
        // 2100 is not a leap year.
        uint256 jan2100 = cal.daysFromCivil(2100, 1, 30) * 86_400;
        assertEq(cal.periodStart(jan2100, 0, 1, 1), cal.daysFromCivil(2100, 2, 28) * 86_400);
        assertEq(cal.periodAt(jan31, 0, 1, cal.daysFromCivil(2024, 3, 31) * 86_400 + 3599), 1);
        assertEq(cal.periodAt(jan31, 0, 1, cal.daysFromCivil(2024, 3, 31) * 86_400 + 3600), 2);
    }

    // ------------------------------------------------------------------------------------------------------------
    // Fuzz tests
    // ------------------------------------------------------------------------------------------------------------

    function testFuzz_CivilRoundTrip(uint256 z) public view {
        z = bound(z, 0, YEAR_2200 / 86_400 + 366);
        (uint256 y, uint256 m, uint256 d) = cal.civilFromDays(z);
        (uint256 ry, uint256 rm, uint256 rd) = _refCivil(z);
        assertEq(y, ry);
        assertEq(m, rm);
        assertEq(d, rd);
        assertEq(cal.daysFromCivil(y, m, d), z);
    }

    function testFuzz_MonthlyPeriodStart(uint256 start, uint8 interval, uint16 p) public view {
        start = bound(start, 1, YEAR_2200);
        uint256 months = 1 + interval % 12;
        uint256 period = p % 240;
        assertEq(cal.periodStart(start, 0, months, period), _refMonthly(start, period * months));
    }

    function testFuzz_MonthEndAnchors(uint16 yearOffset, uint8 month, uint8 day, uint8 interval, uint16 p) public view {
        uint256 y = 1970 + yearOffset % 220;
        uint256 m = 1 + month % 12;
        uint256 d = 28 + day % 4; // 28..31, clamped to the month
        uint256 len = _monthLength(y, m);
        if (d > len) d = len;
        uint256 start = _refDays(y, m, d) * 86_400 + 12 hours;
        uint256 months = 1 + interval % 12;
        uint256 period = p % 300;
        assertEq(cal.periodStart(start, 0, months, period), _refMonthly(start, period * months));
    }

    function testFuzz_PeriodAtBracketsTime(uint256 start, uint8 interval, uint256 t) public view {
        start = bound(start, 1, YEAR_2200);
        t = bound(t, start, YEAR_2200 + 400 days);
        uint256 months = 1 + interval % 12;
        uint256 p = cal.periodAt(start, 0, months, t);
        assertLe(_refMonthly(start, p * months), t);
        assertGt(_refMonthly(start, (p + 1) * months), t);
    }

    function testFuzz_PeriodAtOfPeriodStart(uint256 start, uint8 interval, uint16 p) public view {
        start = bound(start, 1, YEAR_2200);
        uint256 months = 1 + interval % 12;
        uint256 period = p % 300;
        uint256 s = cal.periodStart(start, 0, months, period);
        assertEq(cal.periodAt(start, 0, months, s), period);
        if (s > start) assertEq(cal.periodAt(start, 0, months, s - 1), period - 1);
    }

    function testFuzz_BeforeStartIsPeriodZero(uint256 start, uint256 t, bool monthly) public view {
        start = bound(start, 1, YEAR_2200);
        t = bound(t, 0, start - 1);
        assertEq(cal.periodAt(start, monthly ? 0 : 1, monthly ? 1 : 3600, t), 0);
    }

    function testFuzz_FixedSeconds(uint256 start, uint32 interval, uint256 t) public view {
        start = bound(start, 1, YEAR_2200);
        uint256 len = bound(interval, 3600, type(uint32).max);
        t = bound(t, start, YEAR_2200 * 2);
        uint256 p = cal.periodAt(start, 1, len, t);
        assertEq(p, (t - start) / len);
        assertLe(cal.periodStart(start, 1, len, p), t);
        assertGt(cal.periodStart(start, 1, len, p + 1), t);
    }

    function testFuzz_AddMonthsKeepsTimeOfDay(uint256 t, uint16 months) public view {
        t = bound(t, 0, YEAR_2200);
        uint256 r = cal.addMonths(t, months % 1200);
        assertEq(r % 86_400, t % 86_400);
        assertEq(r, _refMonthly(t, months % 1200));
    }
}
