// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {BaseTest} from "../../utils/BaseTest.sol";
import {BillingAgreement} from "../../../../contracts/BillingAgreement.sol";
import {IBillingAgreement} from "../../../../contracts/interfaces/IBillingAgreement.sol";
import {Terms} from "../../../../contracts/types/BillingTypes.sol";

contract RejectAmendmentTest is BaseTest {
    BillingAgreement internal a;

    function setUp() public override {
        super.setUp();
        a = _createActive(_fiatTerms());
        Terms memory t = _fiatTerms();
        t.paymentTermsDays = 7;
        vm.prank(payer);
        a.proposeAmendment(t);
    }

    function test_PayeeRejects() public {
        vm.expectEmit(address(a));
        emit IBillingAgreement.AmendmentRejected(2, payee);
        vm.prank(payee);
        a.rejectAmendment();
        assertEq(a.status().pendingVersion, 0);
        assertFalse(a.hasAccepted(payer, 2));
        // Changed with issue 10 (item 4): the rejected proposal keeps its number (it used to be freed, and termsAt(2)
        // reverted); it stays readable, never in force, and the next proposal gets 3.
        (Terms memory rejected,, uint32 effectiveFrom) = a.termsAt(2);
        assertEq(rejected.paymentTermsDays, 7);
        assertEq(effectiveFrom, 0);
        vm.expectRevert(abi.encodeWithSelector(IBillingAgreement.BillingAgreement_UnknownVersion.selector, uint16(3)));
        a.termsAt(3);
        vm.prank(payee);
        assertEq(a.proposeAmendment(_fiatTerms()), 3);
        assertEq(a.versionForPeriod(5), 1);
    }

    function test_PendingAcceptanceCannotBeUsedAfterRejection() public {
        Terms memory t = _fiatTerms();
        t.paymentTermsDays = 7;
        bytes32 h = _hash(t);
        vm.prank(payee);
        a.rejectAmendment();
        vm.prank(payee);
        vm.expectRevert(abi.encodeWithSelector(IBillingAgreement.BillingAgreement_NotPending.selector, uint16(2)));
        a.accept(2, h);
        (, uint16 version) = a.terms();
        assertEq(version, 1);
    }

    function test_OperatorRejects() public {
        vm.prank(operator);
        a.rejectAmendment();
        assertEq(a.status().pendingVersion, 0);
    }

    function test_RevertWhen_CallerNotPartyOrOperator() public {
        vm.prank(stranger);
        vm.expectRevert(
            abi.encodeWithSelector(IBillingAgreement.BillingAgreement_NotPartyOrOperator.selector, stranger)
        );
        a.rejectAmendment();
    }

    function test_RevertWhen_NothingPending() public {
        vm.prank(payee);
        a.rejectAmendment();
        vm.prank(payee);
        vm.expectRevert(abi.encodeWithSelector(IBillingAgreement.BillingAgreement_NotPending.selector, uint16(0)));
        a.rejectAmendment();
    }

    function test_RevertWhen_Proposed() public {
        BillingAgreement b = _create(_fiatTerms(), bytes32(uint256(1)));
        vm.prank(payer);
        // Version 1 of a Proposed agreement is withdrawn with `cancel`, not rejected.
        vm.expectRevert(abi.encodeWithSelector(IBillingAgreement.BillingAgreement_NotPending.selector, uint16(0)));
        b.rejectAmendment();
    }
}
