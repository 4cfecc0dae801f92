// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {BaseTest} from "../../utils/BaseTest.sol";
import {BillingAgreement} from "../../../../contracts/BillingAgreement.sol";
import {IBillingAgreement} from "../../../../contracts/interfaces/IBillingAgreement.sol";
import {MockToken} from "../../../../contracts/mocks/MockToken.sol";
import {PaymentStatus, Settlement, Terms} from "../../../../contracts/types/BillingTypes.sol";

/// @notice `outstanding` (and `status().outstanding`) is a running total in the core slot (bits 160-255) that every
///         settlement, payment, token pull, return, dispute resolution, arbiter decision and write-off updates; the
///         views read it and never scan settlements.
contract OutstandingTest is BaseTest {
    uint96 internal constant MINIMUM = 10_000;
    BillingAgreement internal a;

    function setUp() public override {
        super.setUp();
        Terms memory t = _fiatTerms();
        t.minimumCommitment = MINIMUM; // every period owes at least this
        a = _createActive(t);
    }

    function _settleNext(BillingAgreement x) internal returns (uint32 period) {
        period = x.status().nextPeriodToSettle;
        _warpToSettle(x, period);
        x.settle(period);
    }

    function _pay(uint32 period, uint96 amount) internal {
        vm.prank(gateway);
        a.confirmPayment(period, amount, bytes32(0));
    }

    /// @dev Checks the running total against the sum over every settlement, in both views and the core slot; returns
    ///      it.
    function _total(BillingAgreement x) internal view returns (uint256 sum) {
        uint32 next = x.status().nextPeriodToSettle;
        for (uint32 p; p < next; ++p) {
            Settlement memory s = x.settlement(p);
            if (s.status != PaymentStatus.WrittenOff) sum += s.amount - s.paid;
        }
        assertEq(x.outstanding(), sum, "outstanding()");
        assertEq(x.status().outstanding, sum, "status().outstanding");
        assertEq(uint256(vm.load(address(x), bytes32(0))) >> 160, sum, "core bits 160-255");
    }

    function test_SettleAddsTheAmount() public {
        assertEq(_total(a), 0);
        _settleNext(a);
        assertEq(_total(a), MINIMUM);
        _settleNext(a);
        assertEq(_total(a), 2 * MINIMUM);
    }

    function test_NothingOwedAddsNothing() public {
        BillingAgreement b = _create(_fiatTerms(), bytes32(uint256(1))); // no minimum, no usage: nothing owed
        _activate(b, _fiatTerms());
        _settleNext(b);
        assertEq(uint8(b.settlement(0).status), uint8(PaymentStatus.Paid));
        assertEq(_total(b), 0);
    }

    function test_PaymentLowersAndReturnRaises() public {
        _settleNext(a);
        _settleNext(a);
        _pay(0, 4000);
        assertEq(_total(a), 2 * MINIMUM - 4000);
        _pay(1, MINIMUM);
        assertEq(_total(a), MINIMUM - 4000);
        vm.prank(gateway);
        a.reportReturn(1, 2500, "AM04", bytes32(0));
        assertEq(_total(a), MINIMUM - 4000 + 2500);
    }

    function test_ConfirmPaymentWritesSettlementAndTotal() public {
        _settleNext(a);
        vm.record();
        _pay(0, 4000);
        (, bytes32[] memory writes) = vm.accesses(address(a));
        bytes32 settlementSlot = keccak256(abi.encode(uint256(0), uint256(3))); // _settlements[0]
        assertEq(writes.length, 2);
        assertTrue(writes[0] == bytes32(0) || writes[1] == bytes32(0), "core slot");
        assertTrue(writes[0] == settlementSlot || writes[1] == settlementSlot, "settlement");
        assertEq(_total(a), MINIMUM - 4000);
    }

    function test_DisputeLeavesTotalResolutionLowersIt() public {
        _settleNext(a);
        _settleNext(a);
        _pay(0, 1000);
        vm.prank(payer);
        a.dispute(0, 6000, bytes32(0));
        assertEq(_total(a), 2 * MINIMUM - 1000); // disputed is still open until resolved
        vm.prank(payer);
        a.resolveDispute(0, 7000);
        vm.prank(payee);
        a.resolveDispute(0, 7000);
        assertEq(_total(a), MINIMUM + 7000 - 1000);
    }

    function test_ArbiterDecisionLowersTotal() public {
        _settleNext(a);
        vm.prank(payer);
        a.dispute(0, 6000, bytes32(0));
        vm.warp(a.settlement(0).settledAt + DISPUTE_WINDOW);
        vm.prank(operator);
        a.decideDispute(0, 5000);
        assertEq(_total(a), 5000);
    }

    function test_WriteOffRemovesWhatIsOpen() public {
        _settleNext(a);
        _settleNext(a);
        _pay(0, 3000);
        vm.prank(payer);
        a.writeOff(0);
        assertEq(_total(a), 2 * MINIMUM - 3000); // one consent changes nothing
        vm.prank(payee);
        a.writeOff(0);
        assertEq(_total(a), MINIMUM);
    }

    function test_TokenPullLowersTotal() public {
        (BillingAgreement b,) = _mockTokenAgreement();
        (uint40 start,) = b.periodBounds(0);
        vm.warp(start);
        _report(b, 0, 0, 1500);
        _settleNext(b);
        assertEq(uint8(b.settlement(0).status), uint8(PaymentStatus.Paid));
        assertEq(_total(b), 0);
    }

    function test_TokenCollectLowersTotal() public {
        (BillingAgreement b, MockToken mock) = _mockTokenAgreement();
        vm.prank(payer);
        mock.approve(address(b), 40_000);
        (uint40 start,) = b.periodBounds(0);
        vm.warp(start);
        _report(b, 0, 0, 1500);
        _settleNext(b); // the pull of 140,000 fails: allowance 40,000
        assertEq(_total(b), 140_000);
        vm.prank(payer);
        mock.approve(address(b), type(uint256).max);
        b.collect(0);
        assertEq(_total(b), 0);
    }

    function test_RevertWhen_TotalWouldOverflow() public {
        // Two capped periods at 2^96 - 1 each: the second settlement would take the total past what it holds.
        Terms memory t = _fiatTerms();
        t.priceDecimals = 0;
        t.cap = type(uint96).max;
        t.meters[0] = _perUnitMeter(type(uint96).max);
        BillingAgreement b = _createActive(t);
        _settleWith(b, 0, 1);
        assertEq(_total(b), type(uint96).max);
        (uint40 start1,) = b.periodBounds(1);
        vm.warp(start1);
        _report(b, 1, 0, 1);
        _warpToSettle(b, 1);
        vm.expectRevert(
            abi.encodeWithSelector(
                IBillingAgreement.BillingAgreement_OutstandingOverflow.selector,
                uint32(1),
                2 * uint256(type(uint96).max)
            )
        );
        b.settle(1);
        // Paid, period 0 makes room for period 1; a return of period 0 then would not fit.
        vm.prank(gateway);
        b.confirmPayment(0, type(uint96).max, bytes32(0));
        b.settle(1);
        assertEq(_total(b), type(uint96).max);
        vm.prank(gateway);
        vm.expectRevert(
            abi.encodeWithSelector(
                IBillingAgreement.BillingAgreement_OutstandingOverflow.selector,
                uint32(0),
                uint256(type(uint96).max) + 1
            )
        );
        b.reportReturn(0, 1, "AM04", bytes32(0));
    }
}
