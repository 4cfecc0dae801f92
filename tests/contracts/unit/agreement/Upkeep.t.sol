// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {BaseTest} from "../../utils/BaseTest.sol";
import {BillingAgreement} from "../../../../contracts/BillingAgreement.sol";
import {IBillingAgreement} from "../../../../contracts/interfaces/IBillingAgreement.sol";

/// @notice checkUpkeep and performUpkeep.
contract UpkeepTest is BaseTest {
    BillingAgreement internal a;

    function setUp() public override {
        super.setUp();
        a = _createActive(_fiatTerms());
    }

    function test_NoUpkeepBeforePeriodEndPlusGrace() public {
        vm.warp(START + 31 days + GRACE - 1);
        (bool needed, bytes memory data) = a.checkUpkeep("");
        assertFalse(needed);
        assertEq(data.length, 0);
    }

    function test_UpkeepSettlesNextPeriod() public {
        vm.warp(START + 31 days + GRACE);
        (bool needed, bytes memory data) = a.checkUpkeep("");
        assertTrue(needed);
        assertEq(abi.decode(data, (uint32)), 0);
        a.performUpkeep(data);
        assertEq(a.status().nextPeriodToSettle, 1);
        (needed,) = a.checkUpkeep("");
        assertFalse(needed);
    }

    function test_NoUpkeepWhenPausedOrProposedOrEnded() public {
        vm.warp(START + 100 days);
        vm.prank(payee);
        a.pause();
        (bool needed,) = a.checkUpkeep("");
        assertFalse(needed);

        BillingAgreement b = _create(_fiatTerms(), bytes32(uint256(1)));
        (needed,) = b.checkUpkeep("");
        assertFalse(needed);

        vm.prank(payee);
        a.resume();
        vm.prank(payer);
        a.terminateByConsent(4);
        vm.prank(payee);
        a.terminateByConsent(4);
        vm.warp(START + 200 days);
        for (uint32 p; p < 4; ++p) {
            (needed,) = a.checkUpkeep("");
            assertTrue(needed);
            a.performUpkeep(abi.encode(p));
        }
        (needed,) = a.checkUpkeep("");
        assertFalse(needed);
    }

    function test_RevertWhen_PerformDataStale() public {
        vm.warp(START + 31 days + GRACE);
        (, bytes memory data) = a.checkUpkeep("");
        a.performUpkeep(data);
        vm.expectRevert(abi.encodeWithSelector(IBillingAgreement.BillingAgreement_PeriodSettled.selector, uint32(0)));
        a.performUpkeep(data);
    }
}
