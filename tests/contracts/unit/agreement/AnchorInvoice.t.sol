// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {BaseTest} from "../../utils/BaseTest.sol";
import {BillingAgreement} from "../../../../contracts/BillingAgreement.sol";
import {IBillingAgreement} from "../../../../contracts/interfaces/IBillingAgreement.sol";

/// @notice anchorInvoice: the gateway records which invoice (or credit note) document belongs to a period.
contract AnchorInvoiceTest is BaseTest {
    BillingAgreement internal a;

    bytes32 internal constant NUMBER = keccak256("RE-2025-000001");
    bytes32 internal constant DOCUMENT = keccak256("<Invoice/>");

    function setUp() public override {
        super.setUp();
        a = _createActive(_fiatTerms());
    }

    function test_GatewayAnchors_EmitsInvoiceIssued() public {
        vm.expectEmit(address(a));
        emit IBillingAgreement.InvoiceIssued(3, NUMBER, DOCUMENT);
        vm.prank(gateway);
        a.anchorInvoice(3, NUMBER, DOCUMENT);
    }

    function test_CreditNoteUsesTheSameCall_AndWritesNothing() public {
        bytes32 coreBefore = vm.load(address(a), bytes32(0));
        vm.startPrank(gateway);
        a.anchorInvoice(0, NUMBER, DOCUMENT);
        vm.expectEmit(address(a));
        emit IBillingAgreement.InvoiceIssued(0, keccak256("GS-2025-000001"), keccak256("<CreditNote/>"));
        a.anchorInvoice(0, keccak256("GS-2025-000001"), keccak256("<CreditNote/>"));
        vm.stopPrank();
        assertEq(vm.load(address(a), bytes32(0)), coreBefore);
    }

    function test_RevertWhen_CallerNotGateway() public {
        address[4] memory callers = [payer, payee, operator, stranger];
        for (uint256 i; i < callers.length; ++i) {
            vm.prank(callers[i]);
            vm.expectRevert(abi.encodeWithSelector(IBillingAgreement.BillingAgreement_NotGateway.selector, callers[i]));
            a.anchorInvoice(0, NUMBER, DOCUMENT);
        }
    }

    function test_RevertWhen_GatewayRoleRevoked() public {
        vm.prank(admin);
        factory.revokeRole(GATEWAY_ROLE, gateway);
        vm.prank(gateway);
        vm.expectRevert(abi.encodeWithSelector(IBillingAgreement.BillingAgreement_NotGateway.selector, gateway));
        a.anchorInvoice(0, NUMBER, DOCUMENT);
    }

    function test_RevertWhen_CalledOnImplementation() public {
        BillingAgreement impl = BillingAgreement(factory.implementation());
        vm.prank(gateway);
        vm.expectRevert(IBillingAgreement.BillingAgreement_NotAClone.selector);
        impl.anchorInvoice(0, NUMBER, DOCUMENT);
    }

    function testFuzz_RevertWhen_AnyoneButTheGateway(address caller, uint32 period, bytes32 n, bytes32 d) public {
        vm.assume(caller != gateway);
        vm.prank(caller);
        vm.expectRevert(abi.encodeWithSelector(IBillingAgreement.BillingAgreement_NotGateway.selector, caller));
        a.anchorInvoice(period, n, d);
    }

    function testFuzz_GatewayAnchorsAnything(uint32 period, bytes32 n, bytes32 d) public {
        vm.expectEmit(address(a));
        emit IBillingAgreement.InvoiceIssued(period, n, d);
        vm.prank(gateway);
        a.anchorInvoice(period, n, d);
    }
}
