// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {IAccessControl} from "@openzeppelin/contracts/access/IAccessControl.sol";

import {BaseTest} from "../../utils/BaseTest.sol";
import {BillingAgreement} from "../../../../contracts/BillingAgreement.sol";
import {IAgreementFactory} from "../../../../contracts/interfaces/IAgreementFactory.sol";
import {IBillingAgreement} from "../../../../contracts/interfaces/IBillingAgreement.sol";

/// @notice setSignerDelay, signerDelay, isOracle, oracleActiveFrom and the role hooks behind them.
contract OracleSignersTest is BaseTest {
    address internal signer = makeAddr("signer");

    function test_SetSignerDelay() public {
        vm.expectEmit(address(factory));
        emit IAgreementFactory.SignerDelayChanged(0, 1 days);
        vm.prank(admin);
        factory.setSignerDelay(1 days);
        assertEq(factory.signerDelay(), 1 days);
    }

    function test_RevertWhen_SignerDelayTooLong() public {
        vm.prank(admin);
        vm.expectRevert(
            abi.encodeWithSelector(
                IAgreementFactory.AgreementFactory_SignerDelayTooLong.selector, uint32(31 days), uint32(30 days)
            )
        );
        factory.setSignerDelay(31 days);
    }

    function test_RevertWhen_SignerDelaySetByNonAdmin() public {
        vm.prank(operator);
        vm.expectRevert(
            abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, operator, bytes32(0))
        );
        factory.setSignerDelay(1 days);
    }

    function test_GrantedSignerActiveOnlyAfterDelay() public {
        vm.prank(admin);
        factory.setSignerDelay(1 days);
        uint40 activeFrom = uint40(block.timestamp + 1 days);
        vm.expectEmit(address(factory));
        emit IAgreementFactory.OracleSignerScheduled(signer, activeFrom);
        vm.prank(admin);
        factory.grantRole(ORACLE_ROLE, signer);

        assertTrue(factory.hasRole(ORACLE_ROLE, signer));
        assertEq(factory.oracleActiveFrom(signer), activeFrom);
        assertFalse(factory.isOracle(signer));
        vm.warp(activeFrom - 1);
        assertFalse(factory.isOracle(signer));
        vm.warp(activeFrom);
        assertTrue(factory.isOracle(signer));
    }

    function test_DelayedSignerCannotReportUntilActive() public {
        BillingAgreement a = _createActive(_fiatTerms());
        vm.warp(START + 1 hours);
        vm.prank(admin);
        factory.setSignerDelay(1 days);
        vm.prank(admin);
        factory.grantRole(ORACLE_ROLE, signer);
        vm.prank(signer);
        vm.expectRevert(abi.encodeWithSelector(IBillingAgreement.BillingAgreement_NotOracle.selector, signer));
        a.reportUsage(0, bytes32(0), bytes32(0), 0, _usage(0, 1));
        vm.warp(block.timestamp + 1 days);
        vm.prank(signer);
        a.reportUsage(0, bytes32(0), bytes32(0), 0, _usage(0, 1));
        assertEq(a.usage(0, 0), 1);
    }

    function test_RevokeDeactivatesAtOnce() public {
        assertTrue(factory.isOracle(oracle));
        vm.prank(admin);
        factory.revokeRole(ORACLE_ROLE, oracle);
        assertFalse(factory.isOracle(oracle));
        assertEq(factory.oracleActiveFrom(oracle), 0);
    }

    function test_RenounceDeactivatesAtOnce() public {
        vm.prank(oracle);
        factory.renounceRole(ORACLE_ROLE, oracle);
        assertFalse(factory.isOracle(oracle));
    }

    function test_RegrantReschedules() public {
        vm.prank(admin);
        factory.revokeRole(ORACLE_ROLE, oracle);
        vm.prank(admin);
        factory.setSignerDelay(2 days);
        vm.prank(admin);
        factory.grantRole(ORACLE_ROLE, oracle);
        assertEq(factory.oracleActiveFrom(oracle), block.timestamp + 2 days);
        assertFalse(factory.isOracle(oracle));
    }

    function test_RegrantInTheSameSecondGetsALaterTime() public {
        // Reports name their signer's grant by its activation time, so a new grant must never repeat an old one.
        vm.warp(START);
        vm.startPrank(admin);
        factory.grantRole(ORACLE_ROLE, signer);
        uint40 first = factory.oracleActiveFrom(signer);
        assertEq(first, START);
        factory.revokeRole(ORACLE_ROLE, signer);
        factory.grantRole(ORACLE_ROLE, signer);
        uint40 second = factory.oracleActiveFrom(signer);
        factory.revokeRole(ORACLE_ROLE, signer);
        factory.grantRole(ORACLE_ROLE, signer);
        vm.stopPrank();
        uint40 third = factory.oracleActiveFrom(signer);
        assertEq(second, first + 1);
        assertEq(third, first + 2);
        assertFalse(factory.isOracle(signer));
        vm.warp(third);
        assertTrue(factory.isOracle(signer));
    }

    function test_RegrantAfterShorterDelayStillLater() public {
        vm.prank(admin);
        factory.setSignerDelay(10 days);
        vm.prank(admin);
        factory.grantRole(ORACLE_ROLE, signer);
        uint40 first = factory.oracleActiveFrom(signer);
        vm.startPrank(admin);
        factory.revokeRole(ORACLE_ROLE, signer);
        factory.setSignerDelay(0);
        factory.grantRole(ORACLE_ROLE, signer);
        vm.stopPrank();
        // Without the rule it would be active now, before the first grant's time: it gets the first one's + 1.
        assertEq(factory.oracleActiveFrom(signer), first + 1);
    }

    function test_GrantingTwiceKeepsSchedule() public {
        uint40 before = factory.oracleActiveFrom(oracle);
        vm.prank(admin);
        factory.setSignerDelay(2 days);
        vm.prank(admin);
        factory.grantRole(ORACLE_ROLE, oracle);
        assertEq(factory.oracleActiveFrom(oracle), before);
    }

    function test_OtherRolesHaveNoSchedule() public view {
        assertEq(factory.oracleActiveFrom(gateway), 0);
        assertFalse(factory.isOracle(gateway));
    }
}
