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
        vm.expectRevert(abi.encodeWithSelector(IBillingAgreement.BillingAgreement_UnknownVersion.selector, uint16(2)));
        a.termsAt(2);
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
        vm.expectRevert(abi.encodeWithSelector(IBillingAgreement.BillingAgreement_NotPending.selector, uint16(2)));
        a.rejectAmendment();
    }

    function test_RevertWhen_Proposed() public {
        BillingAgreement b = _create(_fiatTerms(), bytes32(uint256(1)));
        vm.prank(payer);
        vm.expectRevert(abi.encodeWithSelector(IBillingAgreement.BillingAgreement_NotPending.selector, uint16(1)));
        b.rejectAmendment();
    }
}
