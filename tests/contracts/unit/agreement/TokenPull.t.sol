// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {BaseTest} from "../../utils/BaseTest.sol";
import {BillingAgreement} from "../../../../contracts/BillingAgreement.sol";
import {IBillingAgreement} from "../../../../contracts/interfaces/IBillingAgreement.sol";
import {MockToken} from "../../../../contracts/mocks/MockToken.sol";
import {PaymentStatus, Settlement} from "../../../../contracts/types/BillingTypes.sol";

/// @notice settle on token agreements (the pull after settlement) and collect.
contract TokenPullTest is BaseTest {
    BillingAgreement internal a;
    MockToken internal mock;

    function setUp() public override {
        super.setUp();
        (a, mock) = _mockTokenAgreement();
        vm.warp(START + 1 days);
        _report(a, 0, 0, 1500); // 140_000 minor units
        _warpToSettle(a, 0);
    }

    function test_SettlePullsFromPayer() public {
        vm.expectEmit(address(a));
        emit IBillingAgreement.SettlementTriggered(0, 140_000, a.dueDate(0), 1, 140_000, 0);
        vm.expectEmit(address(a));
        emit IBillingAgreement.PaymentConfirmed(0, 140_000, bytes32(0));
        a.settle(0);
        assertEq(mock.balanceOf(payee), 140_000);
        assertEq(uint8(a.settlement(0).status), uint8(PaymentStatus.Paid));
        assertEq(a.outstanding(), 0);
    }

    function test_WhenAllowanceMissing_StaysDue() public {
        vm.prank(payer);
        mock.approve(address(a), 0);
        vm.expectEmit(address(a));
        emit IBillingAgreement.TokenPullFailed(0, 140_000);
        assertEq(a.settle(0), 140_000);
        assertEq(uint8(a.settlement(0).status), uint8(PaymentStatus.Due));
        assertEq(a.outstanding(), 140_000);
        assertEq(a.status().nextPeriodToSettle, 1);
    }

    function test_WhenTransferReturnsFalse_StaysDue() public {
        mock.setMode(MockToken.Mode.ReturnFalse);
        a.settle(0);
        assertEq(uint8(a.settlement(0).status), uint8(PaymentStatus.Due));
    }

    function test_WhenTransferReverts_StaysDue() public {
        mock.setMode(MockToken.Mode.Revert);
        a.settle(0);
        assertEq(uint8(a.settlement(0).status), uint8(PaymentStatus.Due));
    }

    function test_WhenBalanceUnreadable_StaysDue() public {
        mock.setMode(MockToken.Mode.BalanceOfReverts);
        a.settle(0);
        assertEq(uint8(a.settlement(0).status), uint8(PaymentStatus.Due));
        mock.setMode(MockToken.Mode.Normal);
        assertEq(mock.balanceOf(payee), 0);
    }

    function test_WhenBalanceUnreadableAfterTransfer_TrustsTransfer() public {
        mock.setMode(MockToken.Mode.BalanceOfRevertsAfterTransfer);
        a.settle(0);
        assertEq(uint8(a.settlement(0).status), uint8(PaymentStatus.Paid));
    }

    function test_FeeOnTransferCountsWhatLeftThePayer() public {
        // Changed with issue 10 (item 3): a payment is measured where it leaves the payer. A fee the token takes on
        // the way is the receiver's loss; the settlement is paid in full (it used to be PartiallyPaid at what
        // arrived, and `collect` then pulled the payer again).
        mock.setMode(MockToken.Mode.Fee);
        mock.setFeeBps(100); // 1 %
        uint256 payerBefore = mock.balanceOf(payer);
        a.settle(0);
        Settlement memory s = a.settlement(0);
        assertEq(s.paid, 140_000);
        assertEq(uint8(s.status), uint8(PaymentStatus.Paid));
        assertEq(a.outstanding(), 0);
        assertEq(payerBefore - mock.balanceOf(payer), 140_000);
        assertEq(mock.balanceOf(payee), 138_600);
        vm.expectRevert(
            abi.encodeWithSelector(
                IBillingAgreement.BillingAgreement_InvalidPaymentStatus.selector, uint32(0), PaymentStatus.Paid
            )
        );
        a.collect(0);
    }

    function test_ReentrancyDuringPullIsBlocked() public {
        mock.setMode(MockToken.Mode.Reenter);
        mock.setReenter(address(a), abi.encodeCall(a.collect, (0)));
        a.settle(0);
        assertFalse(mock.reenterSucceeded());
        assertEq(mock.reenterResult(), abi.encodeWithSelector(IBillingAgreement.BillingAgreement_Reentrancy.selector));
        assertEq(a.settlement(0).paid, 140_000);
        assertEq(mock.balanceOf(payee), 140_000);
        // The lock is released afterwards.
        assertEq(a.status().nextPeriodToSettle, 1);
        vm.prank(payee);
        a.pause();
    }

    function test_CollectAfterFailedPull() public {
        vm.prank(payer);
        mock.approve(address(a), 0);
        a.settle(0);
        vm.prank(payer);
        mock.approve(address(a), 140_000);
        vm.expectEmit(address(a));
        emit IBillingAgreement.PaymentConfirmed(0, 140_000, bytes32(0));
        vm.prank(stranger);
        assertEq(a.collect(0), 140_000);
        assertEq(a.outstanding(), 0);
    }

    function test_CollectFailureChangesNothing() public {
        vm.prank(payer);
        mock.approve(address(a), 0);
        a.settle(0);
        vm.expectEmit(address(a));
        emit IBillingAgreement.TokenPullFailed(0, 140_000);
        assertEq(a.collect(0), 0);
        assertEq(uint8(a.settlement(0).status), uint8(PaymentStatus.Due));
    }

    function test_RevertWhen_CollectOnFiat() public {
        BillingAgreement b = _createActive(_fiatTerms());
        vm.expectRevert(IBillingAgreement.BillingAgreement_NotToken.selector);
        b.collect(0);
    }

    function test_RevertWhen_CollectNotSettled() public {
        vm.expectRevert(abi.encodeWithSelector(IBillingAgreement.BillingAgreement_NotSettled.selector, uint32(0)));
        a.collect(0);
    }

    function test_RevertWhen_CollectPaid() public {
        a.settle(0);
        vm.expectRevert(
            abi.encodeWithSelector(
                IBillingAgreement.BillingAgreement_InvalidPaymentStatus.selector, uint32(0), PaymentStatus.Paid
            )
        );
        a.collect(0);
    }

    function test_CollectWhileDisputedTakesOnlyTheUndisputedRest() public {
        // Changed with issue 10 (item 6): `collect` used to revert while Disputed; now the undisputed rest is
        // collectable and the disputed part waits for the resolution.
        vm.prank(payer);
        mock.approve(address(a), 0);
        a.settle(0);
        vm.prank(payer);
        a.dispute(0, 40_000, bytes32(0));
        vm.prank(payer);
        mock.approve(address(a), type(uint256).max);
        vm.expectEmit(address(a));
        emit IBillingAgreement.PaymentConfirmed(0, 100_000, bytes32(0));
        assertEq(a.collect(0), 100_000);
        Settlement memory s = a.settlement(0);
        assertEq(s.paid, 100_000);
        assertEq(uint8(s.status), uint8(PaymentStatus.Disputed));
        assertEq(s.disputed, 40_000);
        assertEq(a.outstanding(), 40_000);
        // Nothing more until the dispute ends.
        vm.expectEmit(address(a));
        emit IBillingAgreement.TokenPullFailed(0, 0);
        assertEq(a.collect(0), 0);
        assertEq(mock.balanceOf(payee), 100_000);
        // Decided at 120,000 after the window: 20,000 more is collectable.
        vm.warp(s.settledAt + DISPUTE_WINDOW);
        vm.prank(operator);
        a.decideDispute(0, 120_000);
        assertEq(uint8(a.settlement(0).status), uint8(PaymentStatus.PartiallyPaid));
        assertEq(a.collect(0), 20_000);
        assertEq(uint8(a.settlement(0).status), uint8(PaymentStatus.Paid));
        assertEq(a.outstanding(), 0);
    }

    function test_CollectNothingWhenAllDisputed() public {
        vm.prank(payer);
        mock.approve(address(a), 0);
        a.settle(0);
        vm.prank(payer);
        a.dispute(0, 140_000, bytes32(0));
        vm.prank(payer);
        mock.approve(address(a), type(uint256).max);
        assertEq(a.collect(0), 0);
        assertEq(mock.balanceOf(payee), 0);
        assertEq(a.outstanding(), 140_000);
    }
}
