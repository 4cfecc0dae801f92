// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {Vm} from "forge-std/Vm.sol";

import {BaseTest} from "../../utils/BaseTest.sol";
import {BillingAgreement} from "../../../../contracts/BillingAgreement.sol";
import {IBillingAgreement} from "../../../../contracts/interfaces/IBillingAgreement.sol";
import {AgreementState, Meter, MeterUsage, Terms} from "../../../../contracts/types/BillingTypes.sol";

contract ReportUsageTest is BaseTest {
    BillingAgreement internal a;
    bytes32 internal constant ID = keccak256("report-1");
    bytes32 internal constant ROOT = keccak256("records");

    function setUp() public override {
        super.setUp();
        a = _createActive(_fiatTerms3());
        vm.warp(START + 1 days);
    }

    function _three(uint64 x, uint64 y, uint64 z) internal pure returns (MeterUsage[] memory u) {
        u = new MeterUsage[](3);
        u[0] = MeterUsage(0, x);
        u[1] = MeterUsage(1, y);
        u[2] = MeterUsage(2, z);
    }

    function test_RecordsCumulativeUsage() public {
        vm.expectEmit(address(a));
        emit IBillingAgreement.UsageReported(0, 1, 0, 500, ROOT, ID);
        vm.prank(oracle);
        a.reportUsage(0, ID, ROOT, 0, _usage(1, 500));
        assertEq(a.usage(0, 1), 500);
        assertEq(a.usage(0, 0), 0);
    }

    function test_ThreeMetersInOneReport() public {
        vm.prank(oracle);
        a.reportUsage(0, ID, ROOT, 0, _three(1, 2, 3));
        uint64[] memory u = a.usageOf(0);
        assertEq(u.length, 3);
        assertEq(u[0], 1);
        assertEq(u[1], 2);
        assertEq(u[2], 3);
    }

    function test_OnlyIncreasesCount() public {
        vm.prank(oracle);
        a.reportUsage(0, ID, ROOT, 0, _three(10, 20, 30));
        // A replay and a stale report change nothing and emit nothing; only the increase of meter 2 counts.
        vm.recordLogs();
        vm.prank(oracle);
        a.reportUsage(0, ID, ROOT, 0, _three(10, 19, 31));
        Vm.Log[] memory logs = vm.getRecordedLogs();
        assertEq(logs.length, 1);
        assertEq(a.usage(0, 0), 10);
        assertEq(a.usage(0, 1), 20);
        assertEq(a.usage(0, 2), 31);
    }

    function test_MetersAcrossTwoSlots() public {
        Terms memory t = _baseTerms();
        t.meters = new Meter[](8);
        for (uint256 i; i < 8; ++i) {
            t.meters[i] = _perUnitMeter(1);
        }
        BillingAgreement b = _createActive(t);
        MeterUsage[] memory u = new MeterUsage[](3);
        u[0] = MeterUsage(3, 33);
        u[1] = MeterUsage(4, 44);
        u[2] = MeterUsage(7, 77);
        vm.prank(oracle);
        b.reportUsage(0, ID, ROOT, 0, u);
        uint64[] memory all = b.usageOf(0);
        assertEq(all.length, 8);
        assertEq(all[3], 33);
        assertEq(all[4], 44);
        assertEq(all[7], 77);
        assertEq(all[5], 0);
    }

    function test_LateUsageAfterPeriodEndUntilSettled() public {
        vm.warp(START + 31 days + 1 hours); // period 1 runs, period 0 in its grace window
        vm.prank(oracle);
        a.reportUsage(0, ID, ROOT, 0, _usage(0, 7));
        vm.warp(START + 40 days); // grace over, not settled yet
        vm.prank(oracle);
        a.reportUsage(0, ID, ROOT, 0, _usage(0, 8));
        assertEq(a.usage(0, 0), 8);
    }

    function test_NewMeterOnlyFromAmendedPeriod() public {
        Terms memory t = _fiatTerms3();
        Meter[] memory four = new Meter[](4);
        for (uint256 i; i < 3; ++i) {
            four[i] = t.meters[i];
        }
        four[3] = _flatMeter(1);
        t.meters = four;
        _amend(a, t); // effective from period 1
        vm.prank(oracle);
        vm.expectRevert(abi.encodeWithSelector(IBillingAgreement.BillingAgreement_UnknownMeter.selector, uint8(3), 3));
        a.reportUsage(0, ID, ROOT, 0, _usage(3, 1));
        vm.warp(START + 32 days);
        vm.prank(oracle);
        a.reportUsage(1, ID, ROOT, 0, _usage(3, 1));
        assertEq(a.usage(1, 3), 1);
    }

    function test_RevertWhen_CallerNotOracle() public {
        vm.prank(stranger);
        vm.expectRevert(abi.encodeWithSelector(IBillingAgreement.BillingAgreement_NotOracle.selector, stranger));
        a.reportUsage(0, ID, ROOT, 0, _usage(0, 1));
    }

    function test_RevertWhen_ReportEmpty() public {
        vm.prank(oracle);
        vm.expectRevert(IBillingAgreement.BillingAgreement_EmptyReport.selector);
        a.reportUsage(0, ID, ROOT, 0, new MeterUsage[](0));
    }

    function test_RevertWhen_Proposed() public {
        BillingAgreement b = _create(_fiatTerms(), bytes32(uint256(1)));
        vm.prank(oracle);
        vm.expectRevert(
            abi.encodeWithSelector(IBillingAgreement.BillingAgreement_InvalidState.selector, AgreementState.Proposed)
        );
        b.reportUsage(0, ID, ROOT, 0, _usage(0, 1));
    }

    function test_RevertWhen_Cancelled() public {
        BillingAgreement b = _create(_fiatTerms(), bytes32(uint256(1)));
        vm.prank(payer);
        b.cancel();
        vm.prank(oracle);
        vm.expectRevert(
            abi.encodeWithSelector(IBillingAgreement.BillingAgreement_InvalidState.selector, AgreementState.Terminated)
        );
        b.reportUsage(0, ID, ROOT, 0, _usage(0, 1));
    }

    function test_RevertWhen_Paused() public {
        vm.prank(payee);
        a.pause();
        vm.prank(oracle);
        vm.expectRevert(
            abi.encodeWithSelector(IBillingAgreement.BillingAgreement_InvalidState.selector, AgreementState.Paused)
        );
        a.reportUsage(0, ID, ROOT, 0, _usage(0, 1));
    }

    function test_RevertWhen_PeriodNotStarted() public {
        (uint40 startsAt,) = a.periodBounds(1);
        vm.prank(oracle);
        vm.expectRevert(
            abi.encodeWithSelector(IBillingAgreement.BillingAgreement_PeriodNotStarted.selector, uint32(1), startsAt)
        );
        a.reportUsage(1, ID, ROOT, 0, _usage(0, 1));
    }

    function test_RevertWhen_FirstPeriodNotStarted() public {
        vm.warp(START - 1);
        vm.prank(oracle);
        vm.expectRevert(
            abi.encodeWithSelector(IBillingAgreement.BillingAgreement_PeriodNotStarted.selector, uint32(0), START)
        );
        a.reportUsage(0, ID, ROOT, 0, _usage(0, 1));
    }

    function test_RevertWhen_PeriodSettled() public {
        _warpToSettle(a, 0);
        a.settle(0);
        vm.prank(oracle);
        vm.expectRevert(abi.encodeWithSelector(IBillingAgreement.BillingAgreement_PeriodSettled.selector, uint32(0)));
        a.reportUsage(0, ID, ROOT, 0, _usage(0, 1));
    }

    function test_RevertWhen_PeriodAfterEnd() public {
        vm.prank(payer);
        a.giveNotice(); // end period 2
        vm.warp(START + 60 days);
        vm.prank(oracle);
        vm.expectRevert(
            abi.encodeWithSelector(IBillingAgreement.BillingAgreement_PeriodAfterEnd.selector, uint32(2), uint32(2))
        );
        a.reportUsage(2, ID, ROOT, 0, _usage(0, 1));
    }

    function test_EndedAgreementStillTakesUsageForItsLastPeriod() public {
        vm.prank(payer);
        a.giveNotice(); // end period 2
        vm.warp(START + 59 days + 1 hours); // after the end, period 1 in its grace window
        assertEq(uint8(a.state()), uint8(AgreementState.Terminated));
        vm.prank(oracle);
        a.reportUsage(1, ID, ROOT, 0, _usage(0, 5));
        assertEq(a.usage(1, 0), 5);
    }

    function test_RevertWhen_MetersRepeat() public {
        MeterUsage[] memory u = new MeterUsage[](2);
        u[0] = MeterUsage(1, 5);
        u[1] = MeterUsage(1, 6);
        vm.prank(oracle);
        vm.expectRevert(
            abi.encodeWithSelector(IBillingAgreement.BillingAgreement_MetersNotAscending.selector, uint8(1))
        );
        a.reportUsage(0, ID, ROOT, 0, u);
    }

    function test_RevertWhen_MetersDescend() public {
        MeterUsage[] memory u = new MeterUsage[](2);
        u[0] = MeterUsage(2, 5);
        u[1] = MeterUsage(0, 6);
        vm.prank(oracle);
        vm.expectRevert(
            abi.encodeWithSelector(IBillingAgreement.BillingAgreement_MetersNotAscending.selector, uint8(0))
        );
        a.reportUsage(0, ID, ROOT, 0, u);
    }

    function test_RevertWhen_EntryMalformed() public {
        // A meter number above uint8 in hand-made call data reverts without data, as Solidity's decoder would.
        bytes memory data = abi.encodeCall(a.reportUsage, (0, ID, ROOT, uint16(0), _usage(1, 5)));
        assembly {
            // The entry's meter word is the second-to-last word.
            mstore(add(add(data, 0x20), sub(mload(data), 0x40)), 0x101)
        }
        vm.prank(oracle);
        (bool ok, bytes memory ret) = address(a).call(data);
        assertFalse(ok);
        assertEq(ret.length, 0);
        assertEq(a.usage(0, 1), 0);
    }

    function test_EventTopicMatchesDeclaration() public {
        vm.recordLogs();
        vm.prank(oracle);
        a.reportUsage(0, ID, ROOT, 0, _usage(2, 9));
        Vm.Log[] memory logs = vm.getRecordedLogs();
        assertEq(logs.length, 1);
        assertEq(logs[0].topics[0], IBillingAgreement.UsageReported.selector);
        assertEq(logs[0].topics[1], bytes32(uint256(0)));
        assertEq(logs[0].topics[2], bytes32(uint256(2)));
        assertEq(logs[0].topics[3], ID);
        assertEq(logs[0].data, abi.encode(uint64(0), uint64(9), ROOT));
    }

    function test_ReportOnCurrentEpochAfterCorrection() public {
        vm.prank(oracle);
        a.reportUsage(0, ID, ROOT, 0, _usage(0, 100));
        vm.prank(oracle);
        a.correctUsage(0, 0, 60, ROOT, "duplicates");
        assertEq(a.usageEpoch(), 1);
        // Built on the corrected figure (epoch 1): counts from 60.
        vm.prank(oracle);
        a.reportUsage(0, ID, ROOT, 1, _usage(0, 70));
        assertEq(a.usage(0, 0), 70);
    }

    function test_RevertWhen_EpochStale() public {
        vm.prank(oracle);
        a.correctUsage(0, 1, 5, ROOT, "late file");
        // A report built before the correction (epoch 0) is refused, on any meter and period.
        vm.prank(oracle);
        vm.expectRevert(
            abi.encodeWithSelector(IBillingAgreement.BillingAgreement_StaleReport.selector, uint16(0), uint16(1))
        );
        a.reportUsage(0, ID, ROOT, 0, _usage(0, 100));
        assertEq(a.usage(0, 0), 0);
    }

    function test_RevertWhen_EpochAhead() public {
        vm.prank(oracle);
        vm.expectRevert(
            abi.encodeWithSelector(IBillingAgreement.BillingAgreement_StaleReport.selector, uint16(1), uint16(0))
        );
        a.reportUsage(0, ID, ROOT, 1, _usage(0, 100));
    }

    function test_RevertWhen_MeterUnknown() public {
        vm.prank(oracle);
        vm.expectRevert(abi.encodeWithSelector(IBillingAgreement.BillingAgreement_UnknownMeter.selector, uint8(3), 3));
        a.reportUsage(0, ID, ROOT, 0, _usage(3, 1));
    }
}
