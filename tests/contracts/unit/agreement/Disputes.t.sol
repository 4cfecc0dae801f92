// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {BaseTest} from "../../utils/BaseTest.sol";
import {BillingAgreement} from "../../../../contracts/BillingAgreement.sol";
import {IBillingAgreement} from "../../../../contracts/interfaces/IBillingAgreement.sol";
import {PaymentStatus, Settlement, Terms} from "../../../../contracts/types/BillingTypes.sol";

/// @notice dispute, resolveDispute, decideDispute and writeOff.
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
        emit IBillingAgreement.SettlementDisputed(0, payer, 40_000, REASON);
        vm.prank(payer);
        a.dispute(0, 40_000, REASON);
        Settlement memory s = a.settlement(0);
        assertEq(uint8(s.status), uint8(PaymentStatus.Disputed));
        assertEq(s.disputed, 40_000);
        assertEq(s.amount, 140_000);
        // Still owed until resolved: a dispute does not change what is open.
        assertEq(a.outstanding(), 140_000);
    }

    function test_DisputeAPaidSettlement() public {
        vm.prank(gateway);
        a.confirmPayment(0, 140_000, bytes32(0));
        vm.prank(payer);
        a.dispute(0, 140_000, REASON);
        assertEq(uint8(a.settlement(0).status), uint8(PaymentStatus.Disputed));
    }

    function test_RevertWhen_DisputeByPayee() public {
        vm.prank(payee);
        vm.expectRevert(abi.encodeWithSelector(IBillingAgreement.BillingAgreement_NotPayer.selector, payee));
        a.dispute(0, 140_000, REASON);
    }

    function test_RevertWhen_DisputeNotSettled() public {
        vm.prank(payer);
        vm.expectRevert(abi.encodeWithSelector(IBillingAgreement.BillingAgreement_NotSettled.selector, uint32(1)));
        a.dispute(1, 1, REASON);
    }

    function test_RevertWhen_DisputedTwice() public {
        vm.prank(payer);
        a.dispute(0, 140_000, REASON);
        vm.prank(payer);
        vm.expectRevert(
            abi.encodeWithSelector(
                IBillingAgreement.BillingAgreement_InvalidPaymentStatus.selector, uint32(0), PaymentStatus.Disputed
            )
        );
        a.dispute(0, 140_000, REASON);
    }

    function test_RevertWhen_DisputeWindowClosed() public {
        uint40 closedAt = a.settlement(0).settledAt + DISPUTE_WINDOW;
        vm.warp(closedAt);
        vm.prank(payer);
        vm.expectRevert(
            abi.encodeWithSelector(IBillingAgreement.BillingAgreement_DisputeWindowClosed.selector, uint32(0), closedAt)
        );
        a.dispute(0, 140_000, REASON);
    }

    function test_RevertWhen_DisputedAmountZero() public {
        vm.prank(payer);
        vm.expectRevert(
            abi.encodeWithSelector(
                IBillingAgreement.BillingAgreement_InvalidDisputedAmount.selector, uint32(0), uint96(0), uint96(140_000)
            )
        );
        a.dispute(0, 0, REASON);
    }

    function test_RevertWhen_DisputedAmountAboveBilled() public {
        vm.prank(payer);
        vm.expectRevert(
            abi.encodeWithSelector(
                IBillingAgreement.BillingAgreement_InvalidDisputedAmount.selector,
                uint32(0),
                uint96(140_001),
                uint96(140_000)
            )
        );
        a.dispute(0, 140_001, REASON);
    }

    function test_DisputeDuringWindowOnly() public {
        uint40 closesAt = a.settlement(0).settledAt + DISPUTE_WINDOW;
        vm.warp(closesAt - 1);
        vm.prank(payer);
        a.dispute(0, 1, REASON);
        assertEq(a.settlement(0).disputed, 1);
    }

    // ---- resolveDispute ----

    function test_ResolveAtLowerAmountByConsent() public {
        vm.prank(gateway);
        a.confirmPayment(0, 40_000, bytes32(0));
        vm.prank(payer);
        a.dispute(0, 140_000, REASON);
        bytes32 action = _resolveAction(100_000);
        vm.expectEmit(address(a));
        emit IBillingAgreement.ConsentGiven(payer, action);
        vm.prank(payer);
        a.resolveDispute(0, 100_000);
        assertEq(uint8(a.settlement(0).status), uint8(PaymentStatus.Disputed));
        vm.expectEmit(address(a));
        emit IBillingAgreement.DisputeResolved(0, 140_000, 100_000, PaymentStatus.PartiallyPaid, address(0));
        vm.prank(payee);
        a.resolveDispute(0, 100_000);
        Settlement memory s = a.settlement(0);
        assertEq(s.amount, 100_000);
        assertEq(s.paid, 40_000);
        assertEq(s.disputed, 0);
        assertEq(uint8(s.status), uint8(PaymentStatus.PartiallyPaid));
        assertEq(a.outstanding(), 60_000);
    }

    function test_ResolveToPaidAndDue() public {
        vm.prank(payer);
        a.dispute(0, 140_000, REASON);
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
        b.dispute(0, 140_000, REASON);
        vm.prank(payee);
        b.resolveDispute(0, 140_000);
        vm.prank(payer);
        b.resolveDispute(0, 140_000);
        assertEq(uint8(b.settlement(0).status), uint8(PaymentStatus.Due));
    }

    function test_ConsentLapsesWhenSettlementChanges() public {
        vm.prank(payer);
        a.dispute(0, 140_000, REASON);
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
        a.dispute(0, 140_000, REASON);
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
        a.dispute(0, 140_000, REASON);
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
        a.dispute(0, 140_000, REASON);
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
        a.dispute(0, 140_000, REASON);
        bytes32 action = _resolveAction(1);
        vm.prank(payer);
        a.resolveDispute(0, 1);
        vm.prank(payer);
        vm.expectRevert(
            abi.encodeWithSelector(IBillingAgreement.BillingAgreement_AlreadyConsented.selector, payer, action)
        );
        a.resolveDispute(0, 1);
    }

    // ---- decideDispute ----

    /// @dev Disputes `disputed` of period 0 (after `paid` was paid) and waits until the dispute window closed.
    function _disputeAndWait(uint96 paid, uint96 disputed) internal {
        if (paid != 0) {
            vm.prank(gateway);
            a.confirmPayment(0, paid, bytes32(0));
        }
        vm.prank(payer);
        a.dispute(0, disputed, REASON);
        vm.warp(a.settlement(0).settledAt + DISPUTE_WINDOW);
    }

    function test_OperatorDecidesWhenTermsNameNoArbiter() public {
        _disputeAndWait(0, 40_000);
        vm.expectEmit(address(a));
        emit IBillingAgreement.DisputeResolved(0, 140_000, 110_000, PaymentStatus.Due, operator);
        vm.prank(operator);
        a.decideDispute(0, 110_000);
        Settlement memory s = a.settlement(0);
        assertEq(s.amount, 110_000);
        assertEq(s.disputed, 0);
        assertEq(uint8(s.status), uint8(PaymentStatus.Due));
        assertEq(a.outstanding(), 110_000);
    }

    function test_DecisionAtEitherEndOfTheRange() public {
        _disputeAndWait(20_000, 40_000);
        // Lowest: the undisputed part (100,000); the payer's full claim.
        vm.prank(operator);
        a.decideDispute(0, 100_000);
        assertEq(a.settlement(0).amount, 100_000);
        assertEq(uint8(a.settlement(0).status), uint8(PaymentStatus.PartiallyPaid));
        assertEq(a.outstanding(), 80_000);

        BillingAgreement b = _create(_fiatTerms(), bytes32(uint256(8)));
        _activate(b, _fiatTerms());
        _settleWith(b, 0, 1500);
        vm.prank(payer);
        b.dispute(0, 140_000, REASON);
        vm.warp(b.settlement(0).settledAt + DISPUTE_WINDOW);
        // Highest: the billed amount; the dispute rejected in full.
        vm.prank(operator);
        b.decideDispute(0, 140_000);
        assertEq(b.settlement(0).amount, 140_000);
        assertEq(uint8(b.settlement(0).status), uint8(PaymentStatus.Due));
        assertEq(b.outstanding(), 140_000);
    }

    function test_DecisionNeverBelowWhatIsPaid() public {
        // Paid 130,000, disputed 40,000: the undisputed part (100,000) is below what is paid, so the lowest
        // decision is 130,000 (nothing is refunded on-chain).
        _disputeAndWait(130_000, 40_000);
        vm.prank(operator);
        vm.expectRevert(
            abi.encodeWithSelector(
                IBillingAgreement.BillingAgreement_DecisionOutOfRange.selector,
                uint32(0),
                uint96(129_999),
                uint96(130_000),
                uint96(140_000)
            )
        );
        a.decideDispute(0, 129_999);
        vm.prank(operator);
        a.decideDispute(0, 130_000);
        assertEq(uint8(a.settlement(0).status), uint8(PaymentStatus.Paid));
        assertEq(a.outstanding(), 0);
    }

    function test_RevertWhen_DecisionOutOfRange() public {
        _disputeAndWait(0, 40_000);
        vm.startPrank(operator);
        vm.expectRevert(
            abi.encodeWithSelector(
                IBillingAgreement.BillingAgreement_DecisionOutOfRange.selector,
                uint32(0),
                uint96(99_999),
                uint96(100_000),
                uint96(140_000)
            )
        );
        a.decideDispute(0, 99_999);
        vm.expectRevert(
            abi.encodeWithSelector(
                IBillingAgreement.BillingAgreement_DecisionOutOfRange.selector,
                uint32(0),
                uint96(140_001),
                uint96(100_000),
                uint96(140_000)
            )
        );
        a.decideDispute(0, 140_001);
        vm.stopPrank();
    }

    function test_RevertWhen_DecisionBeforeWindowCloses() public {
        vm.prank(payer);
        a.dispute(0, 40_000, REASON);
        uint40 closesAt = a.settlement(0).settledAt + DISPUTE_WINDOW;
        vm.warp(closesAt - 1);
        vm.prank(operator);
        vm.expectRevert(
            abi.encodeWithSelector(IBillingAgreement.BillingAgreement_DisputeWindowOpen.selector, uint32(0), closesAt)
        );
        a.decideDispute(0, 120_000);
    }

    function test_RevertWhen_DecisionByParty() public {
        _disputeAndWait(0, 40_000);
        vm.prank(payee);
        vm.expectRevert(abi.encodeWithSelector(IBillingAgreement.BillingAgreement_NotArbiter.selector, payee));
        a.decideDispute(0, 140_000);
        vm.prank(payer);
        vm.expectRevert(abi.encodeWithSelector(IBillingAgreement.BillingAgreement_NotArbiter.selector, payer));
        a.decideDispute(0, 100_000);
    }

    function test_NamedArbiterDecidesNotTheOperator() public {
        address arbiter = makeAddr("arbiter");
        Terms memory t = _fiatTerms();
        t.arbiter = arbiter;
        BillingAgreement b = _createActive(t);
        (Terms memory back,) = b.terms();
        assertEq(back.arbiter, arbiter);
        _settleWith(b, 0, 1500);
        vm.prank(payer);
        b.dispute(0, 40_000, REASON);
        vm.warp(b.settlement(0).settledAt + DISPUTE_WINDOW);
        vm.prank(operator);
        vm.expectRevert(abi.encodeWithSelector(IBillingAgreement.BillingAgreement_NotArbiter.selector, operator));
        b.decideDispute(0, 120_000);
        vm.expectEmit(address(b));
        emit IBillingAgreement.DisputeResolved(0, 140_000, 120_000, PaymentStatus.Due, arbiter);
        vm.prank(arbiter);
        b.decideDispute(0, 120_000);
        assertEq(b.settlement(0).amount, 120_000);
    }

    function test_ArbiterOfTheSettlementsTermsVersion() public {
        // The arbiter named by the terms that priced the period decides, even after an amendment names another.
        address first = makeAddr("first arbiter");
        address second = makeAddr("second arbiter");
        Terms memory t = _fiatTerms();
        t.arbiter = first;
        BillingAgreement b = _createActive(t);
        t.arbiter = second;
        _amend(b, t); // from period 1
        _settleWith(b, 0, 1500);
        vm.prank(payer);
        b.dispute(0, 1000, REASON);
        vm.warp(b.settlement(0).settledAt + DISPUTE_WINDOW);
        vm.prank(second);
        vm.expectRevert(abi.encodeWithSelector(IBillingAgreement.BillingAgreement_NotArbiter.selector, second));
        b.decideDispute(0, 139_000);
        vm.prank(first);
        b.decideDispute(0, 139_000);
        assertEq(b.settlement(0).amount, 139_000);
    }

    function test_RevertWhen_DecideNotDisputed() public {
        vm.warp(a.settlement(0).settledAt + DISPUTE_WINDOW);
        vm.prank(operator);
        vm.expectRevert(
            abi.encodeWithSelector(
                IBillingAgreement.BillingAgreement_InvalidPaymentStatus.selector, uint32(0), PaymentStatus.Due
            )
        );
        a.decideDispute(0, 140_000);
    }

    function test_ConsentStillPossibleAfterWindow() public {
        _disputeAndWait(0, 40_000);
        vm.prank(payer);
        a.resolveDispute(0, 120_000);
        vm.prank(payee);
        a.resolveDispute(0, 120_000);
        assertEq(a.settlement(0).amount, 120_000);
        // Nothing left for the arbiter.
        vm.prank(operator);
        vm.expectRevert(
            abi.encodeWithSelector(
                IBillingAgreement.BillingAgreement_InvalidPaymentStatus.selector, uint32(0), PaymentStatus.Due
            )
        );
        a.decideDispute(0, 120_000);
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
        a.dispute(0, 140_000, REASON);
        vm.prank(payer);
        a.writeOff(0);
        vm.prank(payee);
        a.writeOff(0);
        assertEq(uint8(a.settlement(0).status), uint8(PaymentStatus.WrittenOff));
        assertEq(a.settlement(0).disputed, 0);
        assertEq(a.outstanding(), 0);
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
