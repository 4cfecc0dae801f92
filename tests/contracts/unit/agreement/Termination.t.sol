// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {BaseTest} from "../../utils/BaseTest.sol";
import {BillingAgreement} from "../../../../contracts/BillingAgreement.sol";
import {IBillingAgreement} from "../../../../contracts/interfaces/IBillingAgreement.sol";
import {AgreementState, Terms, TerminationReason} from "../../../../contracts/types/BillingTypes.sol";

/// @notice giveNotice, terminateByConsent and cancel.
contract TerminationTest is BaseTest {
    BillingAgreement internal a;

    function setUp() public override {
        super.setUp();
        a = _createActive(_fiatTerms());
        vm.warp(START + 10 days); // period 0 (January 2025)
    }

    // ---- giveNotice ----

    function test_NoticeEndsWithPeriodWhereItExpires() public {
        // 30 days' notice from 11 January expires on 10 February (period 1): the agreement ends after period 1.
        vm.expectEmit(address(a));
        emit IBillingAgreement.TerminationScheduled(2, TerminationReason.Notice, payer);
        vm.prank(payer);
        a.giveNotice();
        assertEq(a.status().endPeriod, 2);
        assertEq(uint8(a.state()), uint8(AgreementState.Active));
        vm.warp(START + 59 days); // 2025-03-01
        assertEq(uint8(a.state()), uint8(AgreementState.Terminated));
    }

    function test_PayeeMayGiveNotice() public {
        vm.prank(payee);
        a.giveNotice();
        assertEq(a.status().endPeriod, 2);
    }

    function test_NoticeWhilePaused() public {
        vm.prank(payee);
        a.pause();
        vm.prank(payer);
        a.giveNotice();
        assertEq(a.status().endPeriod, 2);
    }

    function test_NoticeUsesTermsInForce() public {
        Terms memory t = _fiatTerms();
        t.noticeSeconds = 90 days;
        _amend(a, t); // effective from period 1
        vm.prank(payer);
        a.giveNotice(); // still period 0: 30 days
        assertEq(a.status().endPeriod, 2);
    }

    function test_RevertWhen_NoticeByStranger() public {
        vm.prank(operator);
        vm.expectRevert(abi.encodeWithSelector(IBillingAgreement.BillingAgreement_NotParty.selector, operator));
        a.giveNotice();
    }

    function test_RevertWhen_NoticeWouldExtendEnd() public {
        vm.prank(payer);
        a.giveNotice();
        vm.warp(START + 20 days);
        vm.prank(payee);
        vm.expectRevert(
            abi.encodeWithSelector(IBillingAgreement.BillingAgreement_EndNotEarlier.selector, uint32(2), uint32(2))
        );
        a.giveNotice();
    }

    function test_RevertWhen_NoticeOnProposed() public {
        BillingAgreement b = _create(_fiatTerms(), bytes32(uint256(1)));
        vm.prank(payer);
        vm.expectRevert(
            abi.encodeWithSelector(IBillingAgreement.BillingAgreement_InvalidState.selector, AgreementState.Proposed)
        );
        b.giveNotice();
    }

    function test_RevertWhen_NoticeAfterEnd() public {
        vm.prank(payer);
        a.giveNotice();
        vm.warp(START + 70 days);
        vm.prank(payee);
        vm.expectRevert(
            abi.encodeWithSelector(IBillingAgreement.BillingAgreement_InvalidState.selector, AgreementState.Terminated)
        );
        a.giveNotice();
    }

    // ---- terminateByConsent ----

    function test_ConsentOfBothEnds() public {
        bytes32 action = keccak256(
            abi.encode(keccak256("TerminateByConsent(uint32 endPeriod,uint16 version)"), uint32(1), uint16(1))
        );
        vm.expectEmit(address(a));
        emit IBillingAgreement.ConsentGiven(payer, action);
        vm.prank(payer);
        a.terminateByConsent(1);
        assertEq(a.status().endPeriod, 0);
        vm.expectEmit(address(a));
        emit IBillingAgreement.ConsentGiven(payee, action);
        vm.expectEmit(address(a));
        emit IBillingAgreement.TerminationScheduled(1, TerminationReason.Consent, payee);
        vm.prank(payee);
        a.terminateByConsent(1);
        assertEq(a.status().endPeriod, 1);
    }

    function test_DifferentEndPeriodsDoNotCombine() public {
        vm.prank(payer);
        a.terminateByConsent(1);
        vm.prank(payee);
        a.terminateByConsent(2);
        assertEq(a.status().endPeriod, 0);
    }

    function test_ConsentLapsesWithNewTerms() public {
        vm.prank(payer);
        a.terminateByConsent(3);
        Terms memory t = _fiatTerms();
        t.paymentTermsDays = 1;
        _amend(a, t);
        vm.prank(payee);
        a.terminateByConsent(3);
        assertEq(a.status().endPeriod, 0);
    }

    function test_RevertWhen_ConsentByStranger() public {
        vm.prank(operator);
        vm.expectRevert(abi.encodeWithSelector(IBillingAgreement.BillingAgreement_NotParty.selector, operator));
        a.terminateByConsent(1);
    }

    function test_RevertWhen_ConsentCutsBegunPeriod() public {
        vm.prank(payer);
        vm.expectRevert(
            abi.encodeWithSelector(IBillingAgreement.BillingAgreement_EndTooEarly.selector, uint32(0), uint32(1))
        );
        a.terminateByConsent(0);
    }

    function test_RevertWhen_ConsentWouldExtendEnd() public {
        vm.prank(payer);
        a.giveNotice(); // end period 2
        vm.prank(payer);
        vm.expectRevert(
            abi.encodeWithSelector(IBillingAgreement.BillingAgreement_EndNotEarlier.selector, uint32(5), uint32(2))
        );
        a.terminateByConsent(5);
    }

    function test_RevertWhen_ConsentGivenTwice() public {
        vm.prank(payer);
        a.terminateByConsent(1);
        bytes32 action = keccak256(
            abi.encode(keccak256("TerminateByConsent(uint32 endPeriod,uint16 version)"), uint32(1), uint16(1))
        );
        vm.prank(payer);
        vm.expectRevert(
            abi.encodeWithSelector(IBillingAgreement.BillingAgreement_AlreadyConsented.selector, payer, action)
        );
        a.terminateByConsent(1);
    }

    function test_RevertWhen_ConsentOnProposed() public {
        BillingAgreement b = _create(_fiatTerms(), bytes32(uint256(1)));
        vm.prank(payer);
        vm.expectRevert(
            abi.encodeWithSelector(IBillingAgreement.BillingAgreement_InvalidState.selector, AgreementState.Proposed)
        );
        b.terminateByConsent(1);
    }

    // ---- cancel ----

    function test_CancelProposed() public {
        BillingAgreement b = _create(_fiatTerms(), bytes32(uint256(1)));
        vm.expectEmit(address(b));
        emit IBillingAgreement.TerminationScheduled(0, TerminationReason.Cancelled, payer);
        vm.prank(payer);
        b.cancel();
        assertEq(uint8(b.state()), uint8(AgreementState.Terminated));
        assertEq(b.status().pendingVersion, 0);
    }

    function test_OperatorCancels() public {
        BillingAgreement b = _create(_fiatTerms(), bytes32(uint256(1)));
        vm.prank(operator);
        b.cancel();
        assertEq(uint8(b.state()), uint8(AgreementState.Terminated));
    }

    function test_RevertWhen_CancelByStranger() public {
        BillingAgreement b = _create(_fiatTerms(), bytes32(uint256(1)));
        vm.prank(stranger);
        vm.expectRevert(
            abi.encodeWithSelector(IBillingAgreement.BillingAgreement_NotPartyOrOperator.selector, stranger)
        );
        b.cancel();
    }

    function test_RevertWhen_CancelActive() public {
        vm.prank(payer);
        vm.expectRevert(
            abi.encodeWithSelector(IBillingAgreement.BillingAgreement_InvalidState.selector, AgreementState.Active)
        );
        a.cancel();
    }

    function test_RevertWhen_CancelledTwice() public {
        BillingAgreement b = _create(_fiatTerms(), bytes32(uint256(1)));
        vm.prank(payer);
        b.cancel();
        vm.prank(payer);
        vm.expectRevert(
            abi.encodeWithSelector(IBillingAgreement.BillingAgreement_InvalidState.selector, AgreementState.Terminated)
        );
        b.cancel();
    }
}
