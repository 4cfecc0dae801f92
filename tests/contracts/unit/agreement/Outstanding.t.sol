// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {BaseTest} from "../../utils/BaseTest.sol";
import {BillingAgreement} from "../../../../contracts/BillingAgreement.sol";
import {MockToken} from "../../../../contracts/mocks/MockToken.sol";
import {PaymentStatus, Settlement, Terms} from "../../../../contracts/types/BillingTypes.sol";

// Lint exceptions in this file, each deliberate (forge lint):
// - unsafe-typecast: the core word is unpacked with narrowing casts, like the contract does.
// forge-lint: disable-start(unsafe-typecast)
/// @notice `outstanding` is computed from the settlements, from the first-open hint in the core slot that `settle`
///         advances (bounded) and returns and disputes move back; payments never write the core slot.
contract OutstandingTest is BaseTest {
    uint256 internal constant MINIMUM = 10_000;
    BillingAgreement internal a;

    function setUp() public override {
        super.setUp();
        Terms memory t = _fiatTerms();
        t.minimumCommitment = uint96(MINIMUM); // every period owes at least this
        a = _createActive(t);
    }

    /// @dev The first-open hint: bits 144-175 of the core word (slot 0).
    function _firstOpen(BillingAgreement x) internal view returns (uint32) {
        return uint32(uint256(vm.load(address(x), bytes32(0))) >> 144);
    }

    function _settleNext(BillingAgreement x) internal returns (uint32 period) {
        period = x.status().nextPeriodToSettle;
        _warpToSettle(x, period);
        x.settle(period);
    }

    function _pay(uint32 period) internal {
        Settlement memory s = a.settlement(period);
        vm.prank(gateway);
        a.confirmPayment(period, s.amount - s.paid, bytes32(0));
    }

    /// @dev The sum the view must return, computed over every settlement.
    function _sumOfOpen(BillingAgreement x) internal view returns (uint256 sum) {
        uint32 next = x.status().nextPeriodToSettle;
        for (uint32 p; p < next; ++p) {
            Settlement memory s = x.settlement(p);
            if (s.status != PaymentStatus.WrittenOff) sum += s.amount - s.paid;
        }
        assertEq(x.outstanding(), sum);
        assertEq(x.status().outstanding, sum);
    }

    /// @dev Every period below the hint is Paid or WrittenOff.
    function _checkHint(BillingAgreement x) internal view {
        uint32 h = _firstOpen(x);
        assertLe(h, x.status().nextPeriodToSettle);
        for (uint32 p; p < h; ++p) {
            PaymentStatus st = x.settlement(p).status;
            assertTrue(st == PaymentStatus.Paid || st == PaymentStatus.WrittenOff);
        }
    }

    function test_ConfirmPaymentWritesOnlyTheSettlement() public {
        _settleNext(a);
        vm.record();
        vm.prank(gateway);
        a.confirmPayment(0, 4000, bytes32(0));
        (bytes32[] memory reads, bytes32[] memory writes) = vm.accesses(address(a));
        bytes32 settlementSlot = keccak256(abi.encode(uint256(0), uint256(3))); // _settlements[0]
        assertEq(writes.length, 1);
        assertEq(writes[0], settlementSlot);
        for (uint256 i; i < reads.length; ++i) {
            assertTrue(reads[i] != bytes32(0), "core slot read");
        }
        assertEq(a.outstanding(), MINIMUM - 4000);
    }

    function test_SettleMovesHintOverPaidPeriods() public {
        _settleNext(a); // 0
        assertEq(_firstOpen(a), 0);
        _pay(0);
        assertEq(_firstOpen(a), 0); // payments do not touch it
        _settleNext(a); // 1: passes 0
        assertEq(_firstOpen(a), 1);
        _settleNext(a); // 2: 1 is open, stays
        assertEq(_firstOpen(a), 1);
        assertEq(_sumOfOpen(a), 2 * MINIMUM);
        _checkHint(a);
    }

    function test_HintStepsAreBoundedPerSettlement() public {
        for (uint256 i; i < 10; ++i) {
            _settleNext(a);
        }
        for (uint32 p; p < 10; ++p) {
            _pay(p);
        }
        assertEq(_sumOfOpen(a), 0);
        assertEq(_firstOpen(a), 0);
        _settleNext(a); // 10: four steps
        assertEq(_firstOpen(a), 4);
        _settleNext(a); // 11: four more
        assertEq(_firstOpen(a), 8);
        _settleNext(a); // 12: 8 and 9 are paid, 10 is open
        assertEq(_firstOpen(a), 10);
        assertEq(_sumOfOpen(a), 3 * MINIMUM);
        _checkHint(a);
    }

    function test_ReturnBelowHintMovesItBack() public {
        _settleNext(a);
        _pay(0);
        _settleNext(a);
        _pay(1);
        _settleNext(a);
        assertEq(_firstOpen(a), 2);
        vm.prank(gateway);
        a.reportReturn(0, 2500, "AM04", bytes32(0));
        assertEq(_firstOpen(a), 0);
        assertEq(_sumOfOpen(a), MINIMUM + 2500);
        _checkHint(a);
        // A return at or above the hint leaves it.
        vm.prank(gateway);
        a.reportReturn(1, 1000, "AM04", bytes32(0));
        assertEq(_firstOpen(a), 0);
        assertEq(_sumOfOpen(a), MINIMUM + 3500);
    }

    function test_DisputeOfPaidBelowHintMovesItBack() public {
        _settleNext(a);
        _pay(0);
        _settleNext(a);
        assertEq(_firstOpen(a), 1);
        vm.prank(payer);
        a.dispute(0, bytes32(0));
        assertEq(_firstOpen(a), 0);
        _checkHint(a);
        assertEq(_sumOfOpen(a), MINIMUM);
        // Resolved in full again, the next settlement passes it once more.
        vm.prank(payer);
        a.resolveDispute(0, uint96(MINIMUM));
        vm.prank(payee);
        a.resolveDispute(0, uint96(MINIMUM));
        _pay(1);
        _settleNext(a);
        assertEq(_firstOpen(a), 2);
        _checkHint(a);
    }

    function test_WriteOffLetsHintPass() public {
        _settleNext(a);
        vm.prank(payer);
        a.writeOff(0);
        vm.prank(payee);
        a.writeOff(0);
        assertEq(_sumOfOpen(a), 0);
        _settleNext(a);
        assertEq(_firstOpen(a), 1);
        assertEq(_sumOfOpen(a), MINIMUM);
    }

    function test_NothingOwedPassesHintAtOnce() public {
        BillingAgreement b = _createActive(_fiatTerms()); // no minimum: no usage, nothing owed
        _settleNext(b);
        assertEq(uint8(b.settlement(0).status), uint8(PaymentStatus.Paid));
        assertEq(_firstOpen(b), 1);
        assertEq(_sumOfOpen(b), 0);
    }

    function test_TokenPullPaidPassesHint() public {
        (BillingAgreement b,) = _mockTokenAgreement();
        (uint40 start,) = b.periodBounds(0);
        vm.warp(start);
        _report(b, 0, 0, 1500);
        _settleNext(b);
        assertEq(uint8(b.settlement(0).status), uint8(PaymentStatus.Paid));
        assertEq(_firstOpen(b), 1);
        assertEq(_sumOfOpen(b), 0);
    }

    function test_TokenCollectPaidPassesHint() public {
        (BillingAgreement b, MockToken mock) = _mockTokenAgreement();
        vm.prank(payer);
        mock.approve(address(b), 0);
        (uint40 start,) = b.periodBounds(0);
        vm.warp(start);
        _report(b, 0, 0, 1500);
        _settleNext(b);
        assertEq(_firstOpen(b), 0);
        assertEq(_sumOfOpen(b), 140_000);
        vm.prank(payer);
        mock.approve(address(b), type(uint256).max);
        b.collect(0);
        assertEq(_firstOpen(b), 1);
        assertEq(_sumOfOpen(b), 0);
    }
}
// forge-lint: disable-end(unsafe-typecast)
