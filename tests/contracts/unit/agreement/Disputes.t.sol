// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {BaseTest} from "../../utils/BaseTest.sol";
import {BillingAgreement} from "../../../../contracts/BillingAgreement.sol";
import {IBillingAgreement} from "../../../../contracts/interfaces/IBillingAgreement.sol";
import {PaymentStatus, Settlement} from "../../../../contracts/types/BillingTypes.sol";

/// @notice dispute, resolveDispute and writeOff.
contract DisputesTest is BaseTest {
    BillingAgreement internal a;
    bytes32 internal constant REASON = keccak256("usage double counted");

    function setUp() public override {
        super.setUp();
        a = _createActive(_fiatTerms());
        _settleWith(a, 0, 1500); // 140_000 due
    }

    function _resolveAction(uint96 agreed) internal view returns (bytes32) {
        uint256 word;
        Settlement memory s = a.settlement(0);
        word = uint256(s.amount) | (uint256(s.paid) << 96) | (uint256(s.settledAt) << 192)
            | (uint256(uint8(s.status)) << 232) | (uint256(s.termsVersion) << 240);
        return keccak256(
            abi.encode(
                keccak256("ResolveDispute(uint32 period,uint96 agreedAmount,uint256 settlement)"),
                uint32(0),
                agreed,
                word
            )
        );
    }

    // ---- dispute ----

    function test_PayerDisputes() public {
        vm.expectEmit(address(a));
        emit IBillingAgreement.SettlementDisputed(0, payer, REASON);
        vm.prank(payer);
        a.dispute(0, REASON);
        assertEq(uint8(a.settlement(0).status), uint8(PaymentStatus.Disputed));
        assertEq(a.outstanding(), 140_000);
    }

    function test_DisputeAPaidSettlement() public {
        vm.prank(gateway);
        a.confirmPayment(0, 140_000, bytes32(0));
        vm.prank(payer);
        a.dispute(0, REASON);
        assertEq(uint8(a.settlement(0).status), uint8(PaymentStatus.Disputed));
    }

    function test_RevertWhen_DisputeByPayee() public {
        vm.prank(payee);
        vm.expectRevert(abi.encodeWithSelector(IBillingAgreement.BillingAgreement_NotPayer.selector, payee));
        a.dispute(0, REASON);
    }

    function test_RevertWhen_DisputeNotSettled() public {
        vm.prank(payer);
        vm.expectRevert(abi.encodeWithSelector(IBillingAgreement.BillingAgreement_NotSettled.selector, uint32(1)));
        a.dispute(1, REASON);
    }

    function test_RevertWhen_DisputedTwice() public {
        vm.prank(payer);
        a.dispute(0, REASON);
        vm.prank(payer);
        vm.expectRevert(
            abi.encodeWithSelector(
                IBillingAgreement.BillingAgreement_InvalidPaymentStatus.selector, uint32(0), PaymentStatus.Disputed
            )
        );
        a.dispute(0, REASON);
    }

    function test_RevertWhen_DisputeWindowClosed() public {
        uint40 closedAt = a.settlement(0).settledAt + DISPUTE_WINDOW;
        vm.warp(closedAt);
        vm.prank(payer);
        vm.expectRevert(
            abi.encodeWithSelector(IBillingAgreement.BillingAgreement_DisputeWindowClosed.selector, uint32(0), closedAt)
        );
        a.dispute(0, REASON);
    }

    // ---- resolveDispute ----

    function test_ResolveAtLowerAmountByConsent() public {
        vm.prank(gateway);
        a.confirmPayment(0, 40_000, bytes32(0));
        vm.prank(payer);
        a.dispute(0, REASON);
        bytes32 action = _resolveAction(100_000);
        vm.expectEmit(address(a));
        emit IBillingAgreement.ConsentGiven(payer, action);
        vm.prank(payer);
        a.resolveDispute(0, 100_000);
        assertEq(uint8(a.settlement(0).status), uint8(PaymentStatus.Disputed));
        vm.expectEmit(address(a));
        emit IBillingAgreement.DisputeResolved(0, 140_000, 100_000, PaymentStatus.PartiallyPaid);
        vm.prank(payee);
        a.resolveDispute(0, 100_000);
        Settlement memory s = a.settlement(0);
        assertEq(s.amount, 100_000);
        assertEq(s.paid, 40_000);
        assertEq(uint8(s.status), uint8(PaymentStatus.PartiallyPaid));
        assertEq(a.outstanding(), 60_000);
    }

    function test_ResolveToPaidAndDue() public {
        vm.prank(payer);
        a.dispute(0, REASON);
        vm.prank(payer);
        a.resolveDispute(0, 0);
        vm.prank(payee);
        a.resolveDispute(0, 0);
        assertEq(uint8(a.settlement(0).status), uint8(PaymentStatus.Paid));
        assertEq(a.outstanding(), 0);

        BillingAgreement b = _create(_fiatTerms(), bytes32(uint256(7)));
        _activate(b, _fiatTerms());
        _settleWith(b, 0, 1500);
        vm.prank(payer);
        b.dispute(0, REASON);
        vm.prank(payee);
        b.resolveDispute(0, 140_000);
        vm.prank(payer);
        b.resolveDispute(0, 140_000);
        assertEq(uint8(b.settlement(0).status), uint8(PaymentStatus.Due));
    }

    function test_ConsentLapsesWhenSettlementChanges() public {
        vm.prank(payer);
        a.dispute(0, REASON);
        vm.prank(payer);
        a.resolveDispute(0, 100_000);
        vm.prank(gateway);
        a.confirmPayment(0, 1, bytes32(0)); // the settlement changed: the payer's consent no longer matches
        vm.prank(payee);
        a.resolveDispute(0, 100_000);
        assertEq(uint8(a.settlement(0).status), uint8(PaymentStatus.Disputed));
    }

    function test_RevertWhen_ResolveByStranger() public {
        vm.prank(payer);
        a.dispute(0, REASON);
        vm.prank(operator);
        vm.expectRevert(abi.encodeWithSelector(IBillingAgreement.BillingAgreement_NotParty.selector, operator));
        a.resolveDispute(0, 1);
    }

    function test_RevertWhen_ResolveNotSettled() public {
        vm.prank(payer);
        vm.expectRevert(abi.encodeWithSelector(IBillingAgreement.BillingAgreement_NotSettled.selector, uint32(5)));
        a.resolveDispute(5, 1);
    }

    function test_RevertWhen_ResolveNotDisputed() public {
        vm.prank(payer);
        vm.expectRevert(
            abi.encodeWithSelector(
                IBillingAgreement.BillingAgreement_InvalidPaymentStatus.selector, uint32(0), PaymentStatus.Due
            )
        );
        a.resolveDispute(0, 1);
    }

    function test_RevertWhen_AgreedAboveBilled() public {
        vm.prank(payer);
        a.dispute(0, REASON);
        vm.prank(payer);
        vm.expectRevert(
            abi.encodeWithSelector(
                IBillingAgreement.BillingAgreement_InvalidAgreedAmount.selector,
                uint32(0),
                uint96(140_001),
                uint96(140_000),
                uint96(0)
            )
        );
        a.resolveDispute(0, 140_001);
    }

    function test_RevertWhen_AgreedBelowPaid() public {
        vm.prank(gateway);
        a.confirmPayment(0, 50_000, bytes32(0));
        vm.prank(payer);
        a.dispute(0, REASON);
        vm.prank(payee);
        vm.expectRevert(
            abi.encodeWithSelector(
                IBillingAgreement.BillingAgreement_InvalidAgreedAmount.selector,
                uint32(0),
                uint96(49_999),
                uint96(140_000),
                uint96(50_000)
            )
        );
        a.resolveDispute(0, 49_999);
    }

    function test_RevertWhen_ResolveConsentTwice() public {
        vm.prank(payer);
        a.dispute(0, REASON);
        bytes32 action = _resolveAction(1);
        vm.prank(payer);
        a.resolveDispute(0, 1);
        vm.prank(payer);
        vm.expectRevert(
            abi.encodeWithSelector(IBillingAgreement.BillingAgreement_AlreadyConsented.selector, payer, action)
        );
        a.resolveDispute(0, 1);
    }

    // ---- writeOff ----

    function test_WriteOffByConsent() public {
        vm.prank(gateway);
        a.confirmPayment(0, 40_000, bytes32(0));
        vm.prank(payee);
        a.writeOff(0);
        assertEq(uint8(a.settlement(0).status), uint8(PaymentStatus.PartiallyPaid));
        vm.expectEmit(address(a));
        emit IBillingAgreement.SettlementWrittenOff(0, 100_000);
        vm.prank(payer);
        a.writeOff(0);
        Settlement memory s = a.settlement(0);
        assertEq(uint8(s.status), uint8(PaymentStatus.WrittenOff));
        assertEq(s.amount, 140_000);
        assertEq(s.paid, 40_000);
        assertEq(a.outstanding(), 0);
    }

    function test_WriteOffDisputed() public {
        vm.prank(payer);
        a.dispute(0, REASON);
        vm.prank(payer);
        a.writeOff(0);
        vm.prank(payee);
        a.writeOff(0);
        assertEq(uint8(a.settlement(0).status), uint8(PaymentStatus.WrittenOff));
    }

    function test_RevertWhen_WriteOffByStranger() public {
        vm.prank(gateway);
        vm.expectRevert(abi.encodeWithSelector(IBillingAgreement.BillingAgreement_NotParty.selector, gateway));
        a.writeOff(0);
    }

    function test_RevertWhen_WriteOffNotSettled() public {
        vm.prank(payer);
        vm.expectRevert(abi.encodeWithSelector(IBillingAgreement.BillingAgreement_NotSettled.selector, uint32(2)));
        a.writeOff(2);
    }

    function test_RevertWhen_WriteOffPaid() public {
        vm.prank(gateway);
        a.confirmPayment(0, 140_000, bytes32(0));
        vm.prank(payer);
        vm.expectRevert(
            abi.encodeWithSelector(
                IBillingAgreement.BillingAgreement_InvalidPaymentStatus.selector, uint32(0), PaymentStatus.Paid
            )
        );
        a.writeOff(0);
    }

    function test_RevertWhen_WriteOffConsentGivenTwice() public {
        Settlement memory s = a.settlement(0);
        uint256 word = uint256(s.amount) | (uint256(s.paid) << 96) | (uint256(s.settledAt) << 192)
            | (uint256(uint8(s.status)) << 232) | (uint256(s.termsVersion) << 240);
        bytes32 action = keccak256(abi.encode(keccak256("WriteOff(uint32 period,uint256 settlement)"), uint32(0), word));
        vm.prank(payee);
        a.writeOff(0);
        vm.prank(payee);
        vm.expectRevert(
            abi.encodeWithSelector(IBillingAgreement.BillingAgreement_AlreadyConsented.selector, payee, action)
        );
        a.writeOff(0);
    }

    function test_RevertWhen_WriteOffTwice() public {
        vm.prank(payer);
        a.writeOff(0);
        vm.prank(payee);
        a.writeOff(0);
        vm.prank(payer);
        vm.expectRevert(
            abi.encodeWithSelector(
                IBillingAgreement.BillingAgreement_InvalidPaymentStatus.selector, uint32(0), PaymentStatus.WrittenOff
            )
        );
        a.writeOff(0);
    }
}
