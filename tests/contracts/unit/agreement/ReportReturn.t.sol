// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {BaseTest} from "../../utils/BaseTest.sol";
import {BillingAgreement} from "../../../../contracts/BillingAgreement.sol";
import {IBillingAgreement} from "../../../../contracts/interfaces/IBillingAgreement.sol";
import {PaymentStatus, Settlement} from "../../../../contracts/types/BillingTypes.sol";

contract ReportReturnTest is BaseTest {
    BillingAgreement internal a;
    bytes32 internal constant REF = keccak256("return ref");

    function setUp() public override {
        super.setUp();
        a = _createActive(_fiatTerms());
        _settleWith(a, 0, 1500); // 140_000 due
        vm.prank(gateway);
        a.confirmPayment(0, 140_000, keccak256("pay"));
    }

    function test_ReturnReopens() public {
        vm.expectEmit(address(a));
        emit IBillingAgreement.PaymentReturned(0, 140_000, "AM04", REF, PaymentStatus.Returned);
        vm.prank(gateway);
        a.reportReturn(0, 140_000, "AM04", REF);
        Settlement memory s = a.settlement(0);
        assertEq(s.paid, 0);
        assertEq(uint8(s.status), uint8(PaymentStatus.Returned));
        assertEq(a.outstanding(), 140_000);
    }

    function test_PartialReturn() public {
        vm.prank(gateway);
        a.reportReturn(0, 40_000, "MS03", REF);
        assertEq(a.settlement(0).paid, 100_000);
        assertEq(a.outstanding(), 40_000);
    }

    function test_WhileDisputedStaysDisputed() public {
        vm.prank(payer);
        a.dispute(0, 1, bytes32(0));
        vm.prank(gateway);
        a.reportReturn(0, 1, "AC04", REF);
        assertEq(uint8(a.settlement(0).status), uint8(PaymentStatus.Disputed));
    }

    function test_RevertWhen_CallerNotGateway() public {
        vm.prank(oracle);
        vm.expectRevert(abi.encodeWithSelector(IBillingAgreement.BillingAgreement_NotGateway.selector, oracle));
        a.reportReturn(0, 1, "AM04", REF);
    }

    function test_RevertWhen_AmountZero() public {
        vm.prank(gateway);
        vm.expectRevert(IBillingAgreement.BillingAgreement_ZeroAmount.selector);
        a.reportReturn(0, 0, "AM04", REF);
    }

    function test_RevertWhen_TokenAgreement() public {
        BillingAgreement b = _createActive(_tokenTerms());
        vm.prank(gateway);
        vm.expectRevert(IBillingAgreement.BillingAgreement_NotFiat.selector);
        b.reportReturn(0, 1, "AM04", REF);
    }

    function test_RevertWhen_NotSettled() public {
        vm.prank(gateway);
        vm.expectRevert(abi.encodeWithSelector(IBillingAgreement.BillingAgreement_NotSettled.selector, uint32(3)));
        a.reportReturn(3, 1, "AM04", REF);
    }

    function test_RevertWhen_ReturnExceedsPaid() public {
        vm.prank(gateway);
        vm.expectRevert(
            abi.encodeWithSelector(
                IBillingAgreement.BillingAgreement_ReturnExceedsPaid.selector,
                uint32(0),
                uint96(140_001),
                uint96(140_000)
            )
        );
        a.reportReturn(0, 140_001, "AM04", REF);
    }

    function test_RevertWhen_WrittenOff() public {
        vm.prank(gateway);
        a.reportReturn(0, 140_000, "AM04", REF);
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
        a.reportReturn(0, 1, "AM04", REF);
    }
}
