// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {BaseTest} from "../../utils/BaseTest.sol";
import {BillingAgreement} from "../../../../contracts/BillingAgreement.sol";
import {IBillingAgreement} from "../../../../contracts/interfaces/IBillingAgreement.sol";
import {AgreementState} from "../../../../contracts/types/BillingTypes.sol";

/// @notice pause and resume.
contract PauseResumeTest is BaseTest {
    BillingAgreement internal a;

    function setUp() public override {
        super.setUp();
        a = _createActive(_fiatTerms());
    }

    function test_PayeePausesAndResumes() public {
        vm.expectEmit(address(a));
        emit IBillingAgreement.AgreementPaused(payee);
        vm.prank(payee);
        a.pause();
        assertEq(uint8(a.state()), uint8(AgreementState.Paused));
        vm.expectEmit(address(a));
        emit IBillingAgreement.AgreementResumed(payee);
        vm.prank(payee);
        a.resume();
        assertEq(uint8(a.state()), uint8(AgreementState.Active));
    }

    function test_OperatorPausesAndResumes() public {
        vm.prank(operator);
        a.pause();
        vm.prank(operator);
        a.resume();
        assertEq(uint8(a.state()), uint8(AgreementState.Active));
    }

    function test_PauseStopsReportsAndSettlement() public {
        vm.warp(START + 1 days);
        vm.prank(payee);
        a.pause();
        vm.prank(oracle);
        vm.expectRevert(
            abi.encodeWithSelector(IBillingAgreement.BillingAgreement_InvalidState.selector, AgreementState.Paused)
        );
        a.reportUsage(0, bytes32(0), bytes32(0), 0, _usage(0, 1));
        _warpToSettle(a, 0);
        vm.expectRevert(
            abi.encodeWithSelector(IBillingAgreement.BillingAgreement_InvalidState.selector, AgreementState.Paused)
        );
        a.settle(0);
    }

    function test_RevertWhen_PauseCallerNotPayeeOrOperator() public {
        vm.prank(payer);
        vm.expectRevert(abi.encodeWithSelector(IBillingAgreement.BillingAgreement_NotPayeeOrOperator.selector, payer));
        a.pause();
    }

    function test_RevertWhen_ResumeCallerNotPayeeOrOperator() public {
        vm.prank(payee);
        a.pause();
        vm.prank(payer);
        vm.expectRevert(abi.encodeWithSelector(IBillingAgreement.BillingAgreement_NotPayeeOrOperator.selector, payer));
        a.resume();
    }

    function test_RevertWhen_PausedTwice() public {
        vm.prank(payee);
        a.pause();
        vm.prank(payee);
        vm.expectRevert(
            abi.encodeWithSelector(IBillingAgreement.BillingAgreement_InvalidState.selector, AgreementState.Paused)
        );
        a.pause();
    }

    function test_RevertWhen_PausingProposed() public {
        BillingAgreement b = _create(_fiatTerms(), bytes32(uint256(1)));
        vm.prank(payee);
        vm.expectRevert(
            abi.encodeWithSelector(IBillingAgreement.BillingAgreement_InvalidState.selector, AgreementState.Proposed)
        );
        b.pause();
    }

    function test_RevertWhen_PausingEnded() public {
        vm.warp(START + 1 days);
        vm.prank(payer);
        a.giveNotice();
        vm.warp(START + 90 days);
        vm.prank(payee);
        vm.expectRevert(
            abi.encodeWithSelector(IBillingAgreement.BillingAgreement_InvalidState.selector, AgreementState.Terminated)
        );
        a.pause();
    }

    function test_RevertWhen_ResumingActive() public {
        vm.prank(payee);
        vm.expectRevert(
            abi.encodeWithSelector(IBillingAgreement.BillingAgreement_InvalidState.selector, AgreementState.Active)
        );
        a.resume();
    }

    function test_ResumeAfterEndLetsLastPeriodsSettle() public {
        vm.warp(START + 1 days);
        vm.prank(payer);
        a.giveNotice(); // ends after period 1
        vm.prank(payee);
        a.pause();
        vm.warp(START + 90 days);
        assertEq(uint8(a.state()), uint8(AgreementState.Terminated));
        vm.prank(payee);
        a.resume();
        a.settle(0);
        a.settle(1);
        assertEq(a.status().nextPeriodToSettle, 2);
    }
}
