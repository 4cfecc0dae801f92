// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {BaseTest} from "../../utils/BaseTest.sol";
import {BillingAgreement} from "../../../../contracts/BillingAgreement.sol";
import {IBillingAgreement} from "../../../../contracts/interfaces/IBillingAgreement.sol";
import {AgreementState} from "../../../../contracts/types/BillingTypes.sol";

contract CorrectUsageTest is BaseTest {
    BillingAgreement internal a;
    bytes32 internal constant ROOT = keccak256("corrected records");

    function setUp() public override {
        super.setUp();
        a = _createActive(_fiatTerms());
        vm.warp(START + 1 days);
        _report(a, 0, 0, 1000);
    }

    function test_CorrectsDownWithReason() public {
        vm.expectEmit(address(a));
        emit IBillingAgreement.UsageCorrected(0, 0, 1000, 900, ROOT, "duplicate batch 17", 1);
        vm.prank(oracle);
        a.correctUsage(0, 0, 900, ROOT, "duplicate batch 17");
        assertEq(a.usage(0, 0), 900);
        assertEq(a.usageEpoch(), 1);
        assertEq(a.status().usageEpoch, 1);
        // Later reports (on the new epoch) count from the corrected figure.
        _report(a, 0, 0, 950);
        assertEq(a.usage(0, 0), 950);
    }

    function test_CorrectsUp() public {
        vm.prank(oracle);
        a.correctUsage(0, 0, 5000, ROOT, "late file");
        assertEq(a.usage(0, 0), 5000);
    }

    function test_AllowedWhilePaused() public {
        vm.prank(payee);
        a.pause();
        vm.prank(oracle);
        a.correctUsage(0, 0, 1, ROOT, "fix");
        assertEq(a.usage(0, 0), 1);
    }

    function test_EveryCorrectionMovesTheEpoch() public {
        vm.startPrank(oracle);
        a.correctUsage(0, 0, 1000, ROOT, "unchanged, reason on record");
        a.correctUsage(0, 0, 10, ROOT, "down");
        vm.stopPrank();
        assertEq(a.usageEpoch(), 2);
        // A report built on either earlier epoch no longer counts.
        for (uint16 e; e < 2; ++e) {
            vm.prank(oracle);
            vm.expectRevert(abi.encodeWithSelector(IBillingAgreement.BillingAgreement_StaleReport.selector, e, 2));
            a.reportUsage(0, bytes32(0), ROOT, e, _usage(0, 1000));
        }
        assertEq(a.usage(0, 0), 10);
    }

    function test_RevertWhen_EpochExhausted() public {
        // Usage epoch: bits 144-159 of the core word (slot 0).
        uint256 core = uint256(vm.load(address(a), bytes32(0)));
        vm.store(address(a), bytes32(0), bytes32(core | (uint256(type(uint16).max) << 144)));
        assertEq(a.usageEpoch(), type(uint16).max);
        vm.prank(oracle);
        vm.expectRevert(
            abi.encodeWithSelector(IBillingAgreement.BillingAgreement_TooManyCorrections.selector, type(uint16).max)
        );
        a.correctUsage(0, 0, 1, ROOT, "fix");
    }

    function test_RevertWhen_CallerNotOracle() public {
        vm.prank(payee);
        vm.expectRevert(abi.encodeWithSelector(IBillingAgreement.BillingAgreement_NotOracle.selector, payee));
        a.correctUsage(0, 0, 1, ROOT, "fix");
    }

    function test_RevertWhen_Proposed() public {
        BillingAgreement b = _create(_fiatTerms(), bytes32(uint256(1)));
        vm.prank(oracle);
        vm.expectRevert(
            abi.encodeWithSelector(IBillingAgreement.BillingAgreement_InvalidState.selector, AgreementState.Proposed)
        );
        b.correctUsage(0, 0, 1, ROOT, "fix");
    }

    function test_RevertWhen_PeriodSettled() public {
        _warpToSettle(a, 0);
        a.settle(0);
        vm.prank(oracle);
        vm.expectRevert(abi.encodeWithSelector(IBillingAgreement.BillingAgreement_PeriodSettled.selector, uint32(0)));
        a.correctUsage(0, 0, 1, ROOT, "too late");
    }

    function test_RevertWhen_PeriodNotStarted() public {
        (uint40 startsAt,) = a.periodBounds(2);
        vm.prank(oracle);
        vm.expectRevert(
            abi.encodeWithSelector(IBillingAgreement.BillingAgreement_PeriodNotStarted.selector, uint32(2), startsAt)
        );
        a.correctUsage(2, 0, 1, ROOT, "future");
    }

    function test_RevertWhen_PeriodAfterEnd() public {
        vm.prank(payer);
        a.giveNotice();
        vm.warp(START + 70 days);
        vm.prank(oracle);
        vm.expectRevert(
            abi.encodeWithSelector(IBillingAgreement.BillingAgreement_PeriodAfterEnd.selector, uint32(2), uint32(2))
        );
        a.correctUsage(2, 0, 1, ROOT, "after end");
    }

    function test_RevertWhen_MeterUnknown() public {
        vm.prank(oracle);
        vm.expectRevert(abi.encodeWithSelector(IBillingAgreement.BillingAgreement_UnknownMeter.selector, uint8(1), 1));
        a.correctUsage(0, 1, 1, ROOT, "fix");
    }
}
