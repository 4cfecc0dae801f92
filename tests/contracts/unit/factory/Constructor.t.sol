// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {BaseTest} from "../../utils/BaseTest.sol";
import {AgreementFactory} from "../../../../contracts/AgreementFactory.sol";
import {BillingAgreement} from "../../../../contracts/BillingAgreement.sol";
import {IAgreementFactory} from "../../../../contracts/interfaces/IAgreementFactory.sol";
import {IBillingAgreement} from "../../../../contracts/interfaces/IBillingAgreement.sol";

contract ConstructorTest is BaseTest {
    function test_DeploysImplementationAndGrantsAdmin() public view {
        address impl = factory.implementation();
        assertGt(impl.code.length, 0);
        assertEq(BillingAgreement(impl).factory(), address(factory));
        assertTrue(factory.hasRole(factory.DEFAULT_ADMIN_ROLE(), admin));
        assertEq(factory.signerDelay(), 0);
        assertEq(factory.OPERATOR_ROLE(), OPERATOR_ROLE);
        assertEq(factory.ORACLE_ROLE(), ORACLE_ROLE);
        assertEq(factory.GATEWAY_ROLE(), GATEWAY_ROLE);
    }

    function test_RevertWhen_AdminIsZero() public {
        vm.expectRevert(IAgreementFactory.AgreementFactory_ZeroAddress.selector);
        new AgreementFactory(address(0));
    }

    function test_ImplementationCannotBeInitialized() public {
        address impl = factory.implementation();
        vm.prank(address(factory));
        vm.expectRevert(IBillingAgreement.BillingAgreement_AlreadyInitialized.selector);
        BillingAgreement(impl).initialize();
    }

    function test_ImplementationIsNotAnAgreement() public {
        BillingAgreement impl = BillingAgreement(factory.implementation());
        vm.expectRevert(IBillingAgreement.BillingAgreement_NotAClone.selector);
        impl.parties();
        vm.prank(payer);
        vm.expectRevert(IBillingAgreement.BillingAgreement_NotAClone.selector);
        impl.accept(1, bytes32(0));
        // Forwarded functions run the same checks.
        vm.prank(operator);
        vm.expectRevert(IBillingAgreement.BillingAgreement_NotAClone.selector);
        impl.cancel();
    }
}
