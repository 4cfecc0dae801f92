// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {BaseTest} from "../../utils/BaseTest.sol";
import {BillingAgreement} from "../../../../contracts/BillingAgreement.sol";
import {IBillingAgreement} from "../../../../contracts/interfaces/IBillingAgreement.sol";
import {
    AgreementState,
    IntervalKind,
    PaymentStatus,
    Settlement,
    Terms
} from "../../../../contracts/types/BillingTypes.sol";

contract SettleTest is BaseTest {
    BillingAgreement internal a;

    function setUp() public override {
        super.setUp();
        a = _createActive(_fiatTerms());
        vm.warp(START + 1 days);
    }

    function test_WhenPeriodEnded_SettlesOnce() public {
        _report(a, 0, 0, 1500);
        _warpToSettle(a, 0);
        // January 2025 ends 2025-02-01; due 14 days later.
        uint40 due = START + 31 days + 14 days;
        vm.expectEmit(address(a));
        emit IBillingAgreement.SettlementTriggered(0, 140_000, due, 1, 140_000, 0);
        vm.prank(stranger);
        assertEq(a.settle(0), 140_000);

        Settlement memory s = a.settlement(0);
        assertEq(s.amount, 140_000);
        assertEq(s.paid, 0);
        assertEq(s.settledAt, block.timestamp);
        assertEq(uint8(s.status), uint8(PaymentStatus.Due));
        assertEq(s.termsVersion, 1);
        assertEq(a.dueDate(0), due);
        assertEq(a.outstanding(), 140_000);
        assertEq(a.status().nextPeriodToSettle, 1);

        vm.expectRevert(abi.encodeWithSelector(IBillingAgreement.BillingAgreement_PeriodSettled.selector, uint32(0)));
        a.settle(0);
    }

    function test_NothingOwedIsPaidAtOnce() public {
        _warpToSettle(a, 0);
        assertEq(a.settle(0), 0);
        assertEq(uint8(a.settlement(0).status), uint8(PaymentStatus.Paid));
        assertEq(a.outstanding(), 0);
    }

    function test_MinimumCommitmentWithoutUsage() public {
        Terms memory t = _fiatTerms();
        t.minimumCommitment = 50_000;
        BillingAgreement b = _createActive(t);
        _warpToSettle(b, 0);
        assertEq(b.settle(0), 50_000);
    }

    function test_UsesTermsVersionOfThePeriod() public {
        Terms memory t = _fiatTerms();
        t.meters[0].tiers[0].unitPrice = 20_000; // 2.00 EUR from period 1
        t.paymentTermsDays = 30;
        _amend(a, t);
        _report(a, 0, 0, 10);
        _warpToSettle(a, 0);
        assertEq(a.settle(0), 1000); // 10 × 1.00
        vm.prank(oracle);
        a.reportUsage(1, bytes32(0), bytes32(0), 0, _usage(0, 10));
        _warpToSettle(a, 1);
        assertEq(a.previewAmount(1), 2000);
        assertEq(a.settle(1), 2000); // 10 × 2.00
        assertEq(a.settlement(1).termsVersion, 2);
        (, uint40 end1) = a.periodBounds(1);
        assertEq(a.dueDate(1), end1 + 30 days);
    }

    function test_SettlesInOrder() public {
        vm.warp(START + 100 days);
        vm.expectRevert(
            abi.encodeWithSelector(IBillingAgreement.BillingAgreement_SettleOutOfOrder.selector, uint32(1), uint32(0))
        );
        a.settle(1);
        a.settle(0);
        a.settle(1);
        a.settle(2);
        assertEq(a.status().nextPeriodToSettle, 3);
    }

    function test_RevertWhen_PeriodNotEnded() public {
        (, uint40 end) = a.periodBounds(0);
        vm.warp(end + GRACE - 1);
        vm.expectRevert(
            abi.encodeWithSelector(IBillingAgreement.BillingAgreement_PeriodNotEnded.selector, uint32(0), end + GRACE)
        );
        a.settle(0);
        vm.warp(end + GRACE);
        a.settle(0);
    }

    function test_RevertWhen_Proposed() public {
        BillingAgreement b = _create(_fiatTerms(), bytes32(uint256(1)));
        vm.warp(START + 40 days);
        vm.expectRevert(
            abi.encodeWithSelector(IBillingAgreement.BillingAgreement_InvalidState.selector, AgreementState.Proposed)
        );
        b.settle(0);
    }

    function test_RevertWhen_Cancelled() public {
        BillingAgreement b = _create(_fiatTerms(), bytes32(uint256(1)));
        vm.prank(payer);
        b.cancel();
        vm.warp(START + 40 days);
        vm.expectRevert(
            abi.encodeWithSelector(IBillingAgreement.BillingAgreement_InvalidState.selector, AgreementState.Terminated)
        );
        b.settle(0);
    }

    function test_RevertWhen_PeriodAfterEnd() public {
        vm.prank(payer);
        a.giveNotice(); // end period 2
        vm.warp(START + 200 days);
        a.settle(0);
        a.settle(1);
        vm.expectRevert(
            abi.encodeWithSelector(IBillingAgreement.BillingAgreement_PeriodAfterEnd.selector, uint32(2), uint32(2))
        );
        a.settle(2);
    }

    function test_AmountAtTheLimitSettles() public {
        // Changed with issue 10 (item 10): terms that could exceed 96 bits without a cap are refused at creation
        // (`Terms_CapRequired`, see CreateAgreement.t.sol), so `BillingAgreement_AmountOverflow` can no longer block
        // settlement. With a cap at the limit, a period far above it settles at the cap.
        Terms memory t = _fiatTerms();
        t.priceDecimals = 0;
        t.cap = type(uint96).max;
        t.meters[0] = _perUnitMeter(type(uint96).max);
        BillingAgreement b = _createActive(t);
        vm.warp(START + 1 days);
        _report(b, 0, 0, type(uint64).max);
        _warpToSettle(b, 0);
        assertEq(b.previewAmount(0), type(uint96).max);
        assertEq(b.settle(0), type(uint96).max);
        assertEq(b.settlement(0).amount, type(uint96).max);
        assertEq(b.outstanding(), type(uint96).max);
    }

    function test_FixedSecondsPeriods() public {
        Terms memory t = _fiatTerms();
        t.intervalKind = IntervalKind.FixedSeconds;
        t.interval = 1 days;
        t.graceSeconds = 1 hours;
        BillingAgreement b = _createActive(t);
        vm.warp(START + 3 days + 1 hours);
        (, uint32 p,) = _current(b);
        assertEq(p, 3);
        b.settle(0);
        b.settle(1);
        b.settle(2);
        vm.expectRevert(
            abi.encodeWithSelector(
                IBillingAgreement.BillingAgreement_PeriodNotEnded.selector, uint32(3), START + 4 days + 1 hours
            )
        );
        b.settle(3);
    }

    function _current(BillingAgreement b) internal view returns (uint40, uint32, uint40) {
        (uint32 p, uint40 s, uint40 e) = b.currentPeriod();
        return (s, p, e);
    }
}
