// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {BaseTest} from "../../utils/BaseTest.sol";
import {BillingAgreement} from "../../../../contracts/BillingAgreement.sol";
import {IBillingAgreement} from "../../../../contracts/interfaces/IBillingAgreement.sol";
import {
    AgreementState,
    AgreementStatus,
    IntervalKind,
    ServiceStatus,
    Terms
} from "../../../../contracts/types/BillingTypes.sol";

// Lint exceptions in this file, each deliberate (forge lint):
// - unsafe-typecast: test inputs are derived from random words by narrowing on purpose.
// forge-lint: disable-start(unsafe-typecast)
/// @notice The views not covered with their functions, and the extension's guard against direct calls.
contract ViewsTest is BaseTest {
    BillingAgreement internal a;

    function setUp() public override {
        super.setUp();
        Terms memory t = _fiatTerms();
        t.start = START + 30 days; // 2025-01-31: month-end anchor
        a = _createActive(t);
    }

    function test_PeriodCalendarFromMonthEnd() public view {
        (uint40 s0, uint40 e0) = a.periodBounds(0);
        assertEq(s0, START + 30 days); // 31 Jan
        assertEq(e0, START + 58 days); // 28 Feb
        (uint40 s1, uint40 e1) = a.periodBounds(1);
        assertEq(s1, e0);
        assertEq(e1, START + 89 days); // 31 Mar: the anchor day does not drift
    }

    function test_CurrentPeriod() public {
        (uint32 p, uint40 s, uint40 e) = a.currentPeriod();
        assertEq(p, 0); // before the start
        assertEq(s, START + 30 days);
        vm.warp(START + 60 days); // 2 March
        (p, s, e) = a.currentPeriod();
        assertEq(p, 1);
        assertEq(s, START + 58 days);
        assertEq(e, START + 89 days);
    }

    function test_Status() public {
        vm.warp(START + 60 days);
        vm.prank(gateway);
        a.setServiceStatus(ServiceStatus.Restricted, bytes32(0));
        AgreementStatus memory s = a.status();
        assertEq(uint8(s.state), uint8(AgreementState.Active));
        assertEq(uint8(s.serviceStatus), uint8(ServiceStatus.Restricted));
        assertEq(s.version, 1);
        assertEq(s.pendingVersion, 0);
        assertEq(s.currentPeriod, 1);
        assertEq(s.currentPeriodStart, START + 58 days);
        assertEq(s.currentPeriodEnd, START + 89 days);
        assertEq(s.nextPeriodToSettle, 0);
        assertEq(s.endPeriod, 0);
        assertEq(s.outstanding, 0);
        assertEq(s.usageEpoch, 0);
    }

    function test_UsageOnlyForMetersOfThePeriodsTerms() public {
        vm.warp(START + 31 days); // period 0
        _report(a, 0, 0, 5);
        assertEq(a.usage(0, 0), 5);
        vm.expectRevert(abi.encodeWithSelector(IBillingAgreement.BillingAgreement_UnknownMeter.selector, uint8(1), 1));
        a.usage(0, 1);
        // An amendment adding meters from period 1 makes them readable there, not before.
        Terms memory t = _fiatTerms3();
        t.start = START + 30 days;
        _amend(a, t);
        assertEq(a.usage(1, 2), 0);
        vm.expectRevert(abi.encodeWithSelector(IBillingAgreement.BillingAgreement_UnknownMeter.selector, uint8(2), 1));
        a.usage(0, 2);
        vm.expectRevert(abi.encodeWithSelector(IBillingAgreement.BillingAgreement_UnknownMeter.selector, uint8(3), 3));
        a.usage(1, 3);
    }

    function test_TermsWhileProposedIsVersionOne() public {
        BillingAgreement b = _create(_fiatTerms(), bytes32(uint256(1)));
        (Terms memory t, uint16 version) = b.terms();
        assertEq(version, 1);
        assertEq(t.currency, bytes3("EUR"));
        assertFalse(b.hasAccepted(payer, 0));
        assertFalse(b.hasAccepted(stranger, 1));
    }

    function test_RevertWhen_TermsVersionUnknown() public {
        vm.expectRevert(abi.encodeWithSelector(IBillingAgreement.BillingAgreement_UnknownVersion.selector, uint16(0)));
        a.termsAt(0);
        vm.expectRevert(abi.encodeWithSelector(IBillingAgreement.BillingAgreement_UnknownVersion.selector, uint16(2)));
        a.termsAt(2);
    }

    function test_VersionLookupScansBack() public {
        Terms memory t = _fiatTerms();
        t.start = START + 30 days;
        vm.warp(START + 31 days); // period 0
        t.paymentTermsDays = 1;
        _amend(a, t); // v2 from period 1
        vm.warp(START + 70 days); // period 1
        t.paymentTermsDays = 2;
        _amend(a, t); // v3 from period 2
        t.paymentTermsDays = 3;
        _amend(a, t); // v4 from period 2 as well: supersedes v3
        assertEq(a.versionForPeriod(0), 1);
        assertEq(a.versionForPeriod(1), 2);
        assertEq(a.versionForPeriod(2), 4);
        assertEq(a.versionForPeriod(100), 4);
        (,, uint32 from3) = a.termsAt(3);
        assertEq(from3, 2);
        assertTrue(a.hasAccepted(payer, 3));
        assertEq(a.usageOf(1).length, 1);
    }

    function test_PeriodBoundsSaturateForAbsurdPeriods() public view {
        (uint40 s, uint40 e) = a.periodBounds(type(uint32).max);
        assertEq(s, type(uint40).max);
        assertEq(e, type(uint40).max);
    }

    function test_FixedSecondsBounds() public {
        Terms memory t = _fiatTerms();
        t.intervalKind = IntervalKind.FixedSeconds;
        t.interval = 3600;
        BillingAgreement b = _createActive(t);
        (uint40 s, uint40 e) = b.periodBounds(24);
        assertEq(s, START + 1 days);
        assertEq(e, START + 1 days + 1 hours);
    }

    function test_ExtensionRejectsDirectCalls() public {
        // The implementation deployed the extension with its first CREATE (nonce 1).
        address extension = vm.computeCreateAddress(factory.implementation(), 1);
        assertGt(extension.code.length, 0);
        vm.prank(payee);
        vm.expectRevert(IBillingAgreement.BillingAgreement_NotInitialized.selector);
        BillingAgreement(extension).pause();
        vm.prank(gateway);
        vm.expectRevert(IBillingAgreement.BillingAgreement_NotInitialized.selector);
        BillingAgreement(extension).setServiceStatus(ServiceStatus.Suspended, bytes32(0));
    }
}
// forge-lint: disable-end(unsafe-typecast)
