// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {IAccessControl} from "@openzeppelin/contracts/access/IAccessControl.sol";

import {BaseTest} from "../../utils/BaseTest.sol";
import {IAgreementFactory} from "../../../../contracts/interfaces/IAgreementFactory.sol";

/// @notice setTokenAllowed and isTokenAllowed.
contract SetTokenAllowedTest is BaseTest {
    function test_AdminAllowsAndRemovesToken() public {
        address t = makeAddr("token");
        assertFalse(factory.isTokenAllowed(t));
        vm.expectEmit(address(factory));
        emit IAgreementFactory.TokenAllowed(t, true);
        vm.prank(admin);
        factory.setTokenAllowed(t, true);
        assertTrue(factory.isTokenAllowed(t));
        vm.prank(admin);
        factory.setTokenAllowed(t, false);
        assertFalse(factory.isTokenAllowed(t));
    }

    function test_RevertWhen_CallerNotAdmin() public {
        vm.prank(operator);
        vm.expectRevert(
            abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, operator, bytes32(0))
        );
        factory.setTokenAllowed(address(token), false);
    }

    function test_RevertWhen_TokenIsZero() public {
        vm.prank(admin);
        vm.expectRevert(IAgreementFactory.AgreementFactory_ZeroAddress.selector);
        factory.setTokenAllowed(address(0), true);
    }
}
