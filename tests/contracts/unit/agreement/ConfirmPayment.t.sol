// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {Clones} from "@openzeppelin/contracts/proxy/Clones.sol";
import {Vm} from "forge-std/Vm.sol";

import {BaseTest} from "../../utils/BaseTest.sol";
import {BillingAgreement} from "../../../../contracts/BillingAgreement.sol";
import {IBillingAgreement} from "../../../../contracts/interfaces/IBillingAgreement.sol";
import {PaymentStatus, Settlement} from "../../../../contracts/types/BillingTypes.sol";

contract ConfirmPaymentTest is BaseTest {
    BillingAgreement internal a;
    bytes32 internal constant REF = keccak256("bank ref 2025-02-14/0001");

    function setUp() public override {
        super.setUp();
        a = _createActive(_fiatTerms());
        _settleWith(a, 0, 1500); // 140_000 due
    }

    function test_PartialThenFull() public {
        vm.expectEmit(address(a));
        emit IBillingAgreement.PaymentConfirmed(0, 40_000, REF);
        vm.prank(gateway);
        a.confirmPayment(0, 40_000, REF);
        assertEq(a.outstanding(), 100_000);
        assertEq(uint8(a.settlement(0).status), uint8(PaymentStatus.PartiallyPaid));

        vm.expectEmit(address(a));
        emit IBillingAgreement.PaymentConfirmed(0, 100_000, REF);
        vm.prank(gateway);
        a.confirmPayment(0, 100_000, REF);
        Settlement memory s = a.settlement(0);
        assertEq(s.paid, 140_000);
        assertEq(uint8(s.status), uint8(PaymentStatus.Paid));
        assertEq(a.outstanding(), 0);
    }

    function test_EventTopicMatchesDeclaration() public {
        // `confirmPayment` emits from assembly with the selector as a literal: it must be the declared event's.
        vm.recordLogs();
        vm.prank(gateway);
        a.confirmPayment(0, 40_000, REF);
        Vm.Log[] memory logs = vm.getRecordedLogs();
        assertEq(logs.length, 1);
        assertEq(logs[0].emitter, address(a));
        assertEq(logs[0].topics.length, 2);
        assertEq(logs[0].topics[0], IBillingAgreement.PaymentConfirmed.selector);
        assertEq(logs[0].topics[1], bytes32(uint256(0)));
        assertEq(logs[0].data, abi.encode(uint96(40_000), REF));
    }

    function test_WritesSettlementAndRunningTotal() public {
        vm.prank(gateway);
        a.confirmPayment(0, 40_000, REF);
        Settlement memory s = a.settlement(0);
        assertEq(s.amount, 140_000);
        assertEq(s.paid, 40_000);
        assertEq(s.settledAt, START + 31 days + GRACE);
        assertEq(s.termsVersion, 1);
        assertEq(a.outstanding(), 100_000);
        assertEq(a.status().outstanding, 100_000);
    }

    function test_ReturnedThenPaidInPart() public {
        vm.prank(gateway);
        a.confirmPayment(0, 140_000, REF);
        vm.prank(gateway);
        a.reportReturn(0, 140_000, "MD06", REF);
        vm.prank(gateway);
        a.confirmPayment(0, 1, REF);
        assertEq(uint8(a.settlement(0).status), uint8(PaymentStatus.PartiallyPaid));
        assertEq(a.outstanding(), 139_999);
    }

    function test_AfterReturnReopens() public {
        vm.prank(gateway);
        a.confirmPayment(0, 140_000, REF);
        vm.prank(gateway);
        a.reportReturn(0, 140_000, "MD06", REF);
        vm.prank(gateway);
        a.confirmPayment(0, 140_000, REF);
        assertEq(uint8(a.settlement(0).status), uint8(PaymentStatus.Paid));
    }

    function test_WhileDisputedStaysDisputed() public {
        vm.prank(payer);
        a.dispute(0, 140_000, keccak256("wrong usage"));
        vm.prank(gateway);
        a.confirmPayment(0, 10_000, REF);
        Settlement memory s = a.settlement(0);
        assertEq(uint8(s.status), uint8(PaymentStatus.Disputed));
        assertEq(s.paid, 10_000);
    }

    function test_RevertWhen_NotInitialized() public {
        // A clone of the implementation the factory did not initialize has no settlement to pay.
        (bytes memory packed,) = factory.encodeTerms(_fiatTerms());
        address foreign =
            Clones.cloneWithImmutableArgs(factory.implementation(), abi.encodePacked(payer, payee, packed));
        vm.prank(gateway);
        vm.expectRevert(abi.encodeWithSelector(IBillingAgreement.BillingAgreement_NotSettled.selector, uint32(0)));
        BillingAgreement(foreign).confirmPayment(0, 1, REF);
    }

    function test_RevertWhen_CallerNotGateway() public {
        vm.prank(payee);
        vm.expectRevert(abi.encodeWithSelector(IBillingAgreement.BillingAgreement_NotGateway.selector, payee));
        a.confirmPayment(0, 1, REF);
    }

    function test_RevertWhen_AmountZero() public {
        vm.prank(gateway);
        vm.expectRevert(IBillingAgreement.BillingAgreement_ZeroAmount.selector);
        a.confirmPayment(0, 0, REF);
    }

    function test_RevertWhen_TokenAgreement() public {
        BillingAgreement b = _createActive(_tokenTerms());
        vm.prank(gateway);
        vm.expectRevert(IBillingAgreement.BillingAgreement_NotFiat.selector);
        b.confirmPayment(0, 1, REF);
    }

    function test_RevertWhen_NotSettled() public {
        vm.prank(gateway);
        vm.expectRevert(abi.encodeWithSelector(IBillingAgreement.BillingAgreement_NotSettled.selector, uint32(1)));
        a.confirmPayment(1, 1, REF);
    }

    function test_RevertWhen_Overpaid() public {
        vm.prank(gateway);
        a.confirmPayment(0, 100_000, REF);
        vm.prank(gateway);
        vm.expectRevert(
            abi.encodeWithSelector(
                IBillingAgreement.BillingAgreement_Overpayment.selector, uint32(0), uint96(40_001), uint96(40_000)
            )
        );
        a.confirmPayment(0, 40_001, REF);
    }

    function test_RevertWhen_WrittenOff() public {
        vm.prank(payer);
        a.writeOff(0);
        vm.prank(payee);
        a.writeOff(0);
        vm.prank(gateway);
        vm.expectRevert(
            abi.encodeWithSelector(
                IBillingAgreement.BillingAgreement_InvalidPaymentStatus.selector, uint32(0), PaymentStatus.WrittenOff
            )
        );
        a.confirmPayment(0, 1, REF);
    }
}
