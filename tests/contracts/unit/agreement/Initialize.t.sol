// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {BaseTest} from "../../utils/BaseTest.sol";
import {BillingAgreement} from "../../../../contracts/BillingAgreement.sol";
import {IBillingAgreement} from "../../../../contracts/interfaces/IBillingAgreement.sol";
import {AgreementState, AgreementStatus} from "../../../../contracts/types/BillingTypes.sol";

contract InitializeTest is BaseTest {
    function test_InitializedByFactoryInProposedState() public {
        BillingAgreement a = _create(_fiatTerms());
        AgreementStatus memory s = a.status();
        assertEq(uint8(s.state), uint8(AgreementState.Proposed));
        assertEq(s.version, 0);
        assertEq(s.pendingVersion, 1);
        assertEq(s.nextPeriodToSettle, 0);
        assertEq(s.endPeriod, 0);
        assertEq(s.outstanding, 0);
    }

    function test_RevertWhen_InitializedTwice() public {
        BillingAgreement a = _create(_fiatTerms());
        vm.prank(address(factory));
        vm.expectRevert(IBillingAgreement.BillingAgreement_AlreadyInitialized.selector);
        a.initialize();
    }

    function test_RevertWhen_CallerNotFactory() public {
        BillingAgreement a = _create(_fiatTerms());
        vm.prank(operator);
        vm.expectRevert(abi.encodeWithSelector(IBillingAgreement.BillingAgreement_NotFactory.selector, operator));
        a.initialize();
    }

    function test_RevertWhen_ImplementationInitialized() public {
        BillingAgreement impl = BillingAgreement(factory.implementation());
        vm.prank(address(factory));
        vm.expectRevert(IBillingAgreement.BillingAgreement_AlreadyInitialized.selector);
        impl.initialize();
    }
}
