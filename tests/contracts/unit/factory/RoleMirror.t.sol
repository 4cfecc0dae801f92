// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {BaseTest} from "../../utils/BaseTest.sol";
import {AgreementFactoryHarness} from "../../utils/AgreementFactoryHarness.sol";
import {BillingAgreement} from "../../../../contracts/BillingAgreement.sol";
import {IBillingAgreement} from "../../../../contracts/interfaces/IBillingAgreement.sol";
import {ServiceStatus} from "../../../../contracts/types/BillingTypes.sol";

/// @notice The implementation's mirror of the factory's roles (`mirroredRoles`, `setMirroredRoles`, the raw read
///         through the fallback) and the factory hooks that keep it equal to AccessControl.
contract RoleMirrorTest is BaseTest {
    address internal account = makeAddr("account");
    BillingAgreement internal impl;

    function setUp() public override {
        super.setUp();
        impl = BillingAgreement(factory.implementation());
    }

    /// @dev The mirror as the implementation reports it, checked against the factory and the raw read.
    function _mirror(address who) internal view returns (bool op, bool gw, uint40 from) {
        (op, gw, from) = impl.mirroredRoles(who);
        (bool ok, bytes memory raw) = address(impl).staticcall(abi.encode(who));
        assertTrue(ok, "raw read");
        uint256 word = abi.decode(raw, (uint256));
        assertEq(word & 1 != 0, op, "raw operator");
        assertEq(word & 2 != 0, gw, "raw gateway");
        assertEq(word >> 8, from, "raw oracle"); // bits 8-47, nothing above
        assertEq(op, factory.hasRole(OPERATOR_ROLE, who), "operator vs factory");
        assertEq(gw, factory.hasRole(GATEWAY_ROLE, who), "gateway vs factory");
        assertEq(from, factory.oracleActiveFrom(who), "oracle vs factory");
    }

    function test_SetUpRolesAreMirrored() public view {
        (bool op,,) = _mirror(operator);
        assertTrue(op);
        (, bool gw,) = _mirror(gateway);
        assertTrue(gw);
        (,, uint40 from) = _mirror(oracle);
        assertEq(from, START - 10 days);
        (op, gw, from) = _mirror(stranger);
        assertFalse(op || gw || from != 0);
    }

    function test_GrantAndRevokeEachRole() public {
        vm.startPrank(admin);
        factory.grantRole(OPERATOR_ROLE, account);
        factory.grantRole(GATEWAY_ROLE, account);
        factory.grantRole(ORACLE_ROLE, account);
        vm.stopPrank();
        (bool op, bool gw, uint40 from) = _mirror(account);
        assertTrue(op && gw);
        assertEq(from, block.timestamp);

        vm.prank(admin);
        factory.revokeRole(GATEWAY_ROLE, account);
        (op, gw, from) = _mirror(account);
        assertTrue(op && !gw && from != 0);
        vm.prank(admin);
        factory.revokeRole(ORACLE_ROLE, account);
        (op, gw, from) = _mirror(account);
        assertTrue(op && !gw && from == 0);
        vm.prank(admin);
        factory.revokeRole(OPERATOR_ROLE, account);
        (op, gw, from) = _mirror(account);
        assertFalse(op || gw || from != 0);
    }

    function test_RenounceClearsMirror() public {
        vm.prank(gateway);
        factory.renounceRole(GATEWAY_ROLE, gateway);
        (, bool gw,) = _mirror(gateway);
        assertFalse(gw);
        vm.prank(oracle);
        factory.renounceRole(ORACLE_ROLE, oracle);
        (,, uint40 from) = _mirror(oracle);
        assertEq(from, 0);
    }

    function test_OracleScheduleMirrored() public {
        vm.prank(admin);
        factory.setSignerDelay(2 days);
        vm.prank(admin);
        factory.grantRole(ORACLE_ROLE, account);
        (,, uint40 from) = _mirror(account);
        assertEq(from, block.timestamp + 2 days);
        // Granting again keeps the schedule (no change, nothing to mirror).
        vm.warp(block.timestamp + 1 days);
        vm.prank(admin);
        factory.grantRole(ORACLE_ROLE, account);
        (,, uint40 again) = _mirror(account);
        assertEq(again, from);
    }

    function test_OtherRolesLeaveMirrorAlone() public {
        vm.prank(admin);
        factory.grantRole(OPERATOR_ROLE, account);
        vm.record();
        vm.startPrank(admin);
        factory.grantRole(bytes32(0), account); // DEFAULT_ADMIN_ROLE
        factory.grantRole(keccak256("SOME_OTHER_ROLE"), account);
        factory.revokeRole(bytes32(0), account);
        vm.stopPrank();
        (, bytes32[] memory writes) = vm.accesses(address(impl));
        assertEq(writes.length, 0);
        (bool op,,) = _mirror(account);
        assertTrue(op);
    }

    function test_RoleAdminChangeCannotBypassMirror() public {
        AgreementFactoryHarness h = new AgreementFactoryHarness(admin);
        BillingAgreement hImpl = BillingAgreement(h.implementation());
        bytes32 keeperAdmin = keccak256("KEEPER_ADMIN");
        h.setRoleAdmin(GATEWAY_ROLE, keeperAdmin);
        vm.prank(admin);
        h.grantRole(keeperAdmin, operator);
        // The new role admin grants and revokes: both go through the mirrored hooks.
        vm.prank(operator);
        h.grantRole(GATEWAY_ROLE, account);
        (, bool gw,) = hImpl.mirroredRoles(account);
        assertTrue(gw);
        vm.prank(operator);
        h.revokeRole(GATEWAY_ROLE, account);
        (, gw,) = hImpl.mirroredRoles(account);
        assertFalse(gw);
        // The old admin no longer can.
        vm.prank(admin);
        vm.expectRevert();
        h.grantRole(GATEWAY_ROLE, account);
        (, gw,) = hImpl.mirroredRoles(account);
        assertFalse(gw);
    }

    function test_AgreementsFollowRevocationAtOnce() public {
        BillingAgreement a = _createActive(_fiatTerms());
        _settleWith(a, 0, 1500);
        vm.startPrank(admin);
        factory.revokeRole(GATEWAY_ROLE, gateway);
        factory.revokeRole(ORACLE_ROLE, oracle);
        factory.revokeRole(OPERATOR_ROLE, operator);
        vm.stopPrank();

        vm.prank(gateway);
        vm.expectRevert(abi.encodeWithSelector(IBillingAgreement.BillingAgreement_NotGateway.selector, gateway));
        a.confirmPayment(0, 1, bytes32(0));
        vm.prank(gateway);
        vm.expectRevert(abi.encodeWithSelector(IBillingAgreement.BillingAgreement_NotGateway.selector, gateway));
        a.setServiceStatus(ServiceStatus.Suspended, bytes32(0));
        vm.prank(oracle);
        vm.expectRevert(abi.encodeWithSelector(IBillingAgreement.BillingAgreement_NotOracle.selector, oracle));
        a.reportUsage(1, bytes32(0), bytes32(0), 0, _usage(0, 1));
        vm.prank(operator);
        vm.expectRevert(
            abi.encodeWithSelector(IBillingAgreement.BillingAgreement_NotPayeeOrOperator.selector, operator)
        );
        a.pause();

        // Granting again restores them.
        vm.startPrank(admin);
        factory.grantRole(GATEWAY_ROLE, gateway);
        factory.grantRole(OPERATOR_ROLE, operator);
        vm.stopPrank();
        vm.prank(gateway);
        a.confirmPayment(0, 1, bytes32(0));
        vm.prank(operator);
        a.pause();
    }

    function test_RevertWhen_SetMirroredRolesNotFactory() public {
        vm.prank(admin);
        vm.expectRevert(abi.encodeWithSelector(IBillingAgreement.BillingAgreement_NotFactory.selector, admin));
        impl.setMirroredRoles(account, true, true, 1);
    }

    function test_RevertWhen_SetMirroredRolesOnClone() public {
        BillingAgreement a = _create(_fiatTerms());
        // Not even the factory can write a mirror through a clone.
        vm.prank(address(factory));
        vm.expectRevert(IBillingAgreement.BillingAgreement_NotImplementation.selector);
        a.setMirroredRoles(account, true, true, 1);
        (bool op,,) = impl.mirroredRoles(account);
        assertFalse(op);
    }

    function test_RevertWhen_MirroredRolesOnClone() public {
        BillingAgreement a = _create(_fiatTerms());
        vm.expectRevert(IBillingAgreement.BillingAgreement_NotImplementation.selector);
        a.mirroredRoles(operator);
    }

    function test_RawReadOnlyOnImplementationWithOneAddressWord() public {
        BillingAgreement a = _create(_fiatTerms());
        (bool ok, bytes memory ret) = address(a).staticcall(abi.encode(operator));
        assertFalse(ok, "clone answered");
        assertEq(ret.length, 0);
        (ok,) = address(impl).staticcall(abi.encodePacked(operator)); // 20 bytes
        assertFalse(ok, "short call data");
        (ok,) = address(impl).staticcall(abi.encode(operator, uint256(0))); // 64 bytes
        assertFalse(ok, "long call data");
        (ok,) = address(impl).staticcall(abi.encode(uint256(uint160(operator)) | (1 << 200))); // not an address
        assertFalse(ok, "dirty address");
        (ok,) = address(impl).staticcall(abi.encodeWithSelector(bytes4(0xdeadbeef))); // unknown function
        assertFalse(ok, "unknown function");
    }

    function test_RawReadWordMatchesLayout() public view {
        (bool ok, bytes memory raw) = address(impl).staticcall(abi.encode(oracle));
        assertTrue(ok);
        assertEq(abi.decode(raw, (uint256)), uint256(factory.oracleActiveFrom(oracle)) << 8);
    }
}
