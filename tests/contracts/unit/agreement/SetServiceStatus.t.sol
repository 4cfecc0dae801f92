// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {BaseTest} from "../../utils/BaseTest.sol";
import {BillingAgreement} from "../../../../contracts/BillingAgreement.sol";
import {IBillingAgreement} from "../../../../contracts/interfaces/IBillingAgreement.sol";
import {ServiceStatus} from "../../../../contracts/types/BillingTypes.sol";

contract SetServiceStatusTest is BaseTest {
    BillingAgreement internal a;

    function setUp() public override {
        super.setUp();
        a = _createActive(_fiatTerms());
    }

    function test_GatewayEscalatesAndRecovers() public {
        vm.expectEmit(address(a));
        emit IBillingAgreement.ServiceStatusChanged(
            ServiceStatus.Active, ServiceStatus.Restricted, keccak256("dunning 2")
        );
        vm.prank(gateway);
        a.setServiceStatus(ServiceStatus.Restricted, keccak256("dunning 2"));
        assertEq(uint8(a.serviceStatus()), uint8(ServiceStatus.Restricted));
        vm.prank(gateway);
        a.setServiceStatus(ServiceStatus.Suspended, bytes32(0));
        vm.prank(gateway);
        a.setServiceStatus(ServiceStatus.Active, bytes32(0));
        assertEq(uint8(a.status().serviceStatus), uint8(ServiceStatus.Active));
    }

    function test_RevertWhen_CallerNotGateway() public {
        vm.prank(payee);
        vm.expectRevert(abi.encodeWithSelector(IBillingAgreement.BillingAgreement_NotGateway.selector, payee));
        a.setServiceStatus(ServiceStatus.Suspended, bytes32(0));
    }

    function test_RevertWhen_CalledOnImplementation() public {
        BillingAgreement impl = BillingAgreement(factory.implementation());
        bytes32 coreBefore = vm.load(address(impl), bytes32(0));
        vm.prank(gateway);
        vm.expectRevert(IBillingAgreement.BillingAgreement_NotAClone.selector);
        impl.setServiceStatus(ServiceStatus.Suspended, bytes32(0));
        assertEq(vm.load(address(impl), bytes32(0)), coreBefore);
    }

    function test_RevertWhen_Unchanged() public {
        vm.prank(gateway);
        vm.expectRevert(
            abi.encodeWithSelector(
                IBillingAgreement.BillingAgreement_ServiceStatusUnchanged.selector, ServiceStatus.Active
            )
        );
        a.setServiceStatus(ServiceStatus.Active, bytes32(0));
    }
}
